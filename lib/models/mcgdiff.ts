// MCGdiff (Cardoso et al. 2023) in the corrected form of docs/MATH.md §9.2. Rotated coordinate
// i (basis of A's right singular vectors) carries the Gaussian twist
//     g_{t,i}(u) = N(u; α_{t|τ_i} ỹ_i, w_{t,i}),  w_{t,i} = σ²_{t|τ_i} + κ α²_{t|τ_i},  ỹ_i = α_{τ_i} ȳ_i / s_i,
// at every t ≥ τ_i, which makes the locally optimal proposal Gaussian. The weights keep what the
// public code drops or divides out: the initial weight, the pinning factor N(x̄_{τ_i,i}; ỹ_i, κ)
// after release (the step's denominator runs over O_s, never O_t) and every Gaussian constant.
// The target is p_θ(x_{0:T}) Π_i N(x̄_{τ_i,i}; ỹ_i, κ), times the optional bounded final weight w₀.
// The per-particle arithmetic (rotations, weights, the pinned update) is TypeScript, as the
// SVD bootstrap filter's is; the kernel mean, its noise and resampling are the native ops.
import type { FeynmanKacModel, DriverRun, Step } from '../driver';
import type { F32Array, I32Array } from '../backend';
import type { LinearObservation } from '../observation';
import type { KernelName } from '../schedules';
import { backwardKernel } from './backward-kernel';
import { rotation } from './rotation';

export interface McgdiffSpec {
  kernel: KernelName;
  finalNoise: boolean;
  observation: LinearObservation;
  /** Grid index of τ_i per rotated coordinate (the first node with λ ≥ σ_y²/s_i²; S + 1: never twisted). */
  levels: Int32Array;
  /** κ > 0: the variance of the pinning factor. */
  kappa: number;
  /** Apply w₀ at s = 0 (σ_y > 0 only). */
  finalWeight: boolean;
}

const logNormal = (x: number, m: number, v: number) => -0.5 * (Math.log(2 * Math.PI * v) + ((x - m) * (x - m)) / v);

