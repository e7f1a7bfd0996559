// The bootstrap particle filter (SMCDiff, MATH.md §3, Algorithm 3): the backward kernel
// on X, weighted by where each particle's kernel mean puts the Y block against the
// context path, log G = log N(Y_s; mu_Y(Z_t), v I), then resampled and moved from
// mu_X[ancestor].
import type { FeynmanKacModel, FusedStepStatus } from '../driver';
import type { F32Array } from '../backend';
import { backwardKernel, BackwardKernelSpec } from './backward-kernel';

export type BootstrapSpec = BackwardKernelSpec;

export function bootstrapModel(spec: BootstrapSpec): FeynmanKacModel {
  return {
    name: 'smc',
    weighted: true,
    async start(run) {
      const kernel = await backwardKernel(run, spec);
      for (let i = 0; i < kernel.coefficients.length; i++) {
        if (!(kernel.coefficients[i].weightVariance > 0)) {
          throw new RangeError(`the kernel variance must be positive to weight particles, got ${kernel.coefficients[i].weightVariance} at step ${kernel.coefficients.length - i}`);
        }
      }
      const { ops, batch, threads } = run;
      let mu: F32Array | undefined;
      const fused = run.backend.smcStep;
      return {
        initial: kernel.initial,
        weigh: async (step) => {
          mu = await kernel.mean(step);
          const c = kernel.coefficients[step.index - 1];
          await ops.gaussianYLogWeights(batch, spec.observed, mu, await kernel.contextAt(step.index - 1), c.weightVariance, run.increment, threads);
        },
        move: async (step, ancestors) => kernel.propagate(step, mu ?? (await kernel.mean(step)), ancestors),
        // On the CPU: kernel mean, weights, reweighting, resampling and move in one native job,
        // the same bytes as the separate operations.
        fusedStep: fused
          ? async (step, f): Promise<FusedStepStatus> => {
              const c = kernel.coefficients[step.index - 1];
              const m = run.work as Float32Array;
              // The built-in mixture is scored inside the step, each run's rows where they are
              // used; any other model first, into `work`.
              const mixture = run.nativeMixture;
              const g = mixture ? m : await run.score(run.z, step.t, step.where);
              const level = mixture?.level(step.t);
              const r = await fused(
                batch, spec.latent, spec.observed, run.z as Float32Array, g as Float32Array, c.a, c.b, m, await kernel.contextAt(step.index - 1),
                c.weightVariance, run.logWeights as Float64Array, run.increment as Float64Array, f.essThreshold, f.evidenceIncrement,
                f.ess, f.flags, ops.codes.schemes[f.scheme], f.resamplingStream, f.scratch as Float64Array, f.ancestors as Int32Array,
                kernel.noiseScale(step), run.stream(step.index, 'kernelNoise'), threads, mixture?.core, level?.alpha, level?.sigma2,
              );
              if (r.status === 'score-not-finite') throw run.nonFiniteScore(m[r.index], r.index, step.where);
              if (r.status === 'kernel-mean-not-finite') throw await kernel.meanError(step.where, m, r.index);
              if (r.status === 'ok') return { status: 'ok' };
              return { status: r.status, run: r.index };
            }
          : undefined,
      };
    },
  };
}
