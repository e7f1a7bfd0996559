// The correctors of MATH.md §3 against exact laws on the Gaussian prior
// (test/numerics/correctors.test.ts).
//
// Langevin, fixed step (the gamma rule, delta = gamma sigma_s²). The move is
//     X' = X + delta ∇_X log p_t([X, Y]) + √(2 delta) ξ.
// On p_t(X | Y) = N(m, Σ), ∇_X = −A (X − m) with A = Σ⁻¹ (the X block of C_t⁻¹), so
//     X' − m = (I − delta A)(X − m) + √(2 delta) ξ,
// and the stationary covariance P solves P = (I − delta A) P (I − delta A) + 2 delta I. The
// solution commuting with A is P (2 delta A − delta² A²) = 2 delta I, i.e.
//     P = (A − delta A²/2)⁻¹ = Σ (I − delta Σ⁻¹/2)⁻¹,
// unique when the spectral radius of I − delta A is below 1 (delta λ_max(A) < 2). The mean
// stays m. So many corrector steps at one level must reach N(m, Σ (I − delta Σ⁻¹/2)⁻¹), not
// the target N(m, Σ): the discretisation shows, and a noise of √delta instead of √(2 delta)
// gives P = (2A − delta A²)⁻¹, about half.
//
// One move at a time: given the state X and the score g handed to the score callback,
//   gamma rule:  (X' − X − delta g) / √(2 delta) ~ N(0, I) iid,   delta = gamma sigma_s²;
//   SNR rule:    delta = 2 alpha (r ‖ξ‖ / ‖g_X‖)², with the move's own ξ (Song et al. 2021,
//                Alg. 5; alpha = alpha_{t|s}², norms over the X block). Given (X, g) the move
//                ξ ↦ u = delta(ξ) g + √(2 delta(ξ)) ξ is one-to-one: with A = ‖g‖², B = u·g,
//                C = ‖u‖², k = 1/(alpha r²), ‖u − delta g‖² = 2 delta ‖ξ‖² = k delta² A gives
//                (1 − k) A delta² − 2 B delta + C = 0, whose one positive root is delta; then
//                ξ = (u − delta g)/√(2 delta). The recovered ξ are iid N(0, I) exactly when both
//                the delta formula and the move given delta are right.
// RePaint: re-noising X_s back to t is the forward kernel, X_t = alpha_{t|s} X_s + sigma_{t|s} ξ,
// with Y_t (the step's own context) in the Y block. Given the step's input Z_t (seen by the
// callback) X_s = μ_X(Z_t) + √v ξ', so the re-noised X has the exact law
//     N(alpha_{t|s} μ_X(Z_t), (alpha_{t|s}² v + sigma²_{t|s}) I).
import { replacement, CorrectorOptions } from '../../lib/samplers';
import { Check, StatCase, holds, standardNormalChecks, gaussianMomentChecks } from './checks';
import { PRIOR, OBSERVED, LATENT, Y0, D, libSchedule, OU, DDPM_LINEAR, VP } from './kalman-problems';
import { exactSchedule, exactStep, transition, ScheduleSpec, KernelKind } from './exact-schedules';
import { gaussianScore, recordingScore, ScoreCall, conditionalGaussian } from './gaussian-model';
import { Matrix, cholesky, spdInverse, matmul } from './matrix';
import { kernelMeanX } from './transition-cases';

export const Z_CORRECTOR = 6;
export const CORRECTOR_SAMPLES = 4000;

const xOf = (z: Float32Array, r: number) => LATENT.map((k) => z[r * D + k]);
const yOf = (z: Float32Array, r: number) => OBSERVED.map((k) => z[r * D + k]);

// ---- stationary law of the gamma rule -----------------------------------------------------------

export interface StationaryProblem {
  name: string;
  spec: ScheduleSpec;
  kernel: KernelKind;
  /** The only positive grid time: the Langevin level of the last step is t1 (MATH.md §3). */
  t1: number;
  gamma: number;
  steps: number;
}

/** OU at t1 = 0.5, gamma = 0.5; DDPM (linear) at level 150, gamma = 0.8. L is set by the slowest contraction (see stationaryLaw). */
export const STATIONARY: StationaryProblem[] = [
  { name: 'ou, t1 = 0.5, gamma = 0.9', spec: OU, kernel: 'euler', t1: 0.5, gamma: 0.9, steps: 150 },
  { name: 'ddpm linear, t1 = 150, gamma = 1.2', spec: DDPM_LINEAR, kernel: 'ddpm', t1: 150, gamma: 1.2, steps: 200 },
];

