// The twisted diffusion sampler (TDS, Wu et al. 2023; docs/MATH.md §10) for observations
// y = x₀[M] + σ_y ε of the whole state. Each particle carries its state x_t, the score at
// x_t and the twist log p̃_t(y | x_t) = Σ_{k∈M} log N(y_k; x̂₀(x_t)_k, σ_y² + ρ_t), with
// Tweedie's x̂₀ = (x_t + σ_t² s_t(x_t)) / α_t and ρ_t = λ_t τ² / (λ_t + τ²), λ_t = σ_t²/α_t².
//
//   initial   x_T ~ N(0, I), log w = log p̃_T(y | x_T)
//   t → s > 0 propose x_s ~ q = N(μ̃, v I), μ̃ = a x_t + b (s_t + g): the kernel mean with the
//             score shifted by the twist's gradient g = Jᵀ u, u = Aᵀ Σ_t⁻¹ (y − A x̂₀), which
//             for both kernels is μ + c g with c = b (Euler: c = v; DDPM: c = σ²_{t|s}/α_{t|s});
//             log w = log K/q + log p̃_s(y | x_s) − log p̃_t(y | x_t),
//             log K/q = (x_s − (μ + μ̃)/2) · (μ − μ̃) / v
//   last      x₀ = μ(x_{t₁}), untwisted and deterministic (σ_y = 0: x₀[M] = y), weighed once at
//             the end and never resampled: log N(y; x₀[M], σ_y²) − log p̃_{t₁}, or with σ_y = 0
//             log N(y; μ[M], v_nom) − log p̃_{t₁}.
// The weights telescope to p(y | x₀) Π K/q, so Ẑ is unbiased for p_θ(y) and the particles
// are consistent for p_θ(x₀ | y) with any twist and any g, as long as q is what was sampled.
//
// The model proposes inside `weigh` (the score at the proposal is the next twist) and applies
// the ancestors in `move`; the state, its score and its twist are gathered together. It runs on
// the CPU backend: the per-particle arithmetic below reads and writes host arrays.
import type { DriverRun, FeynmanKacModel, ModelRun, Step } from '../driver';
import type { StepCoefficients } from '../kernel';
import { stepCoefficientsAsync } from '../kernel';
import type { KernelName } from '../schedules';
import type { NativeMixture } from '../native';
import type { ScoreContext } from '../score';

/** Where the twist's gradient g = Jᵀu comes from (docs/MATH.md §10). */
export type TwistGradient = 'exact' | 'vjp' | 'finite-difference' | 'identity' | 'none';

/** What a log-likelihood callback sees besides the points: their count and dimension, and the run's signal. */
export interface LikelihoodContext {
  rows: number;
  dim: number;
  /** The schedule time whose x̂₀ is evaluated (0 at the end). */
  t: number;
  signal?: AbortSignal;
}

/**
 * log p(y | x) and its gradient in x for every row of x (rows × D): value (rows, float64) and
 * gradient (rows × D). tds evaluates it at Tweedie's x̂₀(x_t) for the twist and at x₀ for the
 * final weight.
 */
export type LogLikelihood = (
  x: Float32Array,
  context: LikelihoodContext,
) => { value: Float64Array; gradient: Float32Array } | Promise<{ value: Float64Array; gradient: Float32Array }>;

/** (∂s_t/∂z)ᵀ u for every row: the score model's vector–Jacobian product. */
export type ScoreVjp = (z: Float32Array, t: number, u: Float32Array, context: ScoreContext) => Float32Array | Promise<Float32Array>;

export interface TwistedSpec {
  kernel: KernelName;
  /** Observed coordinates M and their values y. */
  observed: Int32Array;
  values: Float64Array;
  /** σ_y ≥ 0. */
  noiseStd: number;
  /** τ² of ρ_t = λ_t τ² / (λ_t + τ²) and of the identity gradient's c_t. */
  tau2: number;
  gradient: TwistGradient;
  /** For 'exact': the Gaussian mixture's native model (its vjp, native/core/mixture_vjp.h). */
  mixture?: NativeMixture;
  /** For 'vjp'. */
  vjp?: ScoreVjp;
  /** A general likelihood instead of the mask observation (observed then empty). */
  likelihood?: LogLikelihood;
  signal?: AbortSignal;
}

