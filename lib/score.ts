// Score models: what a sampler calls each step with the particles of every run (all of
// them in one call, unless the state is too large for one typed array: see
// ScoreContext.rowOffset). A user's model is a function or an object; networks that
// predict epsilon or x0 are converted to a score by MATH.md §1.
import { native } from './native';
import { predictionToScore } from './prediction';
import { oneOf, typeError } from './errors';

/** What a score model is told besides the batch. */
export interface ScoreContext {
  /** Time t of the schedule (for 'ddpm' schedules: the integer step k). */
  t: number;
  /** alpha_t and sigma_t of the forward process at t (MATH.md §1). */
  alpha: number;
  sigma: number;
  /** Rows in this call's batch and the state dimension D. */
  rows: number;
  dim: number;
  /**
   * The first row of this call among the step's runs x particles rows (run-major: row
   * r·N + k is particle k of run r). 0, and `rows` is every row, unless the step is split:
   * where the state lives on the GPU and a step has more than 2^32 − 1 values (more than
   * one typed array holds), the model is called once per chunk of whole rows, in order,
   * each call awaited before the next. The samplers always set it; a caller that calls a
   * model itself may leave it out (it then means 0).
   */
  rowOffset?: number;
  /** The run's AbortSignal, when it has one: a remote model call can be cancelled with it. */
  signal?: AbortSignal;
  /**
   * The class of every row of this call (`rows` of them), when the sampler was given a
   * `condition`: a conditional model predicts s_c for class c, and s_∅ (the unconditional
   * model) for NULL_CLASS (-1). Absent for an unconditional run (docs/MATH.md §12).
   */
  condition?: Int32Array;
}

/**
 * A score callback: `z` is context.rows x D (row-major, read-only: do not keep or modify
 * it; rows context.rowOffset onwards of the step); return as many values, synchronously
 * or as a Promise.
 */
export type ScoreFunction = (z: Float32Array, t: number, context: ScoreContext) => Float32Array | Promise<Float32Array>;

export type Parameterization = 'score' | 'epsilon' | 'x0';

/** A score model object. `parameterization` says what `score` returns (default 'score'). */
export interface ScoreModel {
  readonly dim?: number;
  readonly parameterization?: Parameterization;
  score(z: Float32Array, t: number, context: ScoreContext): Float32Array | Promise<Float32Array>;
}

export type ScoreInput = ScoreFunction | ScoreModel;

/** Wraps a network that predicts epsilon or x0 (or a score) as a score model. */
export function fromPrediction(predict: ScoreFunction, parameterization: Parameterization, dim?: number): ScoreModel {
  if (typeof predict !== 'function') throw typeError('predict', 'a function', predict);
  oneOf('parameterization', parameterization, ['score', 'epsilon', 'x0'] as const);
  return { dim, parameterization, score: predict };
}

/**
 * Internal: evaluates a model on the sampler's state into `out` (rows x D), checking
 * the result's type, length and finiteness (MATH.md §4: a NaN or ±∞ names the step).
 * Natively computed models implement `scoreInto` and write straight into `out`.
 */
export interface NativeScore {
  /**
   * May resolve to the flat index of the first non-finite value it wrote (-1 for none), when
   * it checked them itself; otherwise the caller scans `out`.
   */
  scoreInto(z: Float32Array, context: ScoreContext, out: Float32Array, threads: number): Promise<void | number>;
  /** The run's zero-copy form of scoreInto, where the model has one (SCORE_OWNED). */
  [SCORE_OWNED]?(z: Float32Array, context: ScoreContext, out: Float32Array, threads: number): Promise<void | number>;
}

/**
 * The key of a model's zero-copy score for arrays the run owns for the whole call (its state
 * and its score buffer): they are used in place. The public scoreInto of the library's models
 * takes a caller's arrays, which the caller may resize or transfer while the call runs, and
 * goes through the addon's copying entries (in place only on a SharedArrayBuffer).
 */
export const SCORE_OWNED: unique symbol = Symbol('condiff.scoreOwned');

/**
 * scoreInto of a run's own arrays: the model's SCORE_OWNED form, unless the object has a
 * scoreInto of its own (a wrapper that replaces its prototype's), which is called as given.
 */
