// Guidance (docs/MATH.md §12) as score models that wrap the user's: classifier-free guidance
// s̃ = (1 − w) s_∅ + w s_c, with both predictions in one call of twice the rows, and
// classifier guidance s̃ = s + scale · ∇ log p_t(c | x_t) (guided-diffusion's
// `condition_score`). Every sampler then runs them unchanged. Outside w ∈ {0, 1} and
// scale = 1 with the exact noisy classifier they are heuristics (§12): they do not sample
// p(x | c), and the README measures by how much.
import { NativeScore, ScoreContext, ScoreInput, evaluateScore, modelDim } from './score';
import { defaultThreads } from './threads';
import { tweedieJvpByDifferences } from './jacobian';
import { typeError, rangeError, finiteNumber, oneOf, describe } from './errors';

/** The class that means "no condition": the unconditional prediction of a conditional model. */
export const NULL_CLASS = -1;

/** The gradient of log p_t(c | z) for every row (rows × D), at time t; `c` is the class per row. */
export type ClassifierGradient = (z: Float32Array, t: number, c: Int32Array, context: ScoreContext) => Float32Array | Promise<Float32Array>;

/** The gradient of log p(c | x) of a classifier of clean data, at x = Tweedie's x̂₀ (rows × D). */
export type CleanClassifierGradient = (x0: Float32Array, c: Int32Array, context: ScoreContext) => Float32Array | Promise<Float32Array>;

/**
 * Classifier-free guidance in score form (docs/MATH.md §12): s̃ = (1 − scale) s_∅ + scale · s_c.
 * scale 1 is the conditional model, 0 the unconditional one; diffusers' `guidance_scale` is the
 * same number, Ho & Salimans' w' is scale − 1.
 */
export interface CfgGuidance {
  kind: 'cfg';
  scale: number;
  /** φ in [0, 1] of diffusers' rescale_noise_cfg: s̃ ← φ s̃ · std(s_c)/std(s̃) + (1 − φ) s̃ per row (default 0). */
  rescale?: number;
  /**
   * smc only: propose with the guided kernel and weight each step by K_1/K_scale, so the
   * particles target the conditional model (scale 1) while moving like the guided one (§12).
   */
  weighted?: boolean;
}

/**
 * Classifier guidance (docs/MATH.md §12, `condition_score`): s̃ = s_∅ + scale · g. Give
 * `classifierGradient` (a noisy classifier: g = ∇ log p_t(c | z)), or `classifier` (a clean
 * classifier's gradient at x̂₀, a labelled heuristic) with a Jacobian source for g = Jᵀ ∇.
 */
export interface ClassifierGuidance {
  kind: 'classifier';
  /** Default 1. */
  scale?: number;
  classifierGradient?: ClassifierGradient;
  classifier?: CleanClassifierGradient;
  /**
   * With `classifier`: J = ∂x̂₀/∂z as c_t I ('identity', default: c_t = τ²/(α_t(τ² + λ_t)), exact for
   * a N(·, τ² I) prior, docs/MATH.md §10) or by central differences of x̂₀ (two more score calls).
   */
  jacobian?: 'identity' | 'finite-difference';
  /** τ² of the identity Jacobian (default 1: data of unit scale). */
  tau2?: number;
}

export type GuidanceOptions = CfgGuidance | ClassifierGuidance;

/** Validated guidance. */
export type Guidance =
  | { kind: 'cfg'; scale: number; rescale: number; weighted: boolean }
  | { kind: 'classifier'; scale: number; gradient: ClassifierGradient | undefined; clean: CleanClassifierGradient | undefined; jacobian: 'identity' | 'finite-difference'; tau2: number };

const CFG_KEYS = ['kind', 'scale', 'rescale', 'weighted'];
const CLASSIFIER_KEYS = ['kind', 'scale', 'classifierGradient', 'classifier', 'jacobian', 'tau2'];

