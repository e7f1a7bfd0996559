// The conditional SMC sweep of particle Gibbs (docs/MATH.md §11) and, without a reference,
// the bootstrap filter it starts from and PMMH runs (Algorithm 3, docs/MATH.md §3).
//
// One run of the driver per sweep; its runs are the chains, each with its own Y path. The
// model differs from lib/models/bootstrap.ts in four ways, all from §11:
//   - the last step carries noise of the nominal variance v_nom on X (the weight's variance),
//     so the path has a density under the discretised model p_θ(Z_{0:S});
//   - a reference X path sits in slot b = 0 of every chain: x_T^b = u*_T, x_s^b = u*_s after
//     every move, a^b = b, and the other N − 1 ancestors are iid draws from the weights
//     (conditional multinomial resampling at every step);
//   - every step's particles, kernel means, increments and pre-increment weights are kept,
//     so that after the run one path per chain is chosen: the final index by its weight or
//     by the forced move, then ancestry tracing or backward sampling;
//   - every random stream carries the sweep in its purpose index (MATH.md §6), so a draw is a
//     function of (seed, chain, sweep, step, purpose, element).
// It runs on host memory only (the 'cpu' backend): the reference and the ancestors are
// written from the host.
import type { DriverRun, FeynmanKacModel, ModelRun, Step } from '../driver';
import type { F32Array, I32Array } from '../backend';
import { backwardKernel, BackwardKernel } from './backward-kernel';
import { ChainUniforms, drawIndex, cumulativeWeights, searchCumulative } from './chain-random';
import { KernelName } from '../schedules';
import { requireSizes } from '../sizes';

/** The reference slot of every chain (any fixed slot is valid with multinomial resampling, §11). */
export const REFERENCE_SLOT = 0;

export type FinalSelection = 'weight' | 'forced';
export type PathSampling = 'ancestry' | 'backward';

export interface ConditionalSmcSpec {
  kernel: KernelName;
  latent: Int32Array;
  observed: Int32Array;
  /** Each chain's Y path, (S + 1) × chains × d_Y by grid index (row 0: the observed values). */
  yPath: Float32Array;
  /** The reference X paths, (S + 1) × chains × d_X by grid index; null runs the plain filter. */
  reference: Float32Array | null;
  /** The sweep (0 … 65535), the index of every purpose this run draws with. */
  sweep: number;
  /** How the path is chosen after the run (`choosePaths`); defaults 'weight' and 'ancestry'. */
  selection?: FinalSelection;
  sampling?: PathSampling;
  /** Whether to keep the per-step history `choosePaths` needs (false: only the final particles matter, as for PMMH). */
  keepHistory?: boolean;
}

/** What a run leaves for `choosePaths`. */
export interface ChosenPaths {
  /** The chosen X paths, (S + 1) × chains × d_X by grid index. */
  path: Float32Array;
  /** The final index ℓ per chain. */
  finalIndex: Int32Array;
  /** log p_θ(Z_{0:S}) of each chosen path with its chain's Y path (docs/MATH.md §11), Gaussian constants kept. */
  logDensity: Float64Array;
}

export interface ConditionalSmc {
  model: FeynmanKacModel;
  /** After the driver's run: one path per chain (needs keepHistory). */
  choosePaths(finalLogWeights: Float64Array, ancestry: Int32Array | undefined): ChosenPaths;
  /** After the driver's run: one final particle index per chain, drawn by its final weight. */
  chooseFinal(finalLogWeights: Float64Array): Int32Array;
}

const LOG_2PI = Math.log(2 * Math.PI);

