// The SVD bootstrap filter (docs/MATH.md §9.1) for y = A x_0 + σ_y ε: the bootstrap filter
// of Algorithm 3 in the basis of A's right singular vectors, where rotated coordinate i is
// pinned to a noised path Ỹ_{·,i} at grid times t ≥ t*_i and free below. Each step weighs
// the kernel mean's rotated coordinates pinned at s against the path, log N(Ỹ_{s,i}; (V_r^T μ)_i, v),
// resamples, moves every coordinate with the kernel and pins x ← x' + V_O (Ỹ_{s,O} − V_O^T x')
// (a mask assigns instead: x' + (c − x') is not c in floating point). With σ_y > 0 a final
// weight w₀ turns the pinned-path target into p(x_0) p(ȳ | x_0). Unweighted, the same moves
// are replacement sampling for any observation.
import type { FeynmanKacModel, DriverRun, Step } from '../driver';
import type { F32Array, I32Array } from '../backend';
import type { LinearObservation } from '../observation';
import type { KernelName } from '../schedules';
import { backwardKernel } from './backward-kernel';
import type { Corrector } from './correctors';
import { native } from '../native';

/** The pinned path of every run and where each rotated coordinate's pin starts. */
export interface PinnedPath {
  /** (S + 1) x runs x r float32, by grid index; entries below a coordinate's start are unused. */
  values: Float32Array;
  /** Grid index k*_i of t*_i per rotated coordinate, S + 1 when never pinned. */
  start: Int32Array;
}

export interface SvdFilterSpec {
  kernel: KernelName;
  finalNoise: boolean;
  observation: LinearObservation;
  path: PinnedPath;
  /** false: replacement (no weights, one particle per run). */
  weighted: boolean;
  name: string;
  /**
   * Replacement's corrector (docs/MATH.md §3) on the coordinates free at the level: Langevin
   * moves x by δ ∇ + √(2δ) ξ and re-pins, which is Langevin on the free subspace (the pinned
   * part of the move is undone); RePaint re-noises to t, pins to the path at t, and steps back.
   * The SNR rule's norms are over the free coordinates: masks only.
   */
  corrector?: Corrector;
}

const LOG_2PI = Math.log(2 * Math.PI);

