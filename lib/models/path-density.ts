// The density of given Z paths under the discretised backward model (docs/MATH.md §11):
//     log p_θ(Z_{0:S}) = log N(Z_T; 0, I) + Σ_i log N(Z_{t_{i−1}}; μ(Z_{t_i}), v_i I),
// with v_nom at the last step, for the exact Metropolis–Hastings path refresh. One
// unweighted particle per path; each step sets the particle to the path's value at t, takes
// the kernel mean there (one batched score call) and adds the density of the path's next
// value. No random numbers.
import type { FeynmanKacModel, Step } from '../driver';
import { backwardKernel } from './backward-kernel';
import { KernelName } from '../schedules';

const LOG_2PI = Math.log(2 * Math.PI);

export interface PathDensitySpec {
  kernel: KernelName;
  latent: Int32Array;
  observed: Int32Array;
  /** The full Z paths, (S + 1) × runs × D by grid index. */
  path: Float32Array;
  /** Written: log p_θ(Z_{0:S}) per run (Gaussian constants kept). */
  out: Float64Array;
}

export function pathDensityModel(spec: PathDensitySpec): FeynmanKacModel {
  return {
    name: 'path-density',
    weighted: false,
    async start(run) {
      if (run.backend.name !== 'cpu') throw new RangeError(`the path density runs on the 'cpu' backend, got '${run.backend.name}'`);
      const { runs: K, dim: D, steps: S } = run;
      if (run.particles !== 1) throw new RangeError(`the path density takes one particle per path, got ${run.particles}`);
      if (spec.path.length !== (S + 1) * K * D) throw new RangeError(`path must hold (steps + 1) x runs x dimension = ${(S + 1) * K * D} values, got ${spec.path.length}`);
      if (spec.out.length !== K) throw new RangeError(`out must hold one value per run (${K}), got ${spec.out.length}`);
      const dY = spec.observed.length;
      // The kernel's context is the paths' own Y block (the mean reads z, which holds it).
      const yPath = new Float32Array((S + 1) * K * dY);
      for (let g = 0; g <= S; g++) for (let r = 0; r < K; r++) for (let j = 0; j < dY; j++) yPath[(g * K + r) * dY + j] = spec.path[(g * K + r) * D + spec.observed[j]];
      const kernel = await backwardKernel(run, { kernel: spec.kernel, latent: spec.latent, observed: spec.observed, context: { kind: 'path', path: yPath }, finalNoise: true });
      const z = run.z as Float32Array;
      const out = spec.out;
      const at = (g: number) => spec.path.subarray(g * K * D, (g + 1) * K * D);
      return {
        initial: async () => {
          z.set(at(S));
          for (let r = 0; r < K; r++) {
            let q = 0;
            for (let c = 0; c < D; c++) q += z[r * D + c] * z[r * D + c];
            out[r] = -0.5 * (q + D * LOG_2PI);
          }
        },
        move: async (step: Step) => {
          const i = step.index;
          const v = kernel.coefficients[i - 1].weightVariance;
          if (!(v > 0)) throw new RangeError(`the kernel variance must be positive for a path density, got ${v} ${step.where}`);
          const mu = (await kernel.mean(step)) as Float32Array;
          const next = at(i - 1);
          for (let r = 0; r < K; r++) {
            let q = 0;
            for (let c = 0; c < D; c++) {
              const d = next[r * D + c] - mu[r * D + c];
              q += d * d;
            }
            out[r] += -q / (2 * v) - 0.5 * D * Math.log(2 * Math.PI * v);
          }
          z.set(next);
        },
      };
    },
  };
}