/** The target p_{t1}(X | Y_0) = N(m, Σ) and the stationary law N(m, P) of the fixed-step chain. */
export function stationaryLaw(p: StationaryProblem): { delta: number; mean: number[]; target: Matrix; stationary: Matrix; contraction: number } {
  const q = exactSchedule(p.spec);
  const alpha = q.alpha(p.t1), s2 = q.sigma2(p.t1);
  const C = PRIOR.cov.map((row, r) => row.map((x, c) => alpha * alpha * x + (r === c ? s2 : 0)));
  const cond = conditionalGaussian(PRIOR.mean.map((m) => alpha * m), C, LATENT, OBSERVED, Y0);
  const A = spdInverse(cond.cov);
  const delta = p.gamma * s2;
  const P = spdInverse(A.map((row, i) => row.map((x, j) => x - (delta / 2) * matmul(A, A)[i][j])));
  // slowest contraction of the mean per step: 1 − delta λ_min(A) ≥ 1 − delta / λ_max(Σ) (power iteration on Σ)
  let v = [1, 1, 1];
  for (let k = 0; k < 200; k++) {
    const w = cond.cov.map((row) => row.reduce((a, x, j) => a + x * v[j], 0));
    const n = Math.hypot(...w);
    v = w.map((x) => x / n);
  }
  const lmax = cond.cov.map((row) => row.reduce((a, x, j) => a + x * v[j], 0)).reduce((a, x, j) => a + x * v[j], 0);
  return { delta, mean: cond.mean, target: cond.cov, stationary: P, contraction: 1 - delta / lmax };
}

export async function runStationary(p: StationaryProblem, seed: number, corrector: CorrectorOptions = { kind: 'langevin', steps: p.steps, gamma: p.gamma }): Promise<number[][]> {
  const res = await replacement({
    score: gaussianScore(PRIOR, exactSchedule(p.spec)),
    dim: D,
    schedule: libSchedule(p.spec),
    kernel: p.kernel,
    grid: [0, p.t1],
    observed: { indices: OBSERVED, values: Y0 },
    samples: CORRECTOR_SAMPLES,
    seed,
    context: 'fixed',
    corrector,
  });
  return Array.from({ length: CORRECTOR_SAMPLES }, (_, r) => xOf(res.samples, r));
}

export function stationaryChecks(p: StationaryProblem, draws: number[][], against: 'stationary' | 'target' = 'stationary'): Check[] {
  const law = stationaryLaw(p);
  return gaussianMomentChecks(`Langevin ${p.name} vs N(m, ${against === 'stationary' ? 'Σ(I − δΣ⁻¹/2)⁻¹' : 'Σ'})`, draws, law.mean, cholesky(against === 'stationary' ? law.stationary : law.target), Z_CORRECTOR);
}

// ---- one move at a time ---------------------------------------------------------------------------

/** Two levels, t1 and t2 far apart, so sigma_s² and sigma_t² (and alpha_{t|s}, alpha_t) differ. */
export interface MoveProblem {
  name: string;
  spec: ScheduleSpec;
  kernel: KernelKind;
  grid: [number, number, number];
}
export const MOVES: MoveProblem[] = [
  { name: 'ou euler [0, 0.3, 1.2]', spec: OU, kernel: 'euler', grid: [0, 0.3, 1.2] },
  { name: 'vp euler [0, 0.1, 0.45]', spec: VP, kernel: 'euler', grid: [0, 0.1, 0.45] },
  { name: 'ddpm linear [0, 60, 400]', spec: DDPM_LINEAR, kernel: 'ddpm', grid: [0, 60, 400] },
];
export const MOVE_STEPS = 3;
export const SNR = 0.16;

async function runMoves(p: MoveProblem, seed: number, corrector: CorrectorOptions) {
  const rec = recordingScore(gaussianScore(PRIOR, exactSchedule(p.spec)));
  const res = await replacement({
    score: rec.score,
    dim: D,
    schedule: libSchedule(p.spec),
    kernel: p.kernel,
    grid: p.grid,
    observed: { indices: OBSERVED, values: Y0 },
    samples: CORRECTOR_SAMPLES,
    seed,
    context: 'forward',
    corrector,
  });
  return { calls: rec.calls, samples: res.samples };
}

/**
 * The Langevin moves seen by the callback, in order. Calls: [t2 step input], L at t1, [t1 step
 * input], L at t1 (level 0 scores at the smallest positive time, MATH.md §3), then the output.
 * Returns each move (before, its score, after) with its level's alpha_{t|s}².
 */
