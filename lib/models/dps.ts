// Diffusion posterior sampling (DPS, Chung et al. 2023; docs/MATH.md §12) for a linear
// observation y = A x₀ + σ_y ε, with condiff's per-sample norm:
//   r = y − A x̂₀(x_t),   x_s = μ(x_t) + √v ξ + ζ Jᵀ Aᵀ r / ‖r‖
// with J = ∂x̂₀/∂x_t from one of the sources of §10. A heuristic: no weights, consistent for no
// ζ; the README measures its bias. Unweighted, every coordinate free; the random streams are
// those of replacement with no observed coordinate, so ζ = 0 is that sampler draw for draw.
import type { DriverRun, FeynmanKacModel, ModelRun, Step } from '../driver';
import { stepCoefficientsAsync } from '../kernel';
import type { KernelName } from '../schedules';
import type { LinearObservation } from '../observation';
import type { NativeMixture } from '../native';
import type { ScoreContext } from '../score';
import type { ScoreVjp } from './twisted';
import { tweedieJvpByDifferences } from '../jacobian';

export type DpsJacobian = 'exact' | 'vjp' | 'finite-difference' | 'identity';

export interface DpsSpec {
  kernel: KernelName;
  observation: LinearObservation;
  /** ζ ≥ 0. */
  zeta: number;
  jacobian: DpsJacobian;
  /** τ² of the identity Jacobian c_t = τ²/(α_t(τ² + λ_t)) (docs/MATH.md §10). */
  tau2: number;
  finalNoise: boolean;
  mixture?: NativeMixture;
  vjp?: ScoreVjp;
}

export function dpsModel(spec: DpsSpec): FeynmanKacModel {
  return { name: 'dps', weighted: false, start: (run) => startDps(run, spec) };
}

async function startDps(run: DriverRun, spec: DpsSpec): Promise<ModelRun> {
  const { ops, batch, threads, dim: D, rows } = run;
  const coefficients = await stepCoefficientsAsync(run.schedule, spec.kernel, run.grid, ops, run.checkpoint);
  const all = Int32Array.from({ length: D }, (_, k) => k), none = new Int32Array(0), noY = new Float32Array(0);
  const z = run.z as Float32Array;
  const n = rows * D;
  const s = run.f32(n) as Float32Array, mu = run.f32(n) as Float32Array, u = run.f32(n) as Float32Array, g = run.f32(n) as Float32Array;
  const obs = spec.observation, row = new Float64Array(D);

  /** u = Aᵀ r / ‖r‖ per row, r = y − A x̂₀ (u = 0 where r = 0). */
  const direction = (alpha: number, s2: number) => {
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < D; k++) row[k] = (z[r * D + k] + s2 * s[r * D + k]) / alpha;
      const res = obs.apply(row);
      let norm = 0;
      for (let i = 0; i < res.length; i++) {
        res[i] = obs.y[i] - res[i];
        norm += res[i] * res[i];
      }
      norm = Math.sqrt(norm);
      const back = obs.applyT(res);
      for (let k = 0; k < D; k++) u[r * D + k] = norm > 0 ? back[k] / norm : 0;
    }
  };

  /** g = Jᵀ u by the spec's source (z, s current). */
  const jacobianT = async (step: Step, alpha: number, sigma: number): Promise<Float32Array> => {
    const s2 = sigma * sigma;
    switch (spec.jacobian) {
      case 'identity': {
        // J ≈ c_t I, c_t = τ²/(α_t(τ² + λ_t)): §10's Jacobian-free source, exact for a N(·, τ² I) prior.
        const c = spec.tau2 / (alpha * (spec.tau2 + s2 / (alpha * alpha)));
        for (let k = 0; k < n; k++) g[k] = c * u[k];
        return g;
      }
      case 'exact': {
        const bad = await spec.mixture!.vjp(z, alpha, s2, g, threads, u);
        if (bad >= 0) throw new RangeError(`the mixture's Jacobian product must be finite ${step.where}, got ${g[bad]} at row ${Math.floor(bad / D)}`);
        return g;
      }
      case 'vjp': {
        const context: ScoreContext = { t: step.t, alpha, sigma, rows, dim: D, rowOffset: 0, condition: run.condition };
        const out = await run.raceAbort(Promise.resolve(spec.vjp!(z, step.t, u.slice(), context)));
        if (!(out instanceof Float32Array) || out.length !== n) throw new TypeError(`the score model's vjp must return a Float32Array of ${n} values (rows x D) ${step.where}`);
        // Jᵀu = (u + σ_t² (∂s/∂z)ᵀ u) / α_t (docs/MATH.md §10).
        for (let k = 0; k < n; k++) g[k] = (u[k] + s2 * out[k]) / alpha;
        return g;
      }
      case 'finite-difference':
        return tweedieJvpByDifferences(z, u, alpha, sigma, rows, D, async (x) => (await run.score(x, step.t, step.where)) as Float32Array);
    }
  };

  return {
    initial: async () => {
      await ops.initState(batch, all, none, noY, run.stream(run.steps, 'initial'), z, threads);
    },
    move: async (step) => {
      const c = coefficients[step.index - 1];
      const alpha = Math.exp(run.schedule.logAlpha(step.t)), sigma = Math.sqrt(run.schedule.sigma2(step.t));
      s.set((await run.score(z, step.t, step.where)) as Float32Array);
      const bad = await ops.kernelMean(z, s, c.a, c.b, mu, threads);
      if (bad >= 0) throw new RangeError(`the kernel mean must be finite ${step.where}, got ${mu[bad]} at row ${Math.floor(bad / D)} (the score overflows float32)`);
      if (spec.zeta > 0) {
        direction(alpha, sigma * sigma);
        const grad = await jacobianT(step, alpha, sigma);
        for (let k = 0; k < n; k++) mu[k] += spec.zeta * grad[k];
      }
      const scale = step.last && !spec.finalNoise ? 0 : Math.sqrt(c.v);
      await ops.propagate(batch, all, none, mu, null, scale, noY, run.stream(step.index, 'kernelNoise'), z, threads);
    },
  };
}
