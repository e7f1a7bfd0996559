// FPS (Dou & Song 2024) on condiff's kernels, docs/MATH.md §9.3: a noised copy of y follows the
// forward process of A x, y_{t_k} = α_{t_k|t_{k−1}} y_{t_{k−1}} + σ_{t_k|t_{k−1}} A ξ_k (one path per
// run), and each step weighs the kernel mean by log N(y_s; A μ, v AA^T + r_s I), r_s = α_s² σ_y²,
// then moves by the exact Matheron update towards y_s. It needs only A and A^T: the d_y x d_y
// matrix v AA^T + r I is factored once per step. With σ_y = 0 it is the SVD bootstrap filter of
// §9.1 (weights up to a constant, the same moves); with σ_y > 0 it counts the observation's
// noise once per step and is overconfident: a heuristic. Per-particle arithmetic in TypeScript.
import type { FeynmanKacModel, DriverRun, Step } from '../driver';
import type { F32Array, I32Array } from '../backend';
import type { LinearObservation } from '../observation';
import type { KernelName } from '../schedules';
import type { StreamArgs } from '../native';
import { choleskyFactor } from '../linear-gaussian';
import { backwardKernel } from './backward-kernel';

export interface FpsSpec {
  kernel: KernelName;
  finalNoise: boolean;
  observation: LinearObservation;
  /** The y-path, (S + 1) x runs x d_y by grid index (index 0: y itself). */
  path: Float64Array;
}

const LOG_2PI = Math.log(2 * Math.PI);

/** G = A A^T, d_y x d_y row-major, from d_y products A (A^T e_j). */
export function gram(obs: LinearObservation): Float64Array {
  const m = obs.rows;
  const g = new Float64Array(m * m);
  const e = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    e.fill(0);
    e[j] = 1;
    const col = obs.apply(obs.applyT(e));
    for (let i = 0; i < m; i++) g[i * m + j] = col[i];
  }
  for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) g[i * m + j] = g[j * m + i] = 0.5 * (g[i * m + j] + g[j * m + i]);
  return g;
}

/** L of v G + r I, or the error saying why it has none. */
function factor(g: Float64Array, m: number, v: number, r: number, where: string): Float64Array {
  const a = g.map((x, k) => v * x + (k % (m + 1) === 0 ? r : 0));
  const l = choleskyFactor(a, m);
  if (!l) throw new RangeError(`fps: v AA^T + r I is not positive definite ${where} (v = ${v}, r = ${r}): with noiseStd = 0, A must have full row rank (docs/MATH.md §9.3)`);
  return l;
}

/** u ← L⁻¹ u; returns Σ log L_ii. */
function forward(l: Float64Array, m: number, u: Float64Array): number {
  let logDet = 0;
  for (let i = 0; i < m; i++) {
    let acc = u[i];
    for (let k = 0; k < i; k++) acc -= l[i * m + k] * u[k];
    u[i] = acc / l[i * m + i];
    logDet += Math.log(l[i * m + i]);
  }
  return logDet;
}

/** u ← L^{−T} u. */
function backward(l: Float64Array, m: number, u: Float64Array): void {
  for (let i = m - 1; i >= 0; i--) {
    let acc = u[i];
    for (let k = i + 1; k < m; k++) acc -= l[k * m + i] * u[k];
    u[i] = acc / l[i * m + i];
  }
}

