// The part every diffusion model of the seed shares (MATH.md §2, §3): particles Z = [X, Y]
// whose Y block is pinned to a context, an initial draw X_T ~ N(0, I), and the backward
// kernel's mean a z + b s(z) and move X_s = mu_X[ancestor] + sqrt(v) xi. Replacement and
// the bootstrap filter are built from it.
import type { DriverRun, Step } from '../driver';
import type { F32Array, I32Array } from '../backend';
import { KernelName } from '../schedules';
import { StepCoefficients, stepCoefficientsAsync } from '../kernel';
import type { CheckpointedContextPath } from '../context-path';

/**
 * The context Y_t per run: one runs × d_Y block for every t, a path (S + 1) × runs × d_Y by
 * grid index, or such a path kept in part and regenerated as the steps reach it (lib/context-path.ts).
 */
export type Context =
  | { kind: 'fixed'; values: Float32Array }
  | { kind: 'path'; path: Float32Array }
  | { kind: 'checkpointed'; path: CheckpointedContextPath };

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
  /** Y at grid index i, runs × d_Y: valid while only indices i − 1, i and i + 1 are asked for (lib/context-path.ts). */
  contextAt(i: number): Promise<Float32Array>;
  /** X_T ~ N(0, I) with Y_T from the context, into run.z. */
  initial(): Promise<void>;
  /** The kernel mean a z + b s(z) at Z_t into run.work (returned), checked finite. */
  mean(step: Step, where?: string): Promise<F32Array>;
  /** X_s = mu_X[ancestor] + noise, Y_s from the context, into run.z (purpose kernelNoise, or `purpose`/index). */
  propagate(step: Step, mu: F32Array, ancestors: I32Array | null, purpose?: 'kernelNoise' | 'repaintKernel', index?: number): Promise<void>;
  /**
   * mean then propagate without ancestors (replacement's step, purpose kernelNoise): on a
   * backend with a fused move step, one native job a block of rows at a time, the built-in
   * mixture scored inside it; the same bytes and errors either way.
   */
  meanAndMove(step: Step): Promise<void>;
  /** The kernel noise scale at this step: sqrt(v), or 0 at the last step unless finalNoise. */
  noiseScale(step: Step): number;
  /** The error for a non-finite kernel mean at flat index `bad` of mu. */
  meanError(where: string, mu: F32Array, bad: number): Promise<RangeError>;
}

export async function backwardKernel(run: DriverRun, spec: BackwardKernelSpec): Promise<BackwardKernel> {
  const { ops, batch, threads, dim: D } = run;
  const dY = spec.observed.length;
  const coefficients = await stepCoefficientsAsync(run.schedule, spec.kernel, run.grid, ops, run.checkpoint);
  const context = spec.context;
  const contextAt = async (i: number): Promise<Float32Array> => {
    if (context.kind === 'fixed') return context.values;
    if (context.kind === 'checkpointed') return context.path.at(i);
    return context.path.subarray(i * run.runs * dY, (i + 1) * run.runs * dY);
  };
  // A finite but huge score can overflow float32 in a z + b s.
  const meanError = async (where: string, mu: F32Array, bad: number) =>
    new RangeError(`the kernel mean must be finite ${where}, got ${(await run.backend.memory.readF32(mu))[bad]} at row ${Math.floor(bad / D)} (the score overflows float32)`);
  const noiseScale = (step: Step) => (step.last && !spec.finalNoise ? 0 : Math.sqrt(coefficients[step.index - 1].v));
  const mean = async (step: Step, where = step.where): Promise<F32Array> => {
    const c = coefficients[step.index - 1];
    const g = await run.score(run.z, step.t, where);
    const mu = run.work;
    const checked = await ops.kernelMean(run.z, g, c.a, c.b, mu, threads);
    const bad = run.backend.kernelMeanChecks ? checked : await ops.firstNonFinite(mu, threads);
    if (bad >= 0) throw await meanError(where, mu, bad);
    return mu;
  };
  const propagate = async (step: Step, mu: F32Array, ancestors: I32Array | null, purpose: 'kernelNoise' | 'repaintKernel' = 'kernelNoise', index = 0) => {
    await ops.propagate(batch, spec.latent, spec.observed, mu, ancestors, noiseScale(step), await contextAt(step.index - 1), run.stream(step.index, purpose, index), run.z, threads);
  };
  const fused = run.backend.moveStep;
  return {
    coefficients,
    contextAt,
    noiseScale,
    meanError,
    mean,
    propagate,
    meanAndMove: async (step) => {
      if (!fused) return propagate(step, await mean(step), null);
      const c = coefficients[step.index - 1];
      const m = run.work as Float32Array;
      // The built-in mixture is scored inside the step; any other model first, into `work`.
      const mixture = run.nativeMixture;
      const g = mixture ? m : await run.score(run.z, step.t, step.where);
      const level = mixture?.level(step.t);
      const r = await fused(
        batch, spec.latent, spec.observed, run.z as Float32Array, g as Float32Array, c.a, c.b, m, await contextAt(step.index - 1),
        noiseScale(step), run.stream(step.index, 'kernelNoise'), threads, mixture?.core, level?.alpha, level?.sigma2,
      );
      if (r.status === 'score-not-finite') throw run.nonFiniteScore(m[r.index], r.index, step.where);
      if (r.status === 'kernel-mean-not-finite') throw await meanError(step.where, m, r.index);
      if (r.status !== 'ok') throw new Error(`moveStep settled with status '${r.status}', which it never reports (a bug in condiff)`);
    },
    initial: async () => {
      await ops.initState(batch, spec.latent, spec.observed, await contextAt(run.steps), run.stream(run.steps, 'initial'), run.z, threads);
    },
  };
}
