// Classifier-free guidance corrected by weights (docs/MATH.md §12): the bootstrap filter of
// the conditional model (scale 1) whose particles move with the guided kernel K_w. Each step
// t → s > 0 proposes X_s ~ K_w = N(μ_w, v I), μ_w the kernel mean at s̃ = (1 − w) s_∅ + w s_c,
// and weighs by
//   log G = log N(Y_s; μ_1,Y, v) + log K_1(X_s)/K_w(X_s),
//   log K_1/K_w = Σ_{k ∈ latent} (x_k − (μ_1,k + μ_w,k)/2)(μ_1,k − μ_w,k)/v   (the fused form, §5b)
// with μ_1 the kernel mean at s_c. The deterministic last step moves to μ_1 itself (a ratio of
// Diracs is no weight, §10), so the particles target the conditional model's chain for any w.
// Both predictions come from one call of twice the rows (CfgScore.pairAt). CPU backend.
import type { FeynmanKacModel, ModelRun, Step } from '../driver';
import type { ScoreContext } from '../score';
import type { CfgScore } from '../guidance';
import { backwardKernel, BackwardKernelSpec } from './backward-kernel';

export function cfgWeightedModel(spec: BackwardKernelSpec, guide: CfgScore): FeynmanKacModel {
  return {
    name: 'smc',
    weighted: true,
    async start(run): Promise<ModelRun> {
      const kernel = await backwardKernel(run, spec);
      kernel.coefficients.forEach((c, i) => {
        if (!(c.weightVariance > 0)) throw new RangeError(`the kernel variance must be positive to weight particles, got ${c.weightVariance} at step ${kernel.coefficients.length - i}`);
      });
      const { ops, batch, threads, dim: D, rows, particles: N, runs } = run;
      const z = run.z as Float32Array;
      const n = rows * D;
      const mu1 = run.f32(n) as Float32Array;
      const muw = run.f32(n) as Float32Array;
      const guided = run.f32(n) as Float32Array;
      const tmp = run.f32(n) as Float32Array;
      const increment = run.increment as Float64Array;
      const global = new Int32Array(rows);
      const latent = spec.latent;

      const mean = async (s: Float32Array, a: number, b: number, out: Float32Array, step: Step) => {
        const bad = await ops.kernelMean(z, s, a, b, out, threads);
        if (bad >= 0) throw await kernel.meanError(step.where, out, bad);
      };

      return {
        initial: kernel.initial,
        weigh: async (step) => {
          run.checkAbort();
          const c = kernel.coefficients[step.index - 1];
          const t = step.t;
          const context: ScoreContext = {
            t, alpha: Math.exp(run.schedule.logAlpha(t)), sigma: Math.sqrt(run.schedule.sigma2(t)), rows, dim: D, rowOffset: 0, condition: run.condition,
          };
          const pair = await guide.pairAt(z, context, threads);
          await mean(pair.subarray(0, n), c.a, c.b, mu1, step);
          await ops.gaussianYLogWeights(batch, spec.observed, mu1, await kernel.contextAt(step.index - 1), c.weightVariance, increment, threads);
          if (step.last) {
            // Untwisted: the conditional kernel itself (deterministic unless finalNoise).
            await kernel.propagate(step, mu1, null);
            return;
          }
          guide.combine(pair, rows, D, guided);
          await mean(guided, c.a, c.b, muw, step);
          await kernel.propagate(step, muw, null);
          for (let r = 0; r < rows; r++) {
            let acc = 0;
            for (const k of latent) {
              const i = r * D + k;
              acc += (z[i] - 0.5 * (mu1[i] + muw[i])) * (mu1[i] - muw[i]);
            }
            increment[r] += acc / c.v;
          }
        },
        move: async (_step, ancestors) => {
          if (!ancestors) return;
          const anc = ancestors as Int32Array;
          for (let r = 0; r < runs; r++) for (let k = 0; k < N; k++) global[r * N + k] = r * N + anc[r * N + k];
          await ops.gatherRowsAsync(z, D, global, tmp, threads);
          z.set(tmp);
        },
      };
    },
  };
}