export function fpsModel(spec: FpsSpec): FeynmanKacModel {
  const obs = spec.observation;
  const D = obs.dim, m = obs.rows, s2 = obs.noiseStd * obs.noiseStd;
  return {
    name: 'fps',
    weighted: true,
    async start(run: DriverRun) {
      if (!(run.z instanceof Float32Array)) throw new RangeError("fps runs on the 'cpu' backend only");
      const { ops, batch, threads, rows, runs, particles: N, schedule, grid } = run;
      if (batch.runKeys) throw new RangeError('fps draws its noise per run word: it does not take per-run keys');
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
      const g = gram(obs);
      // r_k = α_{t_k}² σ_y²; r_0 = σ_y².
      const rAt = (k: number) => s2 * Math.exp(2 * schedule.logAlpha(grid[k]));
      const yAt = (k: number, q: number) => spec.path.subarray((k * runs + q) * m, (k * runs + q + 1) * m);
      const x = new Float64Array(D), u = new Float64Array(m);
      const eta = new Float32Array(N * m);

      // x ← x + v A^T M⁻¹ (y_k − A x − √r η) on every row, M = L L^T = v G + r I; η ~ N(0, I_{d_y})
      // from `stream` (absent when r = 0).
      const matheron = async (k: number, stream: StreamArgs, v: number, r: number, l: Float64Array) => {
        for (let q = 0; q < runs; q++) {
          if (r > 0) await ops.normals(eta, { ...stream, run: batch.runOffset + q }, 0, threads);
          const y = yAt(k, q);
          for (let p = 0; p < N; p++) {
            const row = q * N + p;
            const zr = z.subarray(row * D, (row + 1) * D);
            x.set(zr);
            const ax = obs.apply(x);
            for (let i = 0; i < m; i++) u[i] = y[i] - ax[i] - (r > 0 ? Math.sqrt(r) * eta[p * m + i] : 0);
            forward(l, m, u);
            backward(l, m, u);
            const d = obs.applyT(u);
            for (let c = 0; c < D; c++) zr[c] = zr[c] + v * d[c];
          }
        }
      };

      // x_T ~ N(0, I) · N(y_T; A x, r_T I) (Matheron with μ = 0, v = 1); its normaliser
      // N(y_T; 0, AA^T + r_T I) enters the first step's weight.
      const initialLogWeight = new Float64Array(runs);
      const initial = async () => {
        await ops.initState(batch, all, none, noValues, run.stream(S, 'initial'), z, threads);
        const r = rAt(S), l = factor(g, m, 1, r, 'at the initial draw');
        for (let q = 0; q < runs; q++) {
          u.set(yAt(S, q));
          const logDet = forward(l, m, u);
          initialLogWeight[q] = -0.5 * m * LOG_2PI - logDet - 0.5 * u.reduce((a, b) => a + b * b, 0);
        }
        await matheron(S, run.stream(S, 'initial', 1), 1, r, l);
      };

      let mu: F32Array | undefined;
      const weigh = async (step: Step) => {
        mu = await kernel.mean(step);
        const k = step.index - 1;
        const v = kernel.coefficients[step.index - 1].weightVariance;
        const l = factor(g, m, v, k === 0 ? s2 : rAt(k), step.where);
        const inc = run.increment as Float64Array;
        const mm = mu as Float32Array;
        for (let row = 0; row < rows; row++) {
          const q = Math.floor(row / N);
          x.set(mm.subarray(row * D, (row + 1) * D));
          const ax = obs.apply(x), y = yAt(k, q);
          for (let i = 0; i < m; i++) u[i] = y[i] - ax[i];
          const logDet = forward(l, m, u);
          inc[row] = (step.index === S ? initialLogWeight[q] : 0) - 0.5 * m * LOG_2PI - logDet - 0.5 * u.reduce((a, b) => a + b * b, 0);
        }
      };
      const move = async (step: Step, ancestors: I32Array | null) => {
        const mean = mu ?? (await kernel.mean(step));
        mu = undefined;
        await ops.propagate(batch, all, none, mean, ancestors, kernel.noiseScale(step), noValues, run.stream(step.index, 'kernelNoise'), z, threads);
        const k = step.index - 1;
        const v = kernel.coefficients[step.index - 1].weightVariance, r = k === 0 ? s2 : rAt(k);
        await matheron(k, run.stream(step.index, 'kernelNoise', 1), v, r, factor(g, m, v, r, step.where));
      };
      return { initial, weigh, move };
    },
  };
}
