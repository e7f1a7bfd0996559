// Every move of replacement sampling against its exact law, step by step (MATH.md §2–§3).
// The score is a recording callback (test/support/gaussian-model.ts), so the state the
// sampler holds before each step is seen through the public API; on a Gaussian prior the
// kernel mean of that state is known exactly from MATH.md §2 (test/support/exact-schedules.ts).
//   X_T                                   ~ N(0, I)                       (initial draw)
//   (X_{t_{i−1}} − μ_X(Z_{t_i})) / √v_i  ~ N(0, I) iid, i ≥ 2            (kernel noise)
//   X_0                                   = μ_X(Z_{t_1}) exactly          (noise-free last step)
//   (Y_{t_i} − α_{t_i|t_{i−1}} Y_{t_{i−1}}) / σ_{t_i|t_{i−1}} ~ N(0, I)   (forward context path)
//   X_0 over samples                      ~ the exact replacement law (kalman-oracle.ts)
import { replacement } from '../../lib/samplers';
import { Check, StatCase, holds, standardNormalChecks, gaussianMomentChecks } from './checks';
import { KernelConfig, KERNEL_CONFIGS, PRIOR, OBSERVED, LATENT, Y0, D, libSchedule } from './kalman-problems';
import { exactSchedule, exactSteps, transition, ExactStep } from './exact-schedules';
import { gaussianScore, recordingScore, ScoreCall } from './gaussian-model';
import { chainFor, replacementLaw } from './kalman-oracle';
import { cholesky } from './matrix';

export const SAMPLES = 2000;
/** |z| bound for these exact-law z-scores (≈ 86 per schedule × kernel pair, 516 in all). */
export const Z_LAW = 6;
/** Relative tolerance of a float32 kernel mean against the float64 one. */
export const MEAN_TOL = 2e-5;

/** μ_X of a recorded call's state for row r under an exact step. */
export function kernelMeanX(call: ScoreCall, r: number, st: ExactStep): number[] {
  return LATENT.map((k) => st.cz * call.z[r * D + k] + st.cs * call.score[r * D + k]);
}

export async function runRecorded(cfg: KernelConfig, seed: number, context: 'forward' | 'fixed' = 'forward') {
  const rec = recordingScore(gaussianScore(PRIOR, exactSchedule(cfg.spec)));
  const res = await replacement({
    score: rec.score,
    dim: D,
    schedule: libSchedule(cfg.spec),
    kernel: cfg.kernel,
    grid: cfg.grid,
    observed: { indices: OBSERVED, values: Y0 },
    samples: SAMPLES,
    seed,
    context,
  });
  return { calls: rec.calls, samples: res.samples };
}

export async function transitionChecks(cfg: KernelConfig, seed: number): Promise<Check[]> {
  const q = exactSchedule(cfg.spec);
  return checksOfRecording(cfg, await runRecorded(cfg, seed), exactSteps(q, cfg.kernel, cfg.grid));
}

/** The checks of one recorded run against the given steps (the exact ones, or altered ones to show power). */
export function checksOfRecording(cfg: KernelConfig, recording: { calls: ScoreCall[]; samples: Float32Array }, steps: ExactStep[]): Check[] {
  const { calls, samples } = recording;
  const q = exactSchedule(cfg.spec);
  const S = steps.length, K = SAMPLES;
  const out: Check[] = [holds('one score call per step, at t_S … t_1', calls.length === S && calls.every((c, j) => c.t === cfg.grid[S - j]))];
  if (calls.length !== S) return out;
  // state before step i: calls[S − i]; after the last step: samples
  const before = (i: number) => calls[S - i].z;
  const xOf = (z: Float32Array, r: number) => LATENT.map((k) => z[r * D + k]);
  const yOf = (z: Float32Array, r: number) => OBSERVED.map((k) => z[r * D + k]);

  out.push(...standardNormalChecks('X_T ~ N(0, I)', LATENT.map((_, j) => Array.from({ length: K }, (__, r) => xOf(before(S), r)[j])), Z_LAW));
  for (let i = S; i >= 2; i--) {
    const st = steps[i - 1], sd = Math.sqrt(st.v);
    const res: number[][] = LATENT.map(() => []);
    for (let r = 0; r < K; r++) {
      const mu = kernelMeanX(calls[S - i], r, st), x = xOf(before(i - 1), r);
      mu.forEach((m, j) => res[j].push((x[j] - m) / sd));
    }
    out.push(...standardNormalChecks(`kernel step ${i} (t = ${cfg.grid[i]} → ${cfg.grid[i - 1]})`, res, Z_LAW));
  }
  let worst = 0;
  for (let r = 0; r < K; r++) {
    const mu = kernelMeanX(calls[S - 1], r, steps[0]), x = xOf(samples, r);
    mu.forEach((m, j) => (worst = Math.max(worst, Math.abs(x[j] - m) / (1 + Math.abs(m)))));
  }
  out.push({ name: 'last step: X_0 = μ_X(Z_{t_1}) (relative error)', value: worst, bound: MEAN_TOL, side: 'upper' });
  // The context path, read off the Y block each step hands the score (and Y_0 in the output).
  for (let i = 1; i <= S; i++) {
    const tr = transition(q, cfg.grid[i - 1], cfg.grid[i]), sd = Math.sqrt(tr.sigma2);
    const res: number[][] = OBSERVED.map(() => []);
    for (let r = 0; r < K; r++) {
      const yt = yOf(before(i), r), ys = i === 1 ? yOf(samples, r) : yOf(before(i - 1), r);
      yt.forEach((y, j) => res[j].push((y - tr.alpha * ys[j]) / sd));
    }
    out.push(...standardNormalChecks(`context path step ${i} (${cfg.grid[i - 1]} → ${cfg.grid[i]})`, res, Z_LAW));
  }
  out.push(holds('the output carries Y_0', Array.from({ length: K }, (_, r) => yOf(samples, r)).every((y) => y.every((v, j) => v === Math.fround(Y0[j])))));
  // The whole output against replacement's exact law (the partner that pins replacement).
  const law = replacementLaw(chainFor(PRIOR, cfg.spec, cfg.kernel, cfg.grid, OBSERVED), q, cfg.grid, Y0, 'forward');
  out.push(...gaussianMomentChecks('output X_0 vs the exact replacement law', Array.from({ length: K }, (_, r) => xOf(samples, r)), law.mean, cholesky(law.cov), Z_LAW));
  return out;
}

export const TRANSITION_SEED = 4242;

export const TRANSITION_CASES: StatCase[] = KERNEL_CONFIGS.map((cfg) => ({
  name: `transitions: ${cfg.name}`,
  seed: TRANSITION_SEED,
  run: (seed: number) => transitionChecks(cfg, seed),
}));