export function guidanceOption(g: unknown): Guidance | undefined {
  if (g === undefined) return undefined;
  if (typeof g !== 'object' || g === null) throw typeError('guidance', "an object { kind: 'cfg' | 'classifier', … }", g);
  const o = g as Record<string, unknown>;
  const kind = oneOf('guidance.kind', o.kind, ['cfg', 'classifier'] as const);
  for (const key of Object.keys(o)) {
    const known = kind === 'cfg' ? CFG_KEYS : CLASSIFIER_KEYS;
    if (!known.includes(key)) throw new TypeError(`unknown guidance option ${JSON.stringify(key)} for kind '${kind}' (the options are ${known.join(', ')})`);
  }
  if (kind === 'cfg') {
    const scale = finiteNumber('guidance.scale', o.scale);
    const rescale = finiteNumber('guidance.rescale', o.rescale ?? 0);
    if (rescale < 0 || rescale > 1) throw rangeError('guidance.rescale', 'a number in [0, 1]', o.rescale);
    if (o.weighted !== undefined && typeof o.weighted !== 'boolean') throw typeError('guidance.weighted', 'a boolean', o.weighted);
    return { kind, scale, rescale, weighted: o.weighted === true };
  }
  const scale = finiteNumber('guidance.scale', o.scale ?? 1);
  const gradient = o.classifierGradient, clean = o.classifier;
  if (gradient !== undefined && typeof gradient !== 'function') throw typeError('guidance.classifierGradient', 'a function (z, t, c, context) => Float32Array', gradient);
  if (clean !== undefined && typeof clean !== 'function') throw typeError('guidance.classifier', 'a function (x0, c, context) => Float32Array', clean);
  if ((gradient === undefined) === (clean === undefined)) {
    throw new TypeError(`guidance of kind 'classifier' takes exactly one of classifierGradient (a noisy classifier) or classifier (a clean one at x̂₀), got ${gradient === undefined ? 'neither' : 'both'}`);
  }
  if ((o.jacobian !== undefined || o.tau2 !== undefined) && clean === undefined) throw new TypeError(`guidance.${o.jacobian !== undefined ? 'jacobian' : 'tau2'} applies to a clean classifier (guidance.classifier) only`);
  const jacobian = oneOf('guidance.jacobian', o.jacobian ?? 'identity', ['identity', 'finite-difference'] as const);
  const tau2 = finiteNumber('guidance.tau2', o.tau2 ?? 1);
  if (!(tau2 > 0)) throw rangeError('guidance.tau2', 'a positive number', o.tau2);
  return { kind, scale, gradient: gradient as ClassifierGradient | undefined, clean: clean as CleanClassifierGradient | undefined, jacobian, tau2 };
}

/**
 * The sampler option `condition`: one class for every run, or one per run (`runs` of them);
 * null or NULL_CLASS is the unconditional model. Returns a class per run.
 */
export function conditionOption(c: unknown, runs: number): Int32Array | undefined {
  if (c === undefined) return undefined;
  const one = (v: unknown, name: string): number => {
    if (v === null) return NULL_CLASS;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < NULL_CLASS || v > 2 ** 31 - 1) {
      throw typeError(name, `an integer class >= 0, or null / ${NULL_CLASS} for unconditional`, v);
    }
    return v;
  };
  if (typeof c === 'number' || c === null) return new Int32Array(runs).fill(one(c, 'condition'));
  if (typeof c !== 'object' || typeof (c as ArrayLike<unknown>).length !== 'number') {
    throw typeError('condition', 'a class (integer) or one class per sample', c);
  }
  const a = c as ArrayLike<unknown>;
  if (a.length !== runs) throw new RangeError(`condition must be one class for all samples or ${runs} (one per sample), got ${a.length} classes`);
  return Int32Array.from({ length: runs }, (_, r) => one(a[r], `condition[${r}]`));
}

/** The class of every row of a step, for a score call: run r's class on its `particles` rows. */
export function rowConditions(perRun: Int32Array, particles: number): Int32Array {
  const out = new Int32Array(perRun.length * particles);
  for (let r = 0; r < perRun.length; r++) out.fill(perRun[r], r * particles, (r + 1) * particles);
  return out;
}

function requireCondition(context: ScoreContext, what: string): Int32Array {
  const c = context.condition;
  if (!(c instanceof Int32Array) || c.length !== context.rows) {
    throw new TypeError(`${what} needs a class per row: give the sampler a condition (one class, or one per sample), got ${c === undefined ? 'none' : describe(c)}`);
  }
  return c;
}