export function mcgdiffModel(spec: McgdiffSpec): FeynmanKacModel {
  const obs = spec.observation;
  const svd = obs.svd!;
  const r = svd.rank, D = obs.dim, kappa = spec.kappa;
  if (spec.finalWeight && !(obs.noiseStd > 0)) throw new RangeError('the final weight w₀ of mcgdiff needs noiseStd > 0 (docs/MATH.md §9.2)');
  return {
    name: 'mcgdiff',
    weighted: true,
    async start(run: DriverRun) {
      if (!(run.z instanceof Float32Array)) throw new RangeError("mcgdiff runs on the 'cpu' backend only");
      const { ops, batch, threads, rows, particles: N, schedule, grid } = run;
      const S = run.steps;
      const all = Int32Array.from({ length: D }, (_, k) => k);
      const none = new Int32Array(0);
      const noValues = new Float32Array(0);
      const kernel = await backwardKernel(run, { kernel: spec.kernel, latent: all, observed: none, context: { kind: 'fixed', values: noValues }, finalNoise: spec.finalNoise });
      for (let i = 0; i < kernel.coefficients.length; i++) {
        if (!(kernel.coefficients[i].weightVariance > 0)) {
          throw new RangeError(`the kernel variance must be positive to weight particles, got ${kernel.coefficients[i].weightVariance} at step ${kernel.coefficients.length - i}`);
        }
      }
      const z = run.z as Float32Array;
      const rot = rotation(svd, D);
      // ỹ_i at τ_i, and the twist's mean and variance at grid index k ≥ k_i.
      const yTilde = Float64Array.from({ length: r }, (_, i) => (spec.levels[i] <= S ? Math.exp(schedule.logAlpha(grid[spec.levels[i]])) * svd.ybar[i] / svd.s[i] : NaN));
      const twist = (k: number, i: number) => {
        const tr = schedule.transition(grid[spec.levels[i]], grid[k]);
        return { m: tr.alpha * yTilde[i], w: tr.sigma2 + kappa * tr.alpha * tr.alpha };
      };
      // O_k: the coordinates twisted at grid index k.
      const twisted = (k: number) => Int32Array.from({ length: r }, (_, i) => i).filter((i) => spec.levels[i] <= k);
      const xBar = new Float64Array(r), zeta = new Float64Array(r), delta = new Float64Array(r);
      // V_O^T μ of every row at this step, read by the move through the ancestors.
      const muBar = new Float64Array(rows * r);
      const normals = run.f32(rows * D) as Float32Array;

      // x_T ~ N(0, I), then x̄_{T,i} ~ N(m/(1+w), w/(1+w)) on O_T: the prior times g_T, normalised;
      // its constant Π_i N(m; 0, 1 + w) enters the first step's weight (docs/MATH.md §9.2).
      const OT = twisted(S);
      let initialLogWeight = 0;
      const initial = async () => {
        await ops.initState(batch, all, none, noValues, run.stream(S, 'initial'), z, threads);
        if (OT.length === 0) return;
        const tw = Array.from(OT, (i) => twist(S, i));
        tw.forEach(({ m, w }) => (initialLogWeight += logNormal(m, 0, 1 + w)));
        for (let row = 0; row < rows; row++) {
          const zr = z.subarray(row * D, (row + 1) * D);
          rot.project(zr, OT, xBar);
          // V_O^T x_T is N(0, I) and independent of the rest: it is the ζ of the new coordinates.
          OT.forEach((i, j) => {
            const { m, w } = tw[j];
            delta[i] = m / (1 + w) + Math.sqrt(w / (1 + w)) * xBar[i] - xBar[i];
          });
          rot.liftAdd(zr, OT, delta);
        }
      };

      let mu: F32Array | undefined;
      // log w = Σ_{i∈O_s} [log N(α_{s|τ_i} ỹ_i; μ̄_i, v + w_{s,i}) − log g_{t,i}(x̄_{t,i})]. The
      // denominator runs over O_s, not O_t: a coordinate released here (s < τ_i = t) keeps its
      // pinning factor g_{τ_i,i} = N(x̄_{τ_i,i}; ỹ_i, κ); dividing it out gives weights of infinite
      // variance whenever κ < v (docs/MATH.md §9.2).
      const weigh = async (step: Step) => {
        mu = await kernel.mean(step);
        const k = step.index;
        const Os = twisted(k - 1);
        const denominator = Os;
        const inc = run.increment as Float64Array;
        const first = k === S ? initialLogWeight : 0;
        if (Os.length === 0 && denominator.length === 0) {
          inc.fill(first);
          return;
        }
        const v = kernel.coefficients[k - 1].weightVariance;
        const atS = Array.from(Os, (i) => twist(k - 1, i)), atT = Array.from(denominator, (i) => twist(k, i));
        const m = mu as Float32Array;
        for (let row = 0; row < rows; row++) {
          rot.project(m.subarray(row * D, (row + 1) * D), Os, zeta);
          rot.project(z.subarray(row * D, (row + 1) * D), denominator, xBar);
          let lw = first;
          Os.forEach((i, j) => {
            muBar[row * r + i] = zeta[i];
            lw += logNormal(atS[j].m, zeta[i], v + atS[j].w);
          });
          denominator.forEach((i, j) => (lw -= logNormal(xBar[i], atT[j].m, atT[j].w)));
          inc[row] = lw;
        }
      };

      // x' = μ^{(a)} + noise; on O_s the optimal proposal x̄_{s,i} = K m + (1 − K) μ̄_i + √(K w) ζ_i,
      // K = v/(v + w), with ζ = V_O^T ξ of a fresh N(0, I) draw (purpose kernelNoise, index 1).
      const move = async (step: Step, ancestors: I32Array | null) => {
        const m = mu ?? (await kernel.mean(step));
        mu = undefined;
        const k = step.index;
        await ops.propagate(batch, all, none, m, ancestors, kernel.noiseScale(step), noValues, run.stream(k, 'kernelNoise'), z, threads);
        const Os = twisted(k - 1);
        if (Os.length === 0) return;
        await ops.initState(batch, all, none, noValues, run.stream(k, 'kernelNoise', 1), normals, threads);
        const v = kernel.coefficients[k - 1].weightVariance;
        const atS = Array.from(Os, (i) => twist(k - 1, i));
        const anc = ancestors as Int32Array | null;
        for (let row = 0; row < rows; row++) {
          const a = anc ? Math.floor(row / N) * N + anc[row] : row;
          const zr = z.subarray(row * D, (row + 1) * D);
          rot.project(zr, Os, xBar);
          rot.project(normals.subarray(row * D, (row + 1) * D), Os, zeta);
          Os.forEach((i, j) => {
            const { m: ms, w } = atS[j];
            const K = v / (v + w), mb = muBar[a * r + i];
            delta[i] = mb + K * (ms - mb) + Math.sqrt(K * w) * zeta[i] - xBar[i];
          });
          rot.liftAdd(zr, Os, delta);
        }
      };

      // log w₀ = Σ_i [log N(ȳ_i; s_i x̄_{0,i}, σ_y²) − log N(ỹ_i; α_{τ_i} x̄_{0,i}, σ²_{τ_i} + κ)] (docs/MATH.md §9.2).
      const finalWeight = async () => {
        const s2 = obs.noiseStd * obs.noiseStd;
        const coords = Int32Array.from({ length: r }, (_, i) => i);
        const at = Array.from(coords, (i) => (spec.levels[i] <= S ? { alpha: Math.exp(schedule.logAlpha(grid[spec.levels[i]])), sigma2: schedule.sigma2(grid[spec.levels[i]]) } : null));
        const inc = run.increment as Float64Array;
        for (let row = 0; row < rows; row++) {
          rot.project(z.subarray(row * D, (row + 1) * D), coords, xBar);
          let lw = 0;
          for (let i = 0; i < r; i++) {
            lw += logNormal(svd.ybar[i], svd.s[i] * xBar[i], s2);
            const l = at[i];
            if (l) lw -= logNormal(yTilde[i], l.alpha * xBar[i], l.sigma2 + kappa);
          }
          inc[row] = lw;
        }
      };
      return { initial, weigh, move, finalWeight: spec.finalWeight ? finalWeight : undefined };
    },
  };
}

/**
 * log p̂(y) − log Ẑ (docs/MATH.md §9.2): with w₀ none; without it Σ_i log(α_{τ_i}/s_i); with
 * σ_y = 0, −Σ_i log s_i; and with σ_y > 0 the y_⊥ term of §8.
 */
export function mcgdiffEvidenceCorrection(observation: LinearObservation, levelTimes: { logAlpha: number[] }, finalWeight: boolean): number {
  const svd = observation.svd!, r = svd.rank, sy = observation.noiseStd;
  let c = 0;
  if (sy === 0) {
    for (let i = 0; i < r; i++) c -= Math.log(svd.s[i]);
    return c;
  }
  if (!finalWeight) for (let i = 0; i < r; i++) c += levelTimes.logAlpha[i] - Math.log(svd.s[i]);
  return c - svd.yPerpNorm2 / (2 * sy * sy) - ((observation.rows - r) / 2) * Math.log(2 * Math.PI * sy * sy);
}