export function svdFilterModel(spec: SvdFilterSpec): FeynmanKacModel {
  const obs = spec.observation;
  if (spec.corrector && spec.weighted) throw new TypeError('the SVD bootstrap filter takes no corrector: it weights the bare backward kernel');
  if (spec.corrector?.kind === 'langevin' && spec.corrector.rule === 'snr' && obs.kind !== 'mask') {
    throw new TypeError("corrector.snr needs the free coordinates' norms, which a matrix or operator observation does not have: use corrector.gamma");
  }
  const svd = obs.svd!;
  const r = svd.rank;
  const D = obs.dim;
  const mask = obs.kind === 'mask' ? obs.mask!.indices : undefined;
  // Rotated coordinates in pinning order: O_k (pinned at grid index k) is a prefix of it.
  const order = Int32Array.from({ length: r }, (_, i) => i).sort((a, b) => spec.path.start[a] - spec.path.start[b] || a - b);
  const pinnedCount = (k: number) => {
    let n = 0;
    while (n < r && spec.path.start[order[n]] <= k) n++;
    return n;
  };
  return {
    name: spec.name,
    weighted: spec.weighted,
    async start(run: DriverRun) {
      if (!(run.z instanceof Float32Array)) throw new RangeError(`${spec.name} with a noisy or dense observation runs on the 'cpu' backend only`);
      const { ops, batch, threads, runs, rows } = run;
      const S = run.steps;
      const all = Int32Array.from({ length: D }, (_, k) => k);
      const none = new Int32Array(0);
      const noValues = new Float32Array(0);
      const kernel = await backwardKernel(run, { kernel: spec.kernel, latent: all, observed: none, context: { kind: 'fixed', values: noValues }, finalNoise: spec.finalNoise });
      if (spec.weighted) {
        for (let i = 0; i < kernel.coefficients.length; i++) {
          if (!(kernel.coefficients[i].weightVariance > 0)) {
            throw new RangeError(`the kernel variance must be positive to weight particles, got ${kernel.coefficients[i].weightVariance} at step ${kernel.coefficients.length - i}`);
          }
        }
      }
      const z = run.z as Float32Array;
      const path = spec.path.values;
      const pathAt = (k: number, runIndex: number, i: number) => path[(k * runs + runIndex) * r + i];

      // A mask's coordinate sets at grid index k: observed = pinned mask indices, latent = the rest.
      const maskSets = new Map<number, { observed: Int32Array; latent: Int32Array }>();
      const maskSet = (n: number) => {
        let m = maskSets.get(n);
        if (!m) {
          const observed = Int32Array.from(order.subarray(0, n), (i) => mask![i]);
          const seen = new Uint8Array(D);
          observed.forEach((k) => (seen[k] = 1));
          m = { observed, latent: all.filter((k) => !seen[k]) };
          maskSets.set(n, m);
        }
        return m;
      };
      // Ỹ at grid index k of the n pinned coordinates, runs x n (the order of maskSet's observed).
      const pinnedValues = (k: number, n: number) => {
        const out = new Float32Array(runs * n);
        for (let q = 0; q < runs; q++) for (let j = 0; j < n; j++) out[q * n + j] = pathAt(k, q, order[j]);
        return out;
      };
      // A dense V_rᵀ: its rotations run natively (native/core/subspace.h), with the pinned
      // directions in pinning order.
      const vt = svd.vt;
      const pinnedIndex = (n: number) => order.subarray(0, n);
      const allIndex = Int32Array.from({ length: r }, (_, i) => i);
      // x ← x' + V_O (Ỹ_{k,O} − V_O^T x') on every row (dense or operator SVD).
      const pinRows = async (k: number, n: number) => {
        if (n === 0) return;
        if (vt) {
          await native.direct.svdPin(z, vt, pinnedIndex(n), pinnedValues(k, n), run.particles, threads);
          return;
        }
        const x = new Float64Array(D);
        for (let row = 0; row < rows; row++) {
          const q = Math.floor(row / run.particles);
          const zr = z.subarray(row * D, (row + 1) * D);
          x.set(zr);
          const p = svd.project(x);
          const d = new Float64Array(r);
          for (let j = 0; j < n; j++) d[order[j]] = pathAt(k, q, order[j]) - p[order[j]];
          const lifted = svd.lift(d);
          for (let c = 0; c < D; c++) zr[c] = zr[c] + lifted[c];
        }
      };
      // V_rᵀ x for every row of x (rows x r).
      const rotatedRows = async (x: Float32Array): Promise<Float64Array> => {
        const out = new Float64Array(rows * r);
        if (mask) {
          for (let row = 0; row < rows; row++) for (let i = 0; i < r; i++) out[row * r + i] = x[row * D + mask[i]];
        } else if (vt) {
          await native.direct.svdProject(x, vt, allIndex, out, threads);
        } else {
          for (let row = 0; row < rows; row++) out.set(svd.project(Float64Array.from(x.subarray(row * D, (row + 1) * D))), row * r);
        }
        return out;
      };

      const initial = async () => {
        const n = pinnedCount(S);
        if (mask) {
          const m = maskSet(n);
          await ops.initState(batch, m.latent, m.observed, pinnedValues(S, n), run.stream(S, 'initial'), z, threads);
          return;
        }
        await ops.initState(batch, all, none, noValues, run.stream(S, 'initial'), z, threads);
        await pinRows(S, n);
      };
      let mu: F32Array | undefined;
      const weigh = async (step: Step) => {
        mu = await kernel.mean(step);
        const k = step.index - 1;
        const n = pinnedCount(k);
        const w = kernel.coefficients[step.index - 1].weightVariance;
        const inc = run.increment as Float64Array;
        if (n === 0) {
          inc.fill(0);
          return;
        }
        if (mask) {
          await ops.gaussianYLogWeights(batch, maskSet(n).observed, mu, pinnedValues(k, n), w, inc, threads);
          return;
        }
        const m = mu as Float32Array;
        const constant = -0.5 * n * (LOG_2PI + Math.log(w));
        if (vt) {
          await native.direct.svdLogWeights(m, vt, pinnedIndex(n), pinnedValues(k, n), run.particles, w, constant, inc, threads);
          return;
        }
        for (let row = 0; row < rows; row++) {
          const q = Math.floor(row / run.particles);
          const c = svd.project(Float64Array.from(m.subarray(row * D, (row + 1) * D)));
          let quad = 0;
          for (let j = 0; j < n; j++) {
            const d = pathAt(k, q, order[j]) - c[order[j]];
            quad += d * d;
          }
          inc[row] = constant - quad / (2 * w);
        }
      };
      // x_s = mu[ancestor] + noise, then the pins at s (docs/MATH.md §9.1).
      const propagate = async (step: Step, m: F32Array, ancestors: I32Array | null, purpose: 'kernelNoise' | 'repaintKernel' = 'kernelNoise', index = 0) => {
        const k = step.index - 1;
        const n = pinnedCount(k);
        const noise = kernel.noiseScale(step);
        const stream = run.stream(step.index, purpose, index);
        if (mask) {
          const set = maskSet(n);
          await ops.propagate(batch, set.latent, set.observed, m, ancestors, noise, pinnedValues(k, n), stream, z, threads);
          return;
        }
        await ops.propagate(batch, all, none, m, ancestors, noise, noValues, stream, z, threads);
        await pinRows(k, n);
      };
      const move = async (step: Step, ancestors: I32Array | null) => {
        const m = mu ?? (await kernel.mean(step));
        mu = undefined;
        await propagate(step, m, ancestors);
      };
      const corrector = spec.corrector;
      const correct = corrector
        ? async (step: Step) => {
            const c = kernel.coefficients[step.index - 1];
            if (corrector.kind === 'langevin') {
              // The score at s; at s = 0 at the smallest positive grid time (docs/MATH.md §3).
              const tScore = step.s > 0 ? step.s : run.grid[1];
              const k = step.index - 1, n = pinnedCount(k);
              const rule = ops.codes.langevinRules[corrector.rule];
              const param = corrector.rule === 'gamma' ? corrector.gamma * run.schedule.sigma2(tScore) : corrector.snr;
              const snrAlpha = corrector.rule === 'gamma' ? 0 : c.alphaTs * c.alphaTs;
              for (let j = 0; j < corrector.steps; j++) {
                run.checkAbort();
                const g = await run.score(run.z, tScore, `${step.where}, Langevin step ${j + 1}`);
                const stream = run.stream(step.index, 'langevin', j);
                if (mask) {
                  const set = maskSet(n);
                  await ops.langevin(batch, set.latent, set.observed, g, rule, param, snrAlpha, stream, z, threads);
                } else {
                  await ops.langevin(batch, all, none, g, rule, param, snrAlpha, stream, z, threads);
                  await pinRows(k, n);
                }
              }
              return;
            }
            const kt = step.index, nt = pinnedCount(kt);
            for (let u = 0; u < corrector.jumps; u++) {
              run.checkAbort();
              const stream = run.stream(step.index, 'repaintNoise', u);
              if (mask) {
                const set = maskSet(nt);
                await ops.renoise(batch, set.latent, set.observed, c.alphaTs, c.sigma2Ts, pinnedValues(kt, nt), stream, z, threads);
              } else {
                await ops.renoise(batch, all, none, c.alphaTs, c.sigma2Ts, noValues, stream, z, threads);
                await pinRows(kt, nt);
              }
              await propagate(step, await kernel.mean(step, `${step.where}, RePaint jump ${u + 1}`), null, 'repaintKernel', u);
            }
          }
        : undefined;
      // log w₀ = Σ_i log N(ȳ_i; s_i x̄_i, σ²) − Σ_{i pinned} log N(Ỹ_{t*_i,i}; α_{t*_i} x̄_i, σ²_{t*_i}) (docs/MATH.md §9.1).
      const finalWeight = async () => {
        const s2 = obs.noiseStd * obs.noiseStd;
        const starts = Array.from(spec.path.start, (k) => (k <= S ? { k, alpha: Math.exp(run.schedule.logAlpha(run.grid[k])), sigma2: run.schedule.sigma2(run.grid[k]) } : null));
        const inc = run.increment as Float64Array;
        const rot = await rotatedRows(z);
        for (let row = 0; row < rows; row++) {
          const q = Math.floor(row / run.particles);
          const c = rot.subarray(row * r, (row + 1) * r);
          let lw = 0;
          for (let i = 0; i < r; i++) {
            const d = svd.ybar[i] - svd.s[i] * c[i];
            lw += -0.5 * (LOG_2PI + Math.log(s2)) - (d * d) / (2 * s2);
            const st = starts[i];
            if (st) {
              const e = pathAt(st.k, q, i) - st.alpha * c[i];
              lw -= -0.5 * (LOG_2PI + Math.log(st.sigma2)) - (e * e) / (2 * st.sigma2);
            }
          }
          inc[row] = lw;
        }
      };
      return {
        initial,
        weigh: spec.weighted ? weigh : undefined,
        move: spec.weighted ? move : async (step: Step) => move(step, null),
        correct,
        finalWeight: spec.weighted && obs.noiseStd > 0 ? finalWeight : undefined,
      };
    },
  };
}