function where(context: ScoreContext): string {
  return `at t = ${context.t}`;
}

/**
 * Classifier-free guidance (docs/MATH.md §12) around a conditional score model. One call of
 * the wrapped model per step on 2·rows rows: rows [0, rows) with each row's class, rows
 * [rows, 2·rows) with NULL_CLASS.
 */
export class CfgScore implements NativeScore {
  readonly dim?: number;
  readonly parameterization = 'score' as const;
  private pair = new Float32Array(0);
  private pairScore = new Float32Array(0);

  constructor(readonly inner: ScoreInput, readonly scale: number, readonly rescale: number) {
    this.dim = modelDim(inner);
  }

  /** Both predictions at z: s_c (rows 0..rows-1) then s_∅, 2·rows × D (a buffer reused by the next call). */
  async pairAt(z: Float32Array, context: ScoreContext, threads: number): Promise<Float32Array> {
    const rows = context.rows, n = z.length;
    const cond = requireCondition(context, "guidance 'cfg'");
    if (this.pair.length !== 2 * n) {
      this.pair = new Float32Array(2 * n);
      this.pairScore = new Float32Array(2 * n);
    }
    this.pair.set(z, 0);
    this.pair.set(z, n);
    const condition = new Int32Array(2 * rows);
    condition.set(cond, 0);
    condition.fill(NULL_CLASS, rows);
    const ctx: ScoreContext = { ...context, rows: 2 * rows, rowOffset: 0, condition };
    return evaluateScore(this.inner, this.pair, ctx, this.pairScore, threads, `${where(context)} (classifier-free guidance, rows: conditional then unconditional)`);
  }

  /** s̃ = (1 − w) s_∅ + w s_c from a pair (docs/MATH.md §12), then the rescale, into out. */
  combine(pair: Float32Array, rows: number, dim: number, out: Float32Array): void {
    const w = this.scale, n = rows * dim;
    for (let k = 0; k < n; k++) out[k] = (1 - w) * pair[n + k] + w * pair[k];
    if (this.rescale > 0) rescaleRows(pair.subarray(0, n), out, rows, dim, this.rescale);
  }

  score(z: Float32Array, _t: number, context: ScoreContext): Promise<Float32Array> {
    return plainCall(this, z, context);
  }

  async scoreInto(z: Float32Array, context: ScoreContext, out: Float32Array, threads: number): Promise<void> {
    const pair = await this.pairAt(z, context, threads);
    this.combine(pair, context.rows, context.dim, out);
  }
}

/** diffusers' rescale_noise_cfg per row: s̃ ← φ s̃ · std(s_c)/std(s̃) + (1 − φ) s̃ (std over the row, its mean removed). */
export function rescaleRows(conditional: Float32Array, guided: Float32Array, rows: number, dim: number, phi: number): void {
  const std = (a: Float32Array, o: number) => {
    let m = 0;
    for (let k = 0; k < dim; k++) m += a[o + k];
    m /= dim;
    let s = 0;
    for (let k = 0; k < dim; k++) s += (a[o + k] - m) ** 2;
    return Math.sqrt(s / Math.max(dim - 1, 1));
  };
  for (let r = 0; r < rows; r++) {
    const o = r * dim, sg = std(guided, o);
    // A row with no spread (D = 1, or a constant score) has nothing to rescale.
    const f = sg > 0 ? phi * (std(conditional, o) / sg) + (1 - phi) : 1;
    for (let k = 0; k < dim; k++) guided[o + k] *= f;
  }
}

/**
 * Classifier guidance (docs/MATH.md §12, `condition_score`): s̃ = s_∅ + scale · g, the model
 * called with NULL_CLASS on every row (an unconditional model ignores the class).
 */
export class ClassifierScore implements NativeScore {
  readonly dim?: number;
  readonly parameterization = 'score' as const;
  private base = new Float32Array(0);
  private probeScore = new Float32Array(0);

  constructor(readonly inner: ScoreInput, readonly guidance: Extract<Guidance, { kind: 'classifier' }>) {
    this.dim = modelDim(inner);
  }

