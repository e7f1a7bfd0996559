// A class-conditional Gaussian mixture (docs/MATH.md §12): the components are grouped into
// classes, p₀(x | c) is the sub-mixture of class c's components (weights renormalised),
// p₀(x) the whole mixture, and p(c) the class's share of the weight. Its scores are exact at
// every t: s_c for class c, s_∅ (the whole mixture) for NULL_CLASS, so classifier-free and
// classifier guidance have exact answers to be measured against.
import { GaussianMixture, GaussianMixtureSpec } from './mixture';
import { NativeScore, SCORE_OWNED, ScoreContext, requireContext } from './score';
import { FACTORY, requireFactory, typeError, rangeError } from './errors';
import { NULL_CLASS } from './guidance';
import { defaultThreads } from './threads';

export interface ConditionalGaussianMixtureSpec extends GaussianMixtureSpec {
  /** The class of each component (integers 0 … C − 1, every class with at least one component). */
  classes: number[];
}

export class ConditionalGaussianMixture implements NativeScore {
  readonly dim: number;
  readonly parameterization = 'score' as const;
  /** The number of classes C. */
  readonly classCount: number;
  /** p₀(x): every component. */
  readonly unconditional: GaussianMixture;
  private readonly byClass: GaussianMixture[];
  /** p(c): the class's share of the mixture weight. */
  readonly classWeights: Float64Array;

  private constructor(token: typeof FACTORY, all: GaussianMixture, byClass: GaussianMixture[], classWeights: Float64Array) {
    requireFactory(token, 'ConditionalGaussianMixture', 'ConditionalGaussianMixture.fromJSON(spec)');
    this.unconditional = all;
    this.byClass = byClass;
    this.dim = all.dim;
    this.classCount = byClass.length;
    this.classWeights = classWeights;
  }

  static fromJSON(spec: unknown): ConditionalGaussianMixture {
    if (typeof spec !== 'object' || spec === null) throw typeError('model', 'an object with weights, means, covariances or variances, and classes', spec);
    const s = spec as ConditionalGaussianMixtureSpec;
    const all = GaussianMixture.fromJSON(spec);
    if (!Array.isArray(s.classes) || s.classes.length !== all.components) throw typeError('classes', `an array of ${all.components} classes (one per component)`, s.classes);
    s.classes.forEach((c, j) => {
      if (!Number.isInteger(c) || c < 0) throw typeError(`classes[${j}]`, 'an integer >= 0', c);
    });
    const count = Math.max(...s.classes) + 1;
    const total = s.weights.reduce((a, b) => a + b, 0);
    const byClass: GaussianMixture[] = [];
    const classWeights = new Float64Array(count);
    for (let c = 0; c < count; c++) {
      const js = s.classes.map((k, j) => (k === c ? j : -1)).filter((j) => j >= 0);
      if (js.length === 0) throw rangeError('classes', `every class 0 … ${count - 1} with at least one component`, `none of class ${c}`);
      const sub: GaussianMixtureSpec = {
        weights: js.map((j) => s.weights[j]),
        means: js.map((j) => s.means[j]),
        ...(s.covariances ? { covariances: js.map((j) => s.covariances![j]) } : { variances: js.map((j) => s.variances![j]) }),
      };
      byClass.push(GaussianMixture.fromJSON(sub));
      classWeights[c] = sub.weights.reduce((a, b) => a + b, 0) / total;
    }
    return new ConditionalGaussianMixture(FACTORY, all, byClass, classWeights);
  }

  /** p₀(x | c) (NULL_CLASS: p₀(x)) as a GaussianMixture: its exact draws and posteriors. */
  mixture(c: number): GaussianMixture {
    if (c === NULL_CLASS) return this.unconditional;
    if (!Number.isInteger(c) || c < 0 || c >= this.classCount) throw rangeError('class', `an integer in 0 … ${this.classCount - 1} or ${NULL_CLASS}`, c);
    return this.byClass[c];
  }