export function conditionalSmc(spec: ConditionalSmcSpec): ConditionalSmc {
  const selection = spec.selection ?? 'weight';
  const sampling = spec.sampling ?? 'ancestry';
  const keep = spec.keepHistory ?? true;
  const dX = spec.latent.length;
  // Filled by start(); read by the choosers after the run.
  let state: {
    run: DriverRun;
    kernel: BackwardKernel;
    /** z at grid index g: (S + 1) × rows × D. */
    zHist: Float32Array;
    /** Kernel mean at step i (index i − 1): S × rows × D. */
    muHist: Float32Array;
    /** log N(Y_s; μ_Y, v_i) at step i: S × rows. */
    incHist: Float64Array;
    /** Normalised log-weights before step i's increment: S × rows. */
    beforeHist: Float64Array;
  } | undefined;

  const model: FeynmanKacModel = {
    name: spec.reference ? 'conditional-smc' : 'smc',
    weighted: true,
    keepAncestry: keep && sampling === 'ancestry',
    async start(run): Promise<ModelRun> {
      if (run.backend.name !== 'cpu') throw new RangeError(`the conditional SMC sweep runs on the 'cpu' backend, got '${run.backend.name}'`);
      const { ops, batch, threads, runs: K, particles: N, dim: D, rows, steps: S } = run;
      const seed = run.stream(0, 'initial').seed;
      const kernel = await backwardKernel(run, {
        kernel: spec.kernel, latent: spec.latent, observed: spec.observed,
        context: { kind: 'path', path: spec.yPath }, finalNoise: true,
      });
      for (let i = 0; i < S; i++) {
        if (!(kernel.coefficients[i].weightVariance > 0)) {
          throw new RangeError(`the kernel variance must be positive to weight particles, got ${kernel.coefficients[i].weightVariance} at step ${S - i}`);
        }
      }
      requireSizes(`the sweep history (steps ${S}, particles ${N} x chains ${K} x dimension ${D})`, [
        { what: 'the particles of every step ((steps + 1) x particles x chains x dimension)', elements: keep ? (S + 1) * rows * D : 0, bytesPerElement: 4 },
        { what: 'the kernel means of every step (steps x particles x chains x dimension)', elements: keep ? S * rows * D : 0, bytesPerElement: 4 },
        { what: 'the weights of every step (steps x particles x chains)', elements: keep ? 2 * S * rows : 0, bytesPerElement: 8 },
      ]);
      const z = run.z as Float32Array;
      state = {
        run, kernel,
        zHist: new Float32Array(keep ? (S + 1) * rows * D : 0),
        muHist: new Float32Array(keep ? S * rows * D : 0),
        incHist: new Float64Array(keep ? S * rows : 0),
        beforeHist: new Float64Array(keep ? S * rows : 0),
      };
      const h = state;
      const ref = spec.reference;
      // x^b at grid index g ← u*_g, for every chain.
      const pinReference = (g: number) => {
        if (!ref) return;
        for (let r = 0; r < K; r++) {
          const row = (r * N + REFERENCE_SLOT) * D;
          const at = (g * K + r) * dX;
          for (let j = 0; j < dX; j++) z[row + spec.latent[j]] = ref[at + j];
        }
      };
      const record = (g: number) => {
        if (keep) h.zHist.set(z, g * rows * D);
      };
      let mu: F32Array | undefined;
      const cdf = new Float64Array(N);
      return {
        initial: async () => {
          await ops.initState(batch, spec.latent, spec.observed, await kernel.contextAt(S), run.stream(S, 'initial', spec.sweep), run.z, threads);
          pinReference(S);
          record(S);
        },
        weigh: async (step: Step) => {
          const i = step.index;
          if (keep) h.beforeHist.set(run.logWeights as Float64Array, (i - 1) * rows);
          mu = await kernel.mean(step);
          const c = kernel.coefficients[i - 1];
          await ops.gaussianYLogWeights(batch, spec.observed, mu, await kernel.contextAt(i - 1), c.weightVariance, run.increment, threads);
          if (keep) {
            h.muHist.set(mu as Float32Array, (i - 1) * rows * D);
            h.incHist.set(run.increment as Float64Array, (i - 1) * rows);
          }
        },
        // Conditional multinomial resampling (§11) of every chain: a^b = b, the others iid from W.
        resample: async (step: Step, flags: Uint8Array, ancestors: I32Array) => {
          const lw = run.logWeights as Float64Array, a = ancestors as Int32Array;
          for (let r = 0; r < K; r++) {
            const u = new ChainUniforms(seed, r, step.index, ops.purposes.resampling | spec.sweep);
            if (!(cumulativeWeights(lw, r * N, N, cdf) > 0)) throw new RangeError(`resampling found no positive weight ${step.where} in chain ${r}`);
            for (let n = 0; n < N; n++) a[r * N + n] = ref && n === REFERENCE_SLOT ? n : searchCumulative(cdf, N, u.at(n));
            flags[r] = 1;
          }
          lw.fill(-Math.log(N));
        },
        move: async (step: Step, ancestors: I32Array | null) => {
          const i = step.index;
          const m = mu ?? (await kernel.mean(step));
          // v_nom at the last step too (§11): the weight's variance, which is v elsewhere.
          const scale = Math.sqrt(kernel.coefficients[i - 1].weightVariance);
          await ops.propagate(batch, spec.latent, spec.observed, m, ancestors, scale, await kernel.contextAt(i - 1), run.stream(i, 'kernelNoise', spec.sweep), run.z, threads);
          mu = undefined;
          pinReference(i - 1);
          record(i - 1);
        },
      };
    },
  };

  const chooseFinal = (finalLogWeights: Float64Array): Int32Array => {
    const { run } = state!;
    const { runs: K, particles: N } = run;
    const seed = run.stream(0, 'initial').seed;
    const out = new Int32Array(K);
    const cdf = new Float64Array(N);
    for (let r = 0; r < K; r++) {
      const u = new ChainUniforms(seed, r, 0, run.ops.purposes.outputChoice | spec.sweep);
      if (selection === 'forced' && spec.reference) {
        // From the reference's index b, propose i ≠ b with probability W_i / (1 − W_b) and
        // accept with min(1, (1 − W_b) / (1 − W_i)): reversible with respect to W (§11).
        const b = REFERENCE_SLOT;
        const wb = Math.exp(finalLogWeights[r * N + b]);
        const i = drawIndex(finalLogWeights, r * N, N, u.at(0), b, cdf);
        if (i < 0) {
          out[r] = b;
          continue;
        }
        const wi = Math.exp(finalLogWeights[r * N + i]);
        out[r] = u.at(1) < Math.min(1, (1 - wb) / (1 - wi)) ? i : b;
      } else {
        const k = drawIndex(finalLogWeights, r * N, N, u.at(0), -1, cdf);
        if (k < 0) throw new RangeError(`chain ${r} ended with no positive weight`);
        out[r] = k;
      }
    }
    return out;
  };

  const choosePaths = (finalLogWeights: Float64Array, ancestry: Int32Array | undefined): ChosenPaths => {
    if (!state || !keep) throw new Error('choosePaths needs a finished run that kept its history');
    const { run, kernel, zHist, muHist, incHist, beforeHist } = state;
    const { runs: K, particles: N, dim: D, rows, steps: S } = run;
    const seed = run.stream(0, 'initial').seed;
    const lat = spec.latent;
    const finalIndex = chooseFinal(finalLogWeights);
    const path = new Float32Array((S + 1) * K * dX);
    const logDensity = new Float64Array(K);
    const j = new Int32Array(S + 1);
    const logB = new Float64Array(N), cdf = new Float64Array(N);
    for (let r = 0; r < K; r++) {
      j[0] = finalIndex[r];
      for (let i = 1; i <= S; i++) {
        if (sampling === 'ancestry') {
          j[i] = ancestry![(S - i) * rows + r * N + j[i - 1]];
          continue;
        }
        // Backward sampling (§11): candidate k at t_i weighted by W_before^k · N([x*_s, Y_s]; μ(x_t^k, Y_t), v_i):
        // the Y block's density is step i's increment, the X block's is computed here.
        const v = kernel.coefficients[i - 1].weightVariance;
        const xs = ((i - 1) * rows + r * N + j[i - 1]) * D;
        for (let k = 0; k < N; k++) {
          const m = ((i - 1) * rows + r * N + k) * D;
          let q = 0;
          for (const c of lat) {
            const d = zHist[xs + c] - muHist[m + c];
            q += d * d;
          }
          logB[k] = beforeHist[(i - 1) * rows + r * N + k] + incHist[(i - 1) * rows + r * N + k] - q / (2 * v);
        }
        const pick = new ChainUniforms(seed, r, i, run.ops.purposes.outputChoice | spec.sweep);
        const k = drawIndex(logB, 0, N, pick.at(0), -1, cdf);
        if (k < 0) throw new RangeError(`backward sampling found no positive weight at step ${S - i + 1} of ${S} in chain ${r}`);
        j[i] = k;
      }
      for (let g = 0; g <= S; g++) {
        const at = (g * rows + r * N + j[g]) * D;
        for (let c = 0; c < dX; c++) path[(g * K + r) * dX + c] = zHist[at + lat[c]];
      }
      // log p_θ(Z_{0:S}) = log N(Z_T; 0, I) + Σ_i log N(Z_{t_{i−1}}; μ(Z_{t_i}), v_i I) along the chosen path.
      let lp = 0;
      const top = (S * rows + r * N + j[S]) * D;
      for (let c = 0; c < D; c++) lp -= 0.5 * (zHist[top + c] * zHist[top + c] + LOG_2PI);
      for (let i = 1; i <= S; i++) {
        const v = kernel.coefficients[i - 1].weightVariance;
        const xs = ((i - 1) * rows + r * N + j[i - 1]) * D;
        const m = ((i - 1) * rows + r * N + j[i]) * D;
        let q = 0;
        for (const c of lat) {
          const d = zHist[xs + c] - muHist[m + c];
          q += d * d;
        }
        lp += incHist[(i - 1) * rows + r * N + j[i]] - q / (2 * v) - 0.5 * dX * Math.log(2 * Math.PI * v);
      }
      logDensity[r] = lp;
    }
    return { path, finalIndex, logDensity };
  };

  return { model, choosePaths, chooseFinal };
}
