// Warnings that a run's answer may be wrong although it finished (README, "Diagnostics"):
// weight collapse, a horizon too short for the model's scale, a step too coarse for the
// Euler kernel. Each rule and threshold is stated here and in the README.
import type { Schedule, KernelName } from './schedules';

/** A run has collapsed when its ESS went below max(2, N/100); a warning when ≥ 10% of the runs did. */
export const COLLAPSE_ESS_FRACTION = 0.01;
export const COLLAPSE_RUN_FRACTION = 0.1;
/** p_T must be N(0, I) within these per coordinate: variance off 1 by ≤ 10%, mean off 0 by ≤ 0.3. */
export const HORIZON_VARIANCE_TOLERANCE = 0.1;
export const HORIZON_MEAN_TOLERANCE = 0.3;
/** An Euler step is too coarse when h |f(t)| > 0.2: fewer than 5 steps per e-fold of alpha_t (MATH.md §2). */
export const EULER_DRIFT_STEP_LIMIT = 0.2;

/** Per-coordinate mean and variance of the data distribution p_0. */
export interface Marginals {
  mean: Float64Array;
  variance: Float64Array;
}

function fmt(x: number): string {
  return Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2) : String(Number(x.toPrecision(3)));
}

/**
 * The horizon rule: p_T = the data noised to T must be close to the N(0, I) the initial
 * draw assumes. With p_0's per-coordinate mean m and variance v, p_T has mean alpha_T m and
 * variance alpha_T^2 v + sigma_T^2 (MATH.md §1).
 */
export function horizonWarning(marginals: Marginals, schedule: Schedule, T: number): string | undefined {
  const misfit = (t: number) => {
    const alpha = Math.exp(schedule.logAlpha(t)), s2 = schedule.sigma2(t);
    let variance = 0, mean = 0, worstVariance = 1;
    for (let c = 0; c < marginals.mean.length; c++) {
      const v = alpha * alpha * marginals.variance[c] + s2;
      if (Math.abs(v - 1) > variance) (variance = Math.abs(v - 1)), (worstVariance = v);
      mean = Math.max(mean, Math.abs(alpha * marginals.mean[c]));
    }
    return { variance, mean, worstVariance };
  };
  const at = misfit(T);
  const ok = (m: { variance: number; mean: number }) => m.variance <= HORIZON_VARIANCE_TOLERANCE && m.mean <= HORIZON_MEAN_TOLERANCE;
  if (ok(at)) return undefined;
  let advice: string;
  if (schedule.continuous) {
    // The smallest horizon that passes, by bisection (alpha_t falls monotonically in t).
    let lo = T, hi = Math.max(2 * T, 1);
    while (!ok(misfit(hi)) && hi < 1e6) (lo = hi), (hi *= 2);
    if (!ok(misfit(hi))) {
      advice = 'no horizon of this schedule reaches it: rescale the data';
    } else {
      for (let k = 0; k < 60; k++) {
        const mid = (lo + hi) / 2;
        if (ok(misfit(mid))) hi = mid;
        else lo = mid;
      }
      advice = `a horizon T ≥ ${Math.ceil(hi * 100) / 100} would bring it within tolerance`;
    }
  } else {
    advice = `no step of this '${schedule.name}' schedule (K = ${schedule.T}) reaches it: rescale the data or use more training steps`;
  }
  return (
    `the horizon T = ${fmt(T)} is too short for the model's scale: p_T has a per-coordinate variance of ${fmt(at.worstVariance)} ` +
    `and |mean| up to ${fmt(at.mean)}, where the initial draw assumes N(0, I) (tolerance ±${HORIZON_VARIANCE_TOLERANCE * 100}% and ` +
    `${HORIZON_MEAN_TOLERANCE}); ${advice}`
  );
}

/** The step rule for the Euler kernel: h_i |f(t_i)| ≤ 0.2 at every step. */
export function stepWarning(schedule: Schedule, kernel: KernelName, grid: Float64Array): string | undefined {
  if (kernel !== 'euler') return undefined;
  let worst = 0, at = 0;
  for (let i = 1; i < grid.length; i++) {
    const r = (grid[i] - grid[i - 1]) * Math.abs(schedule.drift(grid[i]));
    if (r > worst) (worst = r), (at = i);
  }
  if (worst <= EULER_DRIFT_STEP_LIMIT * (1 + 1e-9)) return undefined;
  const steps = grid.length - 1;
  return (
    `the step is too coarse for the Euler kernel: h |f(t)| = ${fmt(worst)} at step ${steps - at + 1} of ${steps} (t = ${fmt(grid[at])}), ` +
    `above ${EULER_DRIFT_STEP_LIMIT}; use about ${Math.ceil((steps * worst) / EULER_DRIFT_STEP_LIMIT - 1e-9)} steps or more, or kernel 'ddpm'`
  );
}

/**
 * The collapse rule over an ESS trace (steps × runs, as the driver records it): a run
 * collapsed when its ESS fell below max(2, N/100) at some step or at the model's final weight
 * (`finalEss`); warn when ≥ 10% of the runs
 * did. (Measured: the demo problem, N = 64, never goes below 8; y = 30 on a 0.9-correlated
 * Gaussian, where the filter's mean is 20 against an exact 27, collapses in 28% of runs.)
 */
export function collapseWarning(ess: Float64Array, steps: number, runs: number, particles: number, runOffset = 0, finalEss?: Float64Array): string | undefined {
  const limit = Math.max(2, particles * COLLAPSE_ESS_FRACTION);
  // Each run's lowest ESS and its first step, read step by step (the trace's rows).
  const lowest = new Float64Array(runs).fill(Infinity), first = new Int32Array(runs);
  for (let i = 0; i < steps; i++) {
    const row = ess.subarray(i * runs, (i + 1) * runs);
    for (let r = 0; r < runs; r++) if (row[r] < lowest[r]) (lowest[r] = row[r]), (first[r] = i);
  }
  // The final weight (tds's likelihood, mcgdiff's w₀) is weighed like a step: it can collapse
  // every run after steps that never did. Its index is `steps`.
  if (finalEss) for (let r = 0; r < runs; r++) if (finalEss[r] < lowest[r]) (lowest[r] = finalEss[r]), (first[r] = steps);
  let collapsed = 0, worstRun = -1, worst = Infinity, worstStep = 0;
  for (let r = 0; r < runs; r++) {
    const low = lowest[r], at = first[r];
    if (low < limit) {
      collapsed++;
      if (low < worst) (worst = low), (worstRun = r), (worstStep = at);
    }
  }
  if (collapsed < COLLAPSE_RUN_FRACTION * runs) return undefined;
  return (
    `the weights collapsed in ${collapsed} of ${runs} runs: ESS below max(2, N/100) = ${fmt(limit)} at some step ` +
    `(run ${runOffset + worstRun}: ESS ${fmt(worst)} ${worstStep === steps ? 'at the final weight' : `at step ${worstStep + 1} of ${steps}`}); such runs rest on one or two particles — ` +
    `the observation may be far in the model's tails (the answer is then biased), or more particles are needed`
  );
}