function langevinMoves(p: MoveProblem, calls: ScoreCall[], samples: Float32Array) {
  const L = MOVE_STEPS;
  const q = exactSchedule(p.spec);
  const [, t1, t2] = p.grid;
  const ok = calls.length === 2 + 2 * L && calls[0].t === t2 && calls.slice(1).every((c) => c.t === t1);
  const moves: { before: ScoreCall; after: Float32Array; snrAlpha: number }[] = [];
  if (!ok) return { ok, moves, lastStepExact: false };
  const a21 = transition(q, t1, t2).alpha, a10 = transition(q, 0, t1).alpha;
  for (let j = 0; j < L; j++) moves.push({ before: calls[1 + j], after: calls[2 + j].z, snrAlpha: a21 * a21 });
  for (let j = 0; j < L; j++) moves.push({ before: calls[2 + L + j], after: j + 1 < L ? calls[3 + L + j].z : samples, snrAlpha: a10 * a10 });
  // the step t1 → 0 moves X to its mean before the level-0 corrector
  const st = exactStep(q, p.kernel, 0, t1);
  let worst = 0;
  for (let r = 0; r < CORRECTOR_SAMPLES; r++) {
    const mu = kernelMeanX(calls[1 + L], r, st), x = xOf(calls[2 + L].z, r);
    mu.forEach((m, k) => (worst = Math.max(worst, Math.abs(x[k] - m) / (1 + Math.abs(m)))));
  }
  return { ok, moves, lastStepExact: worst < 2e-5 };
}

/** `assumedNoise`: the c of √(c delta) the residuals assume (2, MATH.md §3; other values show the check's power). */
export async function gammaMoveChecks(p: MoveProblem, seed: number, gamma = 0.3, assumedNoise = 2): Promise<Check[]> {
  const { calls, samples } = await runMoves(p, seed, { kind: 'langevin', steps: MOVE_STEPS, gamma });
  const { ok, moves, lastStepExact } = langevinMoves(p, calls, samples);
  const out: Check[] = [holds('score calls: one per step and one per Langevin step, at t_S, then t_1', ok), holds('the last step moves X to its kernel mean', lastStepExact)];
  if (!ok) return out;
  const q = exactSchedule(p.spec);
  const delta = gamma * q.sigma2(p.grid[1]); // both levels score at t1 (s = t1, and s = 0 → t1)
  const res: number[][] = LATENT.map(() => []);
  let yMoved = 0;
  for (const m of moves) {
    for (let r = 0; r < CORRECTOR_SAMPLES; r++) {
      const x = xOf(m.before.z, r), x2 = xOf(m.after, r), g = LATENT.map((k) => m.before.score[r * D + k]);
      x.forEach((v, k) => res[k].push((x2[k] - v - delta * g[k]) / Math.sqrt(assumedNoise * delta)));
      const y = yOf(m.before.z, r), y2 = yOf(m.after, r);
      y.forEach((v, k) => (yMoved += v === y2[k] ? 0 : 1));
    }
  }
  out.push(holds('Langevin leaves the Y block alone', yMoved === 0));
  out.push(...standardNormalChecks(`gamma rule ${p.name}: (X' − X − δg)/√(2δ)`, res, Z_CORRECTOR));
  return out;
}

/**
 * The positive root delta of (1 − k) A δ² − 2 B δ + C = 0 (see the header). With k > 1
 * (alpha r² < 1, always here: r = 0.16) the roots have opposite signs and this is the one.
 */
export function snrDelta(A: number, B: number, C: number, k: number): number {
  if (!(k > 1)) throw new RangeError(`snrDelta needs alpha r² < 1, got k = ${k}`);
  const a = (1 - k) * A;
  return (B - Math.sqrt(B * B - a * C)) / a;
}

/** `assumedFactor`: the c of delta = c alpha (r ‖ξ‖ / ‖g‖)² the inversion assumes (2, MATH.md §3). */
export async function snrMoveChecks(p: MoveProblem, seed: number, r = SNR, assumedFactor = 2): Promise<Check[]> {
  const { calls, samples } = await runMoves(p, seed, { kind: 'langevin', steps: MOVE_STEPS, snr: r });
  const { ok, moves, lastStepExact } = langevinMoves(p, calls, samples);
  const out: Check[] = [holds('score calls: one per step and one per Langevin step', ok), holds('the last step moves X to its kernel mean', lastStepExact)];
  if (!ok) return out;
  const res: number[][] = LATENT.map(() => []);
  let bad = 0;
  for (const m of moves) {
    const k = 2 / (assumedFactor * m.snrAlpha * r * r);
    for (let row = 0; row < CORRECTOR_SAMPLES; row++) {
      const x = xOf(m.before.z, row), x2 = xOf(m.after, row), g = LATENT.map((j) => m.before.score[row * D + j]);
      const u = x2.map((v, j) => v - x[j]);
      const A = g.reduce((a, v) => a + v * v, 0), B = u.reduce((a, v, j) => a + v * g[j], 0), C = u.reduce((a, v) => a + v * v, 0);
      const delta = snrDelta(A, B, C, k);
      if (!(delta > 0)) {
        bad++;
        continue;
      }
      u.forEach((v, j) => res[j].push((v - delta * g[j]) / Math.sqrt(2 * delta)));
    }
  }
  out.push(holds('every SNR move has a positive step size', bad === 0));
  out.push(...standardNormalChecks(`SNR rule ${p.name}: recovered ξ`, res, Z_CORRECTOR));
  return out;
}