export function scoreOwned(model: NativeScore, z: Float32Array, context: ScoreContext, out: Float32Array, threads: number): Promise<void | number> {
  const owned = model[SCORE_OWNED];
  if (owned !== undefined && !Object.prototype.hasOwnProperty.call(model, 'scoreInto')) return owned.call(model, z, context, out, threads);
  return model.scoreInto(z, context, out, threads);
}

/** A score context given to a public method: an object (its numbers are checked where they are used). */
export function requireContext(context: unknown, name = 'context'): asserts context is ScoreContext {
  if (typeof context !== 'object' || context === null) throw typeError(name, 'an object with alpha and sigma', context);
  const c = context as Record<string, unknown>;
  // Not coerced: sigma '1' squared is 1, and '1e' NaN.
  for (const key of ['alpha', 'sigma']) if (typeof c[key] !== 'number') throw typeError(`${name}.${key}`, 'a number', c[key]);
}

export function hasNativeScore(m: unknown): m is NativeScore {
  return typeof m === 'object' && m !== null && typeof (m as NativeScore).scoreInto === 'function';
}

/**
 * Whether a score model reads context.condition: false for a model known to ignore it (a plain
 * GaussianMixture, an OnnxScore without a class input), which then refuses `condition`; true or
 * absent otherwise (a callback may read it).
 */
export function ignoresCondition(model: ScoreInput): boolean {
  return typeof model === 'object' && model !== null && (model as { takesCondition?: unknown }).takesCondition === false;
}

export function modelDim(model: ScoreInput): number | undefined {
  return typeof model === 'function' ? undefined : model.dim;
}

export function validateScoreInput(model: unknown): ScoreInput {
  if (typeof model === 'function') return model as ScoreFunction;
  if (typeof model === 'object' && model !== null && typeof (model as ScoreModel).score === 'function') {
    const p = (model as ScoreModel).parameterization;
    if (p !== undefined) oneOf('score.parameterization', p, ['score', 'epsilon', 'x0'] as const);
    return model as ScoreModel;
  }
  throw typeError('score', 'a score function or an object with a score(z, t, context) method', model);
}

export async function evaluateScore(
  model: ScoreInput,
  z: Float32Array,
  context: ScoreContext,
  out: Float32Array,
  threads: number,
  where: string,
): Promise<Float32Array> {
  if (hasNativeScore(model)) {
    const checked = await scoreOwned(model, z, context, out, threads);
    if (typeof checked === 'number') {
      if (checked >= 0) throw nonFiniteScore(out[checked], checked, context, where);
      return out;
    }
  } else {
    let result: unknown;
    try {
      result = typeof model === 'function' ? await model(z, context.t, context) : await model.score(z, context.t, context);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`the score model failed ${where}: ${message}`, { cause: err });
    }
    if (!(result instanceof Float32Array)) {
      throw new TypeError(`the score model must return a Float32Array ${where}, got ${describeResult(result)}`);
    }
    if (result.length !== out.length) {
      throw new RangeError(
        `the score model must return ${context.rows} x ${context.dim} = ${out.length} values ${where}, got ${result.length}`,
      );
    }
    const p = typeof model === 'function' ? 'score' : (model.parameterization ?? 'score');
    // The result stays its caller's, who may resize or transfer its buffer while the step's
    // native work would read it: the score is copied into the run's own buffer (a prediction
    // is converted through the copying entry).
    if (p === 'score') out.set(result);
    else await predictionToScore(z, result, p, context, out, threads, null, false);
  }
  // Zero-copy: the run owns z and out.
  const bad = await native.direct.firstNonFinite(out, threads);
  if (bad >= 0) throw nonFiniteScore(out[bad], bad, context, where);
  return out;
}

/**
 * The error for a NaN or ±∞ score at flat index `bad` of this call (MATH.md §4: it names
 * the step, and the row among all of the step's rows).
 */
export function nonFiniteScore(value: number, bad: number, context: ScoreContext, where: string): RangeError {
  const row = (context.rowOffset ?? 0) + Math.floor(bad / context.dim);
  return new RangeError(`the score must be finite ${where}, got ${value} at row ${row}, coordinate ${bad % context.dim}`);
}

function describeResult(v: unknown): string {
  if (v === undefined || v === null) return String(v);
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (Array.isArray(v)) return 'an Array';
  return typeof v;
}
