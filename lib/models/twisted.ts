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
// With weighted classifier-free guidance (docs/MATH.md §12) the state's score is the conditional
// model's s_c (its kernel K is the target's, its x̂₀ the twist's) and the proposal uses the guided
// s̃ = (1 − w) s_∅ + w s_c instead: μ̃ = a x_t + b (s̃ + g); log K/q above corrects for it, so the
// particles target the conditional model's chain for any w. Both predictions come from one call
// of twice the rows (CfgScore.pairAt).
//
// The model proposes inside `weigh` (the score at the proposal is the next twist) and applies
// the ancestors in `move`; the state, its score and its twist are gathered together. It runs on
// the CPU backend: the per-particle arithmetic below reads and writes host arrays.
import type { DriverRun, FeynmanKacModel, ModelRun, Step } from '../driver';
import type { StepCoefficients } from '../kernel';
import { stepCoefficientsAsync } from '../kernel';
import type { KernelName } from '../schedules';
import { native } from '../native';
import type { NativeMixture } from '../native';
import type { ScoreContext } from '../score';
import type { LinearObservation } from '../observation';
import type { CfgScore } from '../guidance';

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
  values: Float32Array;
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
  /**
   * A linear observation y = A x₀ + σ_y ε with σ_y > 0 and its thin SVD (observed then empty): the twist N(y; A x̂₀, σ_y² I + ρ_t AAᵀ) of docs/MATH.md §10 in A's basis.
   */
  linear?: LinearObservation;
  /** Weighted classifier-free guidance: propose with the guided score, target the conditional model. */
  cfg?: CfgScore;
  signal?: AbortSignal;
}

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
  // u = Aᵀ Σ_t⁻¹ (y − A x̂₀) (mask) or ∇ log p(y | x̂₀) (likelihood), rows × D: what g = Jᵀu is applied to.
  const u = run.f32(rows * D) as Float32Array;
  const fd = spec.gradient === 'finite-difference' ? (run.f32(rows * D) as Float32Array) : undefined;
  const cfg = spec.cfg;
  const guided = cfg ? (run.f32(rows * D) as Float32Array) : undefined; // s̃ at z (weighted CFG)
  const lpt = new Float64Array(rows); // log p̃_t(y | z) at the current time
  const lps = new Float64Array(rows);
  const increment = run.increment as Float64Array;
  const global = new Int32Array(rows);

  const alphaAt = (t: number) => Math.exp(run.schedule.logAlpha(t));
  const rhoAt = (t: number) => {
    const a = alphaAt(t), lambda = run.schedule.sigma2(t) / (a * a);
    return Number.isFinite(lambda) ? (lambda * spec.tau2) / (lambda + spec.tau2) : spec.tau2;
  };

  /** out = a x + b y elementwise (native), checked finite. */
  const combine = async (x: Float32Array, yv: Float32Array, a: number, b: number, out: Float32Array, what: string, where: string) => {
    const bad = await ops.kernelMean(x, yv, a, b, out, threads);
    if (bad >= 0) throw new RangeError(`${what} must be finite ${where}, got ${out[bad]} at row ${Math.floor(bad / D)} (the score or the twist gradient overflows float32)`);
  };

  /**
   * The score at `state` (time t) into `out`: the model's, or with weighted CFG the conditional
   * s_c, and then s̃ into `guidedOut` when given.
   */
  const scoreInto = async (state: Float32Array, t: number, out: Float32Array, where: string, guidedOut?: Float32Array) => {
    if (!cfg) {
      out.set((await run.score(state, t, where)) as Float32Array);
      return;
    }
    const a = alphaAt(t);
    const context: ScoreContext = { t, alpha: a, sigma: Math.sqrt(run.schedule.sigma2(t)), rows, dim: D, rowOffset: 0, condition: run.condition, signal: spec.signal };
    const pair = await run.raceAbort(cfg.pairAt(state, context, threads));
    out.set(pair.subarray(0, rows * D));
    if (guidedOut) cfg.combine(pair, rows, D, guidedOut);
  };

  /** The callback's value and gradient at `x`, checked (what it returns is the user's). */
  const likelihoodAt = async (x: Float32Array, t: number, where: string) => {
    const r = await run.raceAbort(Promise.resolve(spec.likelihood!(x, { rows, dim: D, t, signal: spec.signal })));
    if (typeof r !== 'object' || r === null || !(r.value instanceof Float64Array) || r.value.length !== rows || !(r.gradient instanceof Float32Array) || r.gradient.length !== rows * D) {
      throw new TypeError(`the likelihood must return { value: Float64Array(${rows}), gradient: Float32Array(${rows * D}) } (rows, rows x D) ${where}, got ${describeLikelihood(r)}`);
    }
    for (let k = 0; k < rows; k++) {
      if (Number.isNaN(r.value[k]) || r.value[k] === Infinity) throw new RangeError(`the likelihood's value must be finite or -Infinity ${where}, got ${r.value[k]} at row ${k}`);
    }
    const bad = await ops.firstNonFinite(r.gradient, threads);
    if (bad >= 0) throw new RangeError(`the likelihood's gradient must be finite ${where}, got ${r.gradient[bad]} at row ${Math.floor(bad / D)}`);
    return r;
  };

  // The linear observation in A's basis (docs/MATH.md §8, §10): with c = V_rᵀ x̂₀,
  //   log N(y; A x̂₀, σ_y² I + ρ AAᵀ) = Σ_i log N(ȳ_i; s_i c_i, σ_y² + ρ s_i²) + log N(y_⊥; 0, σ_y² I),
  //   ∇ = Σ_i v_i s_i (ȳ_i − s_i c_i) / (σ_y² + ρ s_i²).
  // At ρ = 0 it is the true likelihood, constants included (the final weight's).
  const lin = spec.linear;
  const linR = lin ? lin.svd!.rank : 0;
  const linIndex = Int32Array.from({ length: linR }, (_, i) => i);
  const linProj = lin ? new Float64Array(rows * linR) : new Float64Array(0);
  // ν_i = σ_y² + ρ s_i² (the twist; ρ = 0 at the end with σ_y > 0), or v s_i² (σ_y = 0: the
  // density of y under the last step taken with the nominal variance v, docs/MATH.md §10).
  const linearAt = async (xhat: Float32Array, rho: number, out: Float64Array, residual: boolean, lastVariance = 0) => {
    const svd = lin!.svd!, vt = svd.vt;
    if (vt) {
      await native.direct.svdProject(xhat, vt, linIndex, linProj, threads);
    } else {
      // An operator's SVD callbacks, row by row.
      for (let r = 0; r < rows; r++) linProj.set(svd.project(Float64Array.from(xhat.subarray(r * D, (r + 1) * D))), r * linR);
    }
    const nu = Array.from(svd.s, (si) => (lastVariance > 0 ? lastVariance * si * si : sy2 + rho * si * si));
    // y_⊥'s density: none without noise (y_⊥ = 0 is required then, and the density is the one of ȳ).
    let constant = sy2 > 0 ? -0.5 * (lin!.rows - linR) * Math.log(2 * Math.PI * sy2) - svd.yPerpNorm2 / (2 * sy2) : 0;
    for (let i = 0; i < linR; i++) constant -= 0.5 * Math.log(2 * Math.PI * nu[i]);
    const coef = new Float64Array(linR);
    for (let r = 0; r < rows; r++) {
      let q = 0;
      for (let i = 0; i < linR; i++) {
        const e = svd.ybar[i] - svd.s[i] * linProj[r * linR + i];
        q += (e * e) / nu[i];
        coef[i] = (svd.s[i] * e) / nu[i];
      }
      out[r] = constant - 0.5 * q;
      if (!residual) continue;
      if (!vt) {
        u.set(svd.lift(coef), r * D);
        continue;
      }
      for (let k = 0; k < D; k++) {
        let acc = 0;
        for (let i = 0; i < linR; i++) acc += vt[i * D + k] * coef[i];
        u[r * D + k] = acc;
      }
    }
  };

  /** log p̃_t(y | x) per row from x and its score, into `out`; with `residual`, also u. */
  const twist = async (x: Float32Array, s: Float32Array, t: number, out: Float64Array, where: string, residual = false) => {
    const a = alphaAt(t), s2 = run.schedule.sigma2(t);
    if (lin) {
      await combine(x, s, 1 / a, s2 / a, tmp, "Tweedie's x̂₀", where);
      await linearAt(tmp, rhoAt(t), out, residual);
      return;
    }
    if (spec.likelihood) {
      // The twist is the likelihood itself at Tweedie's x̂₀ = (x + σ² s) / α.
      await combine(x, s, 1 / a, s2 / a, tmp, "Tweedie's x̂₀", where);
      const r = await likelihoodAt(tmp, t, where);
      out.set(r.value);
      if (residual) u.set(r.gradient);
      return;
    }
    const bad = await native.direct.maskTwist(x, s, a, s2, M, y, sy2 + rhoAt(t), out, residual ? u : null, threads);
    if (bad >= 0) throw new RangeError(`Tweedie's x̂₀ must be finite ${where}, got a non-finite value at row ${bad} (the score overflows float32)`);
  };

  /** g = Jᵀ Aᵀ u for every row, by the spec's source, at time t (z and sc current). */
  const gradient = async (t: number, where: string): Promise<{ g: Float32Array; scale: number } | null> => {
    const a = alphaAt(t), s2 = run.schedule.sigma2(t);
    switch (spec.gradient) {
      case 'none':
        return null;
      case 'identity': {
        // J ≈ c_t I, exact for a N(·, τ² I) prior (docs/MATH.md §10): g = c_t u.
        const lambda = s2 / (a * a);
        return { g: u, scale: spec.tau2 / (a * (spec.tau2 + lambda)) };
      }
      case 'exact': {
        const bad = await spec.mixture!.vjp(z, a, s2, g, threads, u);
        if (bad >= 0) throw new RangeError(`the mixture's twist gradient must be finite ${where}, got ${g[bad]} at row ${Math.floor(bad / D)}`);
        return { g, scale: 1 };
      }
      case 'vjp': {
        // Jᵀu = (u + σ_t² (∂s/∂z)ᵀ u) / α_t.
        const context: ScoreContext = { t, alpha: a, sigma: Math.sqrt(s2), rows, dim: D, rowOffset: 0, signal: spec.signal };
        const out = await run.raceAbort(Promise.resolve(spec.vjp!(z, t, u.slice(), context)));
        if (!(out instanceof Float32Array) || out.length !== rows * D) {
          throw new TypeError(`the score model's vjp must return a Float32Array of ${rows * D} values (rows x D) ${where}, got ${describeResult(out)}`);
        }
        await combine(u, out, 1 / a, s2 / a, g, "the score model's vjp", where);
        return { g, scale: 1 };
      }
      case 'finite-difference': {
        // Central difference of x̂₀ along u: [x̂₀(z + ε u) − x̂₀(z − ε u)] / 2ε = J u, which is Jᵀu
        // for a conservative score. Per row, ε_r ‖u_r‖ = 10⁻² σ_t: the move stays well above
        // float32's rounding of the score and well below the scale on which p_t changes, and a
        // row's step never depends on the other rows (so not on the batch). The step is taken
        // along the unit direction e_r = ε_r u_r.
        const h = 1e-2 * Math.sqrt(s2);
        const eps = new Float64Array(rows);
        for (let r = 0; r < rows; r++) {
          let n2 = 0;
          for (let k = r * D; k < (r + 1) * D; k++) n2 += u[k] * u[k];
          eps[r] = n2 > 0 ? h / Math.sqrt(n2) : 0;
          for (let k = r * D; k < (r + 1) * D; k++) g[k] = eps[r] * u[k];
        }
        for (const [sign, out] of [[1, fd!], [-1, mut]] as const) {
          await combine(z, g, 1, sign, tmp, 'the finite-difference point', where);
          // The state's own score (s_c under weighted CFG): x̂₀ is the twist's.
          await scoreInto(tmp, t, out, where);
          await combine(tmp, out, 1 / a, s2 / a, out, "Tweedie's x̂₀", where);
        }
        for (let r = 0; r < rows; r++) {
          const f = eps[r] > 0 ? 1 / (2 * eps[r]) : 0;
          for (let k = r * D; k < (r + 1) * D; k++) g[k] = f * (fd![k] - mut[k]);
        }
        return { g, scale: 1 };
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
    if (guided) {
      await ops.gatherRowsAsync(guided, D, global, tmp, threads);
      guided.set(tmp);
    }
    for (let k = 0; k < rows; k++) lps[k] = lpt[global[k]];
    lpt.set(lps);
  };

  return {
    initial: async () => {
      await ops.initState(batch, all, none, noY, run.stream(run.steps, 'initial'), z, threads);
      await scoreInto(z, run.grid[run.steps], sc, 'at the initial draw', guided);
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
      const shift = await gradient(step.t, step.where);
      // μ = a z + b s; μ̃ = μ' + b g with μ' = μ, or under weighted CFG the guided kernel mean
      // a z + b s̃: the kernel mean at the shifted score.
      await combine(z, sc, c.a, c.b, mu, 'the kernel mean', step.where);
      if (guided) await combine(z, guided, c.a, c.b, tmp, 'the guided kernel mean', step.where);
      const base = guided ? tmp : mu;
      if (shift) await combine(base, shift.g, 1, c.b * shift.scale, mut, 'the twisted proposal mean', step.where);
      else mut.set(base);
      await ops.propagate(batch, all, none, mut, null, Math.sqrt(c.v), noY, run.stream(step.index, 'kernelNoise'), z, threads);
      await scoreInto(z, step.s, sc, step.where, guided);
      await twist(z, sc, step.s, lps, step.where);
      await native.direct.twistIncrement(z, mu, mut, c.v, lps, lpt, increment, threads);
      lpt.set(lps);
    },
    move: async (step: Step, ancestors) => {
      if (ancestors) await select(ancestors as Int32Array);
      if (!step.last) return;
      const c = coefficients[0];
      // x₀ = μ(x_{t₁}); μ is kept: the noiseless final weight needs μ[M].
      await combine(z, sc, c.a, c.b, mu, 'the kernel mean', step.where);
      z.set(mu);
      if (sy2 === 0 && lin) {
        // x₀ = μ + Aᵀ(AAᵀ)⁻¹(y − Aμ) = μ + V_r (ȳ/s − V_rᵀ μ): the pin of §9.1 at ȳ/s.
        const svd = lin.svd!;
        const target = Float32Array.from({ length: runs * linR }, (_, k) => svd.ybar[k % linR] / svd.s[k % linR]);
        if (svd.vt) {
          await native.direct.svdPin(z, svd.vt, linIndex, target, N, threads);
        } else {
          for (let r = 0; r < rows; r++) {
            const c = svd.project(Float64Array.from(z.subarray(r * D, (r + 1) * D)));
            const lifted = svd.lift(Float64Array.from(c, (ci, i) => svd.ybar[i] / svd.s[i] - ci));
            for (let k = 0; k < D; k++) z[r * D + k] = z[r * D + k] + lifted[k];
          }
        }
        return;
      }
      if (sy2 === 0) for (let r = 0; r < rows; r++) for (let i = 0; i < dY; i++) z[r * D + M[i]] = y[i];
    },
    finalWeight: async () => {
      if (lin) {
        // The true likelihood N(y; A x₀, σ_y² I) (ρ = 0), or without noise N(y; Aμ, v AAᵀ) at the
        // kernel mean μ, against the last twist.
        if (sy2 > 0) await linearAt(z, 0, lps, false);
        else await linearAt(mu, 0, lps, false, coefficients[0].weightVariance);
        for (let k = 0; k < rows; k++) increment[k] = lpt[k] === -Infinity ? -Infinity : lps[k] - lpt[k];
        return;
      }
      if (spec.likelihood) {
        const r = await likelihoodAt(z, 0, 'at the final weight');
        // A particle whose twist was already −∞ keeps weight 0 (not −∞ − −∞ = NaN).
        for (let k = 0; k < rows; k++) increment[k] = lpt[k] === -Infinity ? -Infinity : r.value[k] - lpt[k];
        return;
      }
      // σ_y > 0: the true likelihood at x₀; σ_y = 0: the density of y under the last step
      // taken with the nominal variance (docs/MATH.md §2, §10). x̂₀ = μ (α = 1, σ² = 0).
      const variance = sy2 > 0 ? sy2 : coefficients[0].weightVariance;
      await native.direct.maskTwist(mu, mu, 1, 0, M, y, variance, lps, null, threads);
      for (let k = 0; k < rows; k++) increment[k] = lps[k] - lpt[k];
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