// ---- RePaint ---------------------------------------------------------------------------------------

export const JUMPS = 2;

export async function repaintChecks(p: MoveProblem, seed: number): Promise<Check[]> {
  const { calls, samples } = await runMoves(p, seed, { kind: 'repaint', jumps: JUMPS });
  const [, t1, t2] = p.grid;
  const U = JUMPS;
  // Calls: step 2 input at t2, U re-noised states at t2, step 1 input at t1, U re-noised at t1.
  const ok = calls.length === 2 * (U + 1) && calls.slice(0, U + 1).every((c) => c.t === t2) && calls.slice(U + 1).every((c) => c.t === t1);
  const out: Check[] = [holds('score calls: step input then one per jump, at t2 then t1', ok)];
  if (!ok) return out;
  const q = exactSchedule(p.spec);
  const st2 = exactStep(q, p.kernel, t1, t2), st1 = exactStep(q, p.kernel, 0, t1);
  let yWrong = 0;
  // re-noised states: calls[j] (j = 1..U) given calls[j − 1] at t2; calls[U + 1 + j] given calls[U + j] at t1
  // v: the kernel noise of the step before each re-noising (none at the last step, MATH.md §2)
  const renoised = (from: number, st: typeof st2, v: number, label: string) => {
    const res: number[][] = LATENT.map(() => []);
    const sd = Math.sqrt(st.alphaTs * st.alphaTs * v + st.sigma2Ts);
    for (let j = from + 1; j <= from + U; j++) {
      for (let r = 0; r < CORRECTOR_SAMPLES; r++) {
        const mu = kernelMeanX(calls[j - 1], r, st), x = xOf(calls[j].z, r);
        mu.forEach((m, k) => res[k].push((x[k] - st.alphaTs * m) / sd));
        const y0 = yOf(calls[from].z, r), y = yOf(calls[j].z, r);
        y.forEach((v, k) => (yWrong += v === y0[k] ? 0 : 1));
      }
    }
    out.push(...standardNormalChecks(`RePaint ${p.name}: re-noised X at ${label}`, res, Z_CORRECTOR));
  };
  renoised(0, st2, st2.v, `t = ${t2} (s = ${t1})`);
  renoised(U + 1, st1, 0, `t = ${t1} (s = 0, noise-free step)`);
  out.push(holds('re-noised states carry the step\'s own Y_t', yWrong === 0));
  // the step t2 → t1 after the jumps, and the noise-free last step
  const res: number[][] = LATENT.map(() => []);
  let worst = 0;
  for (let r = 0; r < CORRECTOR_SAMPLES; r++) {
    const mu = kernelMeanX(calls[U], r, st2), x = xOf(calls[U + 1].z, r);
    mu.forEach((m, k) => res[k].push((x[k] - m) / Math.sqrt(st2.v)));
    const mu0 = kernelMeanX(calls[2 * U + 1], r, st1), x0 = xOf(samples, r);
    mu0.forEach((m, k) => (worst = Math.max(worst, Math.abs(x0[k] - m) / (1 + Math.abs(m)))));
  }
  out.push(...standardNormalChecks(`RePaint ${p.name}: kernel step after the jumps`, res, Z_CORRECTOR));
  out.push({ name: 'RePaint: X_0 = μ_X of the last jump (relative error)', value: worst, bound: 2e-5, side: 'upper' });
  return out;
}

// ---- cases ----------------------------------------------------------------------------------------

export const CORRECTOR_SEED = 777;

export const CORRECTOR_CASES: StatCase[] = [
  ...STATIONARY.map((p) => ({ name: `Langevin stationary law: ${p.name}`, seed: CORRECTOR_SEED, run: async (seed: number) => stationaryChecks(p, await runStationary(p, seed)) })),
  ...MOVES.map((p) => ({ name: `Langevin gamma move: ${p.name}`, seed: CORRECTOR_SEED, run: (seed: number) => gammaMoveChecks(p, seed) })),
  ...MOVES.map((p) => ({ name: `Langevin SNR move: ${p.name}`, seed: CORRECTOR_SEED, run: (seed: number) => snrMoveChecks(p, seed) })),
  ...MOVES.map((p) => ({ name: `RePaint: ${p.name}`, seed: CORRECTOR_SEED, run: (seed: number) => repaintChecks(p, seed) })),
];