const LOG_2PI = Math.log(2 * Math.PI);

/** Score evaluations per particle of a run: one per step (the first at x_T), two more per step for finite differences. */
export function twistedScoreEvaluations(steps: number, gradient: TwistGradient): number {
  // x_T, then one at every proposal x_s with s > 0; the last step (to x₀) needs none.
  const base = steps;
  return gradient === 'finite-difference' ? base + 2 * (steps - 1) : base;
}

export function twistedModel(spec: TwistedSpec): FeynmanKacModel {
  return {
    name: 'tds',
    weighted: true,
    start: (run) => startTwisted(run, spec),
  };
}

async function startTwisted(run: DriverRun, spec: TwistedSpec): Promise<ModelRun> {
  const { ops, batch, threads, dim: D, rows, particles: N, runs } = run;
  const M = spec.observed, y = spec.values, dY = M.length;
  const sy2 = spec.noiseStd * spec.noiseStd;
  const coefficients: StepCoefficients[] = await stepCoefficientsAsync(run.schedule, spec.kernel, run.grid, ops, run.checkpoint);
  const all = Int32Array.from({ length: D }, (_, k) => k);
  const none = new Int32Array(0);
  const noY = new Float32Array(0);

  const z = run.z as Float32Array;
  const sc = run.f32(rows * D) as Float32Array; // the score at z
  const mu = run.f32(rows * D) as Float32Array;
  const mut = run.f32(rows * D) as Float32Array;
  const g = run.f32(rows * D) as Float32Array;
  const tmp = run.f32(rows * D) as Float32Array;
  const lpt = new Float64Array(rows); // log p̃_t(y | z) at the current time
  // u = Aᵀ Σ_t⁻¹ (y − A x̂₀) (mask) or ∇ log p(y | x̂₀) (likelihood), rows × D: what g = Jᵀu is applied to.
  const u = new Float64Array(rows * D);
  const xhat = spec.likelihood ? new Float32Array(rows * D) : undefined;
  const uf = new Float32Array(spec.gradient === 'exact' ? rows * D : 0);
  const lps = new Float64Array(rows);
  const increment = run.increment as Float64Array;
  const global = new Int32Array(rows);

  const alphaAt = (t: number) => Math.exp(run.schedule.logAlpha(t));
  const rhoAt = (t: number) => {
    const a = alphaAt(t), lambda = run.schedule.sigma2(t) / (a * a);
    return Number.isFinite(lambda) ? (lambda * spec.tau2) / (lambda + spec.tau2) : spec.tau2;
  };

  /** The score at `state` (time t) into `out`. */
  const scoreInto = async (state: Float32Array, t: number, out: Float32Array, where: string) => {
    out.set((await run.score(state, t, where)) as Float32Array);
  };

  /** The callback's value and gradient at `x`, checked (what it returns is the user's). */
  const likelihoodAt = async (x: Float32Array, t: number, where: string) => {
    const r = await spec.likelihood!(x, { rows, dim: D, t, signal: spec.signal });
    if (typeof r !== 'object' || r === null || !(r.value instanceof Float64Array) || r.value.length !== rows || !(r.gradient instanceof Float32Array) || r.gradient.length !== rows * D) {
      throw new TypeError(`the likelihood must return { value: Float64Array(${rows}), gradient: Float32Array(${rows * D}) } (rows, rows x D) ${where}, got ${describeLikelihood(r)}`);
    }
    for (let k = 0; k < rows; k++) {
      if (Number.isNaN(r.value[k]) || r.value[k] === Infinity) throw new RangeError(`the likelihood's value must be finite or -Infinity ${where}, got ${r.value[k]} at row ${k}`);
    }
    for (let k = 0; k < rows * D; k++) {
      if (!Number.isFinite(r.gradient[k])) throw new RangeError(`the likelihood's gradient must be finite ${where}, got ${r.gradient[k]} at row ${Math.floor(k / D)}`);
    }
    return r;
  };

  /** log p̃_t(y | x) per row from x and its score, into `out`; with `residual`, also u. */
  const twist = async (x: Float32Array, s: Float32Array, t: number, out: Float64Array, where: string, residual = false) => {
    const a = alphaAt(t), s2 = run.schedule.sigma2(t);
    if (spec.likelihood) {
      // The twist is the likelihood itself at Tweedie's x̂₀.
      for (let k = 0; k < rows * D; k++) xhat![k] = (x[k] + s2 * s[k]) / a;
      const r = await likelihoodAt(xhat!, t, where);
      out.set(r.value);
      if (residual) u.set(r.gradient);
      return;
    }
    const variance = sy2 + rhoAt(t);
    const norm = -0.5 * dY * (LOG_2PI + Math.log(variance));
    for (let r = 0; r < rows; r++) {
      let q = 0;
      for (let i = 0; i < dY; i++) {
        const k = r * D + M[i];
        const e = y[i] - (x[k] + s2 * s[k]) / a;
        q += e * e;
        if (residual) u[k] = e / variance;
      }
      out[r] = norm - q / (2 * variance);
    }
  };

  /** g = Jᵀ Aᵀ u for every row, by the spec's source, at time t (z and sc current). */
  const gradient = async (t: number, where: string) => {
    const a = alphaAt(t), s2 = run.schedule.sigma2(t);
    g.fill(0);
    switch (spec.gradient) {
      case 'none':
        return;
      case 'identity': {
        // J ≈ c_t I, exact for a N(·, τ² I) prior (docs/MATH.md §10).
        const lambda = s2 / (a * a);
        const c = spec.tau2 / (a * (spec.tau2 + lambda));
        for (let k = 0; k < rows * D; k++) g[k] = c * u[k];
        return;
      }
      case 'exact': {
        uf.set(u);
        const bad = await spec.mixture!.vjp(z, a, s2, g, threads, uf);
        if (bad >= 0) throw new RangeError(`the mixture's twist gradient must be finite ${where}, got ${g[bad]} at row ${Math.floor(bad / D)}`);
        return;
      }
      case 'vjp': {
        // Jᵀu = (u + σ_t² (∂s/∂z)ᵀ u) / α_t.
        const full = Float32Array.from(u);
        const context: ScoreContext = { t, alpha: a, sigma: Math.sqrt(s2), rows, dim: D, rowOffset: 0 };
        const out = await spec.vjp!(z, t, full, context);
        if (!(out instanceof Float32Array) || out.length !== rows * D) {
          throw new TypeError(`the score model's vjp must return a Float32Array of ${rows * D} values (rows x D) ${where}, got ${describeResult(out)}`);
        }
        for (let k = 0; k < rows * D; k++) {
          const v = (full[k] + s2 * out[k]) / a;
          if (!Number.isFinite(v)) throw new RangeError(`the score model's vjp must be finite ${where}, got ${out[k]} at row ${Math.floor(k / D)}`);
          g[k] = v;
        }
        return;
      }
      case 'finite-difference': {
        // Central difference of x̂₀ along u: [x̂₀(z + εu) − x̂₀(z − εu)] / 2ε = J u, which is Jᵀu
        // for a conservative score. The step moves z by h = 10⁻² σ_t: well above float32's
        // rounding of the score, well below the scale on which p_t changes.
        const h = 1e-2 * Math.sqrt(s2);
        const eps = new Float64Array(rows);
        for (let r = 0; r < rows; r++) {
          let n2 = 0;
          for (let k = r * D; k < (r + 1) * D; k++) n2 += u[k] ** 2;
          eps[r] = n2 > 0 ? h / Math.sqrt(n2) : 0;
        }
        for (const sign of [1, -1]) {
          tmp.set(z);
          for (let k = 0; k < rows * D; k++) tmp[k] += sign * eps[Math.floor(k / D)] * u[k];
          const s = (await run.score(tmp, t, where)) as Float32Array;
          for (let r = 0; r < rows; r++) {
            if (eps[r] === 0) continue;
            const f = sign / (2 * eps[r] * a);
            for (let k = r * D; k < (r + 1) * D; k++) g[k] += f * (tmp[k] + s2 * s[k]);
          }
        }
        return;
      }
    }
  };

  /** Gathers z, its score and its twist by the ancestors (per-run indices). */
  const select = async (ancestors: Int32Array) => {
    for (let r = 0; r < runs; r++) for (let k = 0; k < N; k++) global[r * N + k] = r * N + ancestors[r * N + k];
    await ops.gatherRowsAsync(z, D, global, tmp, threads);
    z.set(tmp);
    await ops.gatherRowsAsync(sc, D, global, tmp, threads);
    sc.set(tmp);
    for (let k = 0; k < rows; k++) lps[k] = lpt[global[k]];
    lpt.set(lps);
  };

  return {
    initial: async () => {
      await ops.initState(batch, all, none, noY, run.stream(run.steps, 'initial'), z, threads);
      await scoreInto(z, run.grid[run.steps], sc, 'at the initial draw');
      await twist(z, sc, run.grid[run.steps], lpt, 'at the initial draw');
    },
    initialWeight: async () => {
      increment.set(lpt);
    },
    select: (ancestors) => select(ancestors as Int32Array),
    weigh: async (step: Step) => {
      if (step.last) {
        // The last step is weighed once it has moved (finalWeight), never resampled.
        increment.fill(0);
        return;
      }
      const c = coefficients[step.index - 1];
      await twist(z, sc, step.t, lpt, step.where, true);
      await gradient(step.t, step.where);
      for (let k = 0; k < rows * D; k++) {
        mu[k] = c.a * z[k] + c.b * sc[k];
        mut[k] = mu[k] + c.b * g[k];
        if (!Number.isFinite(mut[k])) {
          throw new RangeError(`the twisted proposal mean must be finite ${step.where}, got ${mut[k]} at row ${Math.floor(k / D)} (the score or the twist gradient overflows float32)`);
        }
      }
      await ops.propagate(batch, all, none, mut, null, Math.sqrt(c.v), noY, run.stream(step.index, 'kernelNoise'), z, threads);
      await scoreInto(z, step.s, sc, step.where);
      await twist(z, sc, step.s, lps, step.where);
      for (let r = 0; r < rows; r++) {
        let kq = 0;
        for (let k = r * D; k < (r + 1) * D; k++) kq += (z[k] - 0.5 * (mu[k] + mut[k])) * (mu[k] - mut[k]);
        increment[r] = kq / c.v + lps[r] - lpt[r];
      }
      lpt.set(lps);
    },
    move: async (step: Step, ancestors) => {
      if (ancestors) await select(ancestors as Int32Array);
      if (!step.last) return;
      const c = coefficients[0];
      for (let k = 0; k < rows * D; k++) z[k] = c.a * z[k] + c.b * sc[k];
      const bad = await ops.firstNonFinite(z, threads);
      if (bad >= 0) throw new RangeError(`the kernel mean must be finite ${step.where}, got ${z[bad]} at row ${Math.floor(bad / D)} (the score overflows float32)`);
      // x₀ before the observed coordinates are set: the noiseless final weight needs μ[M].
      mu.set(z);
      if (sy2 === 0) for (let r = 0; r < rows; r++) for (let i = 0; i < dY; i++) z[r * D + M[i]] = y[i];
    },
    finalWeight: async () => {
      if (spec.likelihood) {
        const r = await likelihoodAt(z, 0, 'at the final weight');
        for (let k = 0; k < rows; k++) increment[k] = r.value[k] - lpt[k];
        return;
      }
      // σ_y > 0: the true likelihood at x₀; σ_y = 0: the density of y under the last step
      // taken with the nominal variance (docs/MATH.md §2, §10).
      const variance = sy2 > 0 ? sy2 : coefficients[0].weightVariance;
      const norm = -0.5 * dY * (LOG_2PI + Math.log(variance));
      for (let r = 0; r < rows; r++) {
        let q = 0;
        for (let i = 0; i < dY; i++) q += (y[i] - mu[r * D + M[i]]) ** 2;
        increment[r] = norm - q / (2 * variance) - lpt[r];
      }
    },
  };
}

function describeLikelihood(v: unknown): string {
  if (typeof v !== 'object' || v === null) return v === null ? 'null' : typeof v;
  const o = v as { value?: unknown; gradient?: unknown };
  return `{ value: ${describeResult(o.value)}, gradient: ${describeResult(o.gradient)} }`;
}

function describeResult(v: unknown): string {
  if (v instanceof Float32Array) return `a Float32Array of ${v.length}`;
  if (v === null) return 'null';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v;
}