  /**
   * The exact noisy classifier's gradient ∇ log p_t(c | z) = s_c(z) − s_∅(z) per row (docs/MATH.md
   * §12), `c` the class per row: the classifierGradient of classifier guidance for this model.
   */
  async classifierGradient(z: Float32Array, _t: number, c: Int32Array, context: ScoreContext): Promise<Float32Array> {
    const sc = new Float32Array(z.length), s0 = new Float32Array(z.length), threads = defaultThreads();
    const a = await this.scoreInto(z, { ...context, condition: c }, sc, threads);
    const b = await this.unconditional.scoreInto(z, context, s0, threads);
    if (a >= 0 || b >= 0) throw new RangeError(`the score must be finite at t = ${context.t}, got a non-finite value at row ${Math.floor(Math.max(a, b) / this.dim)}`);
    for (let k = 0; k < z.length; k++) sc[k] -= s0[k];
    return sc;
  }

  async score(z: Float32Array, _t: number, context: ScoreContext): Promise<Float32Array> {
    const out = new Float32Array(z.length);
    const bad = await this.scoreInto(z, context, out, defaultThreads());
    if (bad >= 0) throw new RangeError(`the score must be finite at t = ${context.t}, got ${out[bad]} at row ${Math.floor(bad / this.dim)}`);
    return out;
  }

  /**
   * The exact score of each row's class (docs/MATH.md §7 for each sub-mixture): rows of one
   * class in one native call. Resolves to the first non-finite index, or -1. z holds rows × D
   * values (context.rows, where given, must say the same) and context.condition one class per
   * row; the caller's arrays are treated as GaussianMixture.scoreInto treats them.
   */
  async scoreInto(z: Float32Array, context: ScoreContext, out: Float32Array, threads: number): Promise<number> {
    return this.scoreByClass(z, this.rowsOf(z, context), out, threads, false);
  }

  /** Internal: scoreInto on a run's own arrays, zero-copy (lib/score.ts SCORE_OWNED). */
  async [SCORE_OWNED](z: Float32Array, context: ScoreContext, out: Float32Array, threads: number): Promise<number> {
    return this.scoreByClass(z, context, out, threads, true);
  }

  /** The context with its rows, checked against z and the condition. */
  private rowsOf(z: Float32Array, context: ScoreContext): ScoreContext {
    requireContext(context);
    if (!(z instanceof Float32Array)) throw typeError('z', 'a Float32Array', z);
    const D = this.dim, rows = z.length / D;
    if (!Number.isInteger(rows)) throw rangeError('z', `a whole number of rows of D = ${D} values`, z);
    if (context.rows !== undefined && context.rows !== rows) throw rangeError('context.rows', `the rows of z (${rows})`, context.rows);
    const cond: unknown = context.condition;
    if (cond !== undefined && (!(cond instanceof Int32Array) || cond.length !== rows)) {
      throw typeError('context.condition', `an Int32Array of ${rows} classes (one per row of z)`, cond);
    }
    return { ...context, rows };
  }

  private async scoreByClass(z: Float32Array, context: ScoreContext, out: Float32Array, threads: number, owned: boolean): Promise<number> {
    const into = (m: GaussianMixture, ctx: ScoreContext) => (owned ? m[SCORE_OWNED](z, ctx, out, threads) : m.scoreInto(z, ctx, out, threads));
    const cond = context.condition, D = this.dim, rows = context.rows;
    if (cond === undefined) return into(this.unconditional, context);
    const members = new Map<number, number[]>();
    for (let r = 0; r < rows; r++) {
      const c = cond[r];
      if (c !== NULL_CLASS && !(c >= 0 && c < this.classCount)) {
        throw new RangeError(`the condition of row ${(context.rowOffset ?? 0) + r} must be a class in 0 … ${this.classCount - 1} or ${NULL_CLASS} (unconditional), got ${c}`);
      }
      let list = members.get(c);
      if (!list) members.set(c, (list = []));
      list.push(r);
    }
    if (members.size === 1) return into(this.mixture(cond[0]), context);
    // Buffers per call, not per model: one model may serve several runs at once.
    const gathered = new Float32Array(z.length), gatheredOut = new Float32Array(z.length);
    for (const [c, list] of members) {
      const n = list.length;
      const zc = gathered.subarray(0, n * D), oc = gatheredOut.subarray(0, n * D);
      list.forEach((r, i) => zc.set(z.subarray(r * D, (r + 1) * D), i * D));
      // The gathered rows are this call's own arrays.
      const bad = await this.mixture(c)[SCORE_OWNED](zc, { ...context, rows: n }, oc, threads);
      if (bad >= 0) return list[Math.floor(bad / D)] * D + (bad % D);
      list.forEach((r, i) => out.set(oc.subarray(i * D, (i + 1) * D), r * D));
    }
    return -1;
  }
}