  private async unconditional(z: Float32Array, context: ScoreContext, out: Float32Array, threads: number, what = ''): Promise<Float32Array> {
    const ctx: ScoreContext = { ...context, condition: new Int32Array(context.rows).fill(NULL_CLASS) };
    return evaluateScore(this.inner, z, ctx, out, threads, `${where(context)} (classifier guidance${what})`);
  }

  score(z: Float32Array, _t: number, context: ScoreContext): Promise<Float32Array> {
    return plainCall(this, z, context);
  }

  async scoreInto(z: Float32Array, context: ScoreContext, out: Float32Array, threads: number): Promise<void> {
    const cond = requireCondition(context, 'classifier guidance');
    if (this.base.length !== z.length) this.base = new Float32Array(z.length);
    const s = await this.unconditional(z, context, this.base, threads);
    const g = this.guidance.gradient
      ? checked(await this.guidance.gradient(z, context.t, cond, context), z.length, 'classifierGradient', context)
      : await this.cleanGradient(z, s, cond, context, threads);
    const scale = this.guidance.scale;
    for (let k = 0; k < z.length; k++) out[k] = s[k] + scale * g[k];
  }

  /**
   * The x̂₀ heuristic (docs/MATH.md §12): g = Jᵀ ∇ log p(c | x̂₀), J = ∂x̂₀/∂z, x̂₀ = (z + σ² s)/α.
   * 'identity': J = c_t I, c_t = τ²/(α_t(τ² + λ_t)), λ_t = σ_t²/α_t² (§10's Jacobian-free source;
   * its τ² → ∞ limit I/α_t grows without bound as α_t → 0 and throws the samples out). 'finite-difference':
   * J u by a central difference of x̂₀ along u (= Jᵀu for a conservative score), per row
   * ε‖u‖ = 10⁻² σ_t, as tds does (§10).
   */
  private async cleanGradient(z: Float32Array, s: Float32Array, cond: Int32Array, context: ScoreContext, threads: number): Promise<Float32Array> {
    const { alpha: a, sigma, rows, dim: D } = context;
    const s2 = sigma * sigma;
    const x0 = new Float32Array(z.length);
    for (let k = 0; k < z.length; k++) x0[k] = (z[k] + s2 * s[k]) / a;
    const u = checked(await this.guidance.clean!(x0, cond, context), z.length, 'classifier', context);
    if (this.guidance.jacobian === 'identity') {
      const tau2 = this.guidance.tau2, c = tau2 / (a * (tau2 + s2 / (a * a)));
      return u.map((x) => c * x);
    }
    if (this.probeScore.length !== z.length) this.probeScore = new Float32Array(z.length);
    return tweedieJvpByDifferences(z, u, a, sigma, rows, D, (x) => this.unconditional(x, context, this.probeScore, threads, ', finite-difference point'));
  }
}

/** A wrapper called as a plain score model (outside a sampler). */
async function plainCall(m: NativeScore, z: Float32Array, context: ScoreContext): Promise<Float32Array> {
  const out = new Float32Array(z.length);
  await m.scoreInto(z, context, out, defaultThreads());
  return out;
}

function checked(v: unknown, length: number, name: string, context: ScoreContext): Float32Array {
  if (!(v instanceof Float32Array) || v.length !== length) {
    throw new TypeError(`guidance.${name} must return a Float32Array of ${length} values (rows x D) ${where(context)}, got ${v instanceof Float32Array ? `a Float32Array of ${v.length}` : describe(v)}`);
  }
  for (let k = 0; k < length; k++) {
    if (!Number.isFinite(v[k])) throw new RangeError(`guidance.${name} must be finite ${where(context)}, got ${v[k]} at row ${Math.floor(k / context.dim)}`);
  }
  return v;
}

/** The score model a sampler runs: the user's, or the user's wrapped by its guidance. */
export function guidedScore(score: ScoreInput, g: Guidance | undefined): ScoreInput {
  if (g === undefined) return score;
  return g.kind === 'cfg' ? new CfgScore(score, g.scale, g.rescale) : new ClassifierScore(score, g);
}
