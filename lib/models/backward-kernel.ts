// The part every diffusion model of the seed shares (MATH.md §2, §3): particles Z = [X, Y]
// whose Y block is pinned to a context, an initial draw X_T ~ N(0, I), and the backward
// kernel's mean a z + b s(z) and move X_s = mu_X[ancestor] + sqrt(v) xi. Replacement and
// the bootstrap filter are built from it.
import type { DriverRun, Step } from '../driver';
import type { F32Array, I32Array } from '../backend';
import { KernelName } from '../schedules';
import { StepCoefficients, stepCoefficientsAsync } from '../kernel';

/** The context Y_t per run: one runs × d_Y block for every t, or a path (S + 1) × runs × d_Y by grid index. */
export type Context = { kind: 'fixed'; values: Float32Array } | { kind: 'path'; path: Float32Array };

export interface BackwardKernelSpec {
  kernel: KernelName;
  latent: Int32Array;
  observed: Int32Array;
  context: Context;
  /** Keep the kernel noise at the last step (default: X moves to its mean, MATH.md §2). */
  finalNoise: boolean;
}

export interface BackwardKernel {
  readonly coefficients: StepCoefficients[];
  /** Y at grid index i, runs × d_Y. */
  contextAt(i: number): Float32Array;
  /** X_T ~ N(0, I) with Y_T from the context, into run.z. */
  initial(): Promise<void>;
  /** The kernel mean a z + b s(z) at Z_t into run.work (returned), checked finite. */
  mean(step: Step, where?: string): Promise<F32Array>;
  /** X_s = mu_X[ancestor] + noise, Y_s from the context, into run.z (purpose kernelNoise, or `purpose`/index). */
  propagate(step: Step, mu: F32Array, ancestors: I32Array | null, purpose?: 'kernelNoise' | 'repaintKernel', index?: number): Promise<void>;
  /** The kernel noise scale at this step: sqrt(v), or 0 at the last step unless finalNoise. */
  noiseScale(step: Step): number;
  /** The error for a non-finite kernel mean at flat index `bad` of mu. */
  meanError(where: string, mu: F32Array, bad: number): Promise<RangeError>;
}

export async function backwardKernel(run: DriverRun, spec: BackwardKernelSpec): Promise<BackwardKernel> {
  const { ops, batch, threads, dim: D } = run;
  const dY = spec.observed.length;
  const coefficients = await stepCoefficientsAsync(run.schedule, spec.kernel, run.grid, ops, run.checkpoint);
  const contextAt = (i: number): Float32Array =>
    spec.context.kind === 'fixed' ? spec.context.values : spec.context.path.subarray(i * run.runs * dY, (i + 1) * run.runs * dY);
  // A finite but huge score can overflow float32 in a z + b s.
  const meanError = async (where: string, mu: F32Array, bad: number) =>
    new RangeError(`the kernel mean must be finite ${where}, got ${(await run.backend.memory.readF32(mu))[bad]} at row ${Math.floor(bad / D)} (the score overflows float32)`);
  const noiseScale = (step: Step) => (step.last && !spec.finalNoise ? 0 : Math.sqrt(coefficients[step.index - 1].v));
  return {
    coefficients,
    contextAt,
    noiseScale,
    meanError,
    initial: async () => {
      await ops.initState(batch, spec.latent, spec.observed, contextAt(run.steps), run.stream(run.steps, 'initial'), run.z, threads);
    },
    mean: async (step, where = step.where) => {
      const c = coefficients[step.index - 1];
      const g = await run.score(run.z, step.t, where);
      const mu = run.work;
      const checked = await ops.kernelMean(run.z, g, c.a, c.b, mu, threads);
      const bad = run.backend.kernelMeanChecks ? checked : await ops.firstNonFinite(mu, threads);
      if (bad >= 0) throw await meanError(where, mu, bad);
      return mu;
    },
    propagate: async (step, mu, ancestors, purpose = 'kernelNoise', index = 0) => {
      await ops.propagate(batch, spec.latent, spec.observed, mu, ancestors, noiseScale(step), contextAt(step.index - 1), run.stream(step.index, purpose, index), run.z, threads);
    },
  };
}
