// The backward kernel's coefficients for each step of a grid (MATH.md §2): the kernel mean
// a z + b s(z), its variance v, and the variance a filter weights with.
import { native, NativeAddon } from './native';
import { Schedule, KernelName } from './schedules';

export interface StepCoefficients {
  a: number;
  b: number;
  v: number;
  /** Variance for the weight: v, or at a DDPM last step (v = 0) the previous step's v (MATH.md §2). */
  weightVariance: number;
  /** alpha_{t|s} and sigma^2_{t|s} of the step (MATH.md §1). */
  alphaTs: number;
  sigma2Ts: number;
}

/** The kernel coefficients of one step s → t (MATH.md §2), weightVariance = v until the last-step rule. */
function stepCoefficient(schedule: Schedule, kernel: KernelName, s: number, t: number, ops: Pick<NativeAddon, 'kernelCoefficients' | 'codes'>): StepCoefficients {
  const tr = schedule.transition(s, t);
  const euler = kernel === 'euler';
  const q = Float64Array.of(
    Math.exp(schedule.logAlpha(t)),
    schedule.sigma2(t),
    Math.exp(schedule.logAlpha(s)),
    schedule.sigma2(s),
    tr.alpha,
    tr.sigma2,
    t - s,
    euler ? schedule.drift(t) : 0,
    euler ? schedule.diffusion2(t) : 0,
  );
  const [a, b, v] = ops.kernelCoefficients(ops.codes.kernels[kernel], q);
  return { a, b, v, weightVariance: v, alphaTs: tr.alpha, sigma2Ts: tr.sigma2 };
}

// MATH.md §2, "the last step": DDPM's v vanishes at s = 0; its weight uses the previous step's v.
function lastStepRule(out: StepCoefficients[]): StepCoefficients[] {
  for (let i = 0; i < out.length; i++) {
    if (!(out[i].v > 0)) out[i].weightVariance = i + 1 < out.length ? out[i + 1].weightVariance : out[i].v;
  }
  return out;
}

/** Kernel coefficients for every step i = 1..S (index i - 1), from the native formula of MATH.md §2. */
export function stepCoefficients(
  schedule: Schedule,
  kernel: KernelName,
  grid: Float64Array,
  ops: Pick<NativeAddon, 'kernelCoefficients' | 'codes'> = native,
): StepCoefficients[] {
  const out: StepCoefficients[] = [];
  for (let i = 1; i < grid.length; i++) out.push(stepCoefficient(schedule, kernel, grid[i - 1], grid[i], ops));
  return lastStepRule(out);
}

/**
 * stepCoefficients for a run: `pause` is awaited every 4096 steps, so a long grid's setup
 * gives the event loop its turns and can be aborted (the driver's run.checkpoint).
 */
export async function stepCoefficientsAsync(
  schedule: Schedule,
  kernel: KernelName,
  grid: Float64Array,
  ops: Pick<NativeAddon, 'kernelCoefficients' | 'codes'>,
  pause: () => Promise<void>,
): Promise<StepCoefficients[]> {
  const out: StepCoefficients[] = [];
  for (let i = 1; i < grid.length; i++) {
    if (i % 4096 === 0) await pause();
    out.push(stepCoefficient(schedule, kernel, grid[i - 1], grid[i], ops));
  }
  return lastStepRule(out);
}
