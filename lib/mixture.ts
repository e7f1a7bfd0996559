// The exact Gaussian-mixture model (MATH.md §7): a score model whose score is exact at
// every t, and whose conditional p_0(X | Y = y) is known in closed form: the oracle
// every sampler is tested against.
import type { Marginals } from './diagnostics';
import { native, NativeMixture } from './native';
import { NativeScore, SCORE_OWNED, ScoreContext, requireContext } from './score';
import { FACTORY, positiveInteger, nonNegativeInteger, requireFactory, typeError, rangeError } from './errors';
import { ObservationInput, isExactMask, normalizeObservation, normalizeLinearObservation } from './observation';
import { choleskyFactor, linearGains, linearPosterior, noisedPosterior, MixtureParameters, LinearPosterior } from './linear-gaussian';
import { defaultThreads } from './threads';
import { requireSizes } from './sizes';
import { optionsOf } from './options';

/** JSON form: `{"weights":[..],"means":[[..]],"covariances":[[[..]]]}` or `"variances":[[..]]` for diagonal. */
export interface GaussianMixtureSpec {
  weights: number[];
  means: number[][];
  covariances?: number[][][];
  variances?: number[][];
}

/**
 * The exact conditional p_0(x | y), a Gaussian mixture: over the unobserved coordinates for an
 * exact mask, over every coordinate for any other observation (docs/MATH.md §7, §8).
 */
export interface ExactPosterior {
  /** The coordinates the mixture is over, ascending (every coordinate unless the mask is exact). */
  latent: Int32Array;
  /** log p(y); with noiseStd = 0 a density of ȳ = U^T y on the range of A (docs/MATH.md §8). */
  logEvidence: number;
  /** Normalised component weights. */
  weights: Float64Array;
  /** components x latent.length */
  means: Float64Array;
  /** components x latent.length x latent.length */
  covariances: Float64Array;
}

/**
 * The structure of a mixture's covariances, detected when it is built (MATH.md §7): every
 * Σ_j = s_j I ('isotropic'), every Σ_j diagonal ('diagonal'), or neither ('dense'); 'shared'
 * when every component has the same one.
 */
export type MixtureStructure = 'dense' | 'diagonal' | 'isotropic' | 'shared dense' | 'shared diagonal' | 'shared isotropic';

/**
 * The native score path a structure selects, and its multiply-adds per particle:
 * 'dense' J D², 'diagonal' 4 J D, 'shared' D² + 2 J D (D + 2 J D when the shared covariance
 * is diagonal), 'isotropic' 2 J D.
 */
export type ScorePath = 'dense' | 'diagonal' | 'shared' | 'isotropic';

/**
 * The tolerance of the structure rules: float32's unit roundoff, the precision the dense
 * path rounds C_j⁻¹ to (so a covariance within it of a structured one scores the same to
 * float32 rounding either way).
 */
export const STRUCTURE_TOLERANCE = 2 ** -24;

/**
 * The rules of native/core/mixture_structure.cc, which picks the path the score runs; the
 * two must agree (the addon does not report its choice). With τ = STRUCTURE_TOLERANCE:
 * diagonal when every |Σ_ab| <= τ √(Σ_aa Σ_bb) off the diagonal; isotropic when diagonal and
 * max Σ_aa − min Σ_aa <= τ max Σ_aa in every component; shared when every
 * |Σ_j,ab − Σ_0,ab| <= τ √(Σ_0,aa Σ_0,bb).
 */
export function detectStructure(dim: number, components: number, cov: Float64Array, variances: boolean): { structure: MixtureStructure; path: ScorePath } {
  const d = dim, tau = STRUCTURE_TOLERANCE;
  const entry = (j: number, a: number, b: number) => (variances ? (a === b ? cov[j * d + a] : 0) : cov[(j * d + a) * d + b]);
  const sd0 = Float64Array.from({ length: d }, (_, a) => Math.sqrt(entry(0, a, a)));
  const sd = new Float64Array(d);
  let diagonal = true, isotropic = true, shared = true;
  for (let j = 0; j < components; j++) {
    let vmin = entry(j, 0, 0), vmax = vmin;
    for (let a = 0; a < d; a++) {
      const v = entry(j, a, a);
      vmin = Math.min(vmin, v);
      vmax = Math.max(vmax, v);
      sd[a] = Math.sqrt(v);
    }
    if (vmax - vmin > tau * vmax) isotropic = false;
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        const x = entry(j, a, b);
        if (a !== b && Math.abs(x) > tau * sd[a] * sd[b]) diagonal = false;
        if (Math.abs(x - entry(0, a, b)) > tau * sd0[a] * sd0[b]) shared = false;
      }
    }
  }
  const form = !diagonal ? 'dense' : isotropic ? 'isotropic' : 'diagonal';
  const structure = (shared ? `shared ${form}` : form) as MixtureStructure;
  const path: ScorePath = form === 'isotropic' ? 'isotropic' : shared ? 'shared' : form;
  return { structure, path };
}

function numberArray(name: string, v: unknown, length?: number): number[] {
  if (!Array.isArray(v)) throw typeError(name, 'an array of numbers', v);
  if (length !== undefined && v.length !== length) throw rangeError(name, `an array of length ${length}`, v);
  v.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw typeError(`${name}[${i}]`, 'a finite number', x);
  });
  return v as number[];
}

/** Per-coordinate moments of sum_j w_j N(m_j, C_j): E = sum w m, Var = sum w (C_cc + m_c^2) - E^2 (weights normalised). */
function mixtureMarginals(weights: number[], means: Float64Array, cov: Float64Array, D: number, diagonal: boolean): Marginals {
  const total = weights.reduce((a, b) => a + b, 0);
  const mean = new Float64Array(D), second = new Float64Array(D);
  weights.forEach((w, j) => {
    for (let c = 0; c < D; c++) {
      const m = means[j * D + c], v = diagonal ? cov[j * D + c] : cov[(j * D + c) * D + c];
      mean[c] += (w / total) * m;
      second[c] += (w / total) * (v + m * m);
    }
  });
  return { mean, variance: second.map((s2, c) => Math.max(s2 - mean[c] * mean[c], 0)) };
}

export class GaussianMixture implements NativeScore {
  readonly dim: number;
  /** A plain mixture has no classes: samplers refuse `condition` for it (ConditionalGaussianMixture has them). */
  readonly takesCondition = false;
  readonly components: number;
  readonly parameterization = 'score' as const;
  /** The covariances' structure, detected when the model was built (MATH.md §7). */
  readonly structure: MixtureStructure;
  /** The native score path the structure selects (see ScorePath). */
  readonly scorePath: ScorePath;
  private readonly core: NativeMixture;
  private parameters?: MixtureParameters;

  private constructor(token: typeof FACTORY, core: NativeMixture, detected: { structure: MixtureStructure; path: ScorePath }) {
    requireFactory(token, 'GaussianMixture', 'GaussianMixture.fromJSON(spec)');
    this.core = core;
    this.dim = core.dim;
    this.components = core.components;
    this.structure = detected.structure;
    this.scorePath = detected.path;
  }

  /** Builds a mixture from its JSON form; throws naming the field that is wrong. */
  static fromJSON(spec: unknown): GaussianMixture {
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw typeError('model', 'an object with weights, means and covariances or variances', spec);
    const s = spec as Record<string, unknown>;
    const weights = numberArray('weights', s.weights);
    const J = weights.length;
    if (J < 1) throw rangeError('weights', 'a non-empty array', s.weights);
    if (!Array.isArray(s.means)) throw typeError('means', 'an array of arrays', s.means);
    if (s.means.length !== J) throw rangeError('means', `an array of ${J} means (one per weight)`, s.means);
    const first = numberArray('means[0]', s.means[0]);
    const D = first.length;
    if (D < 1) throw rangeError('means[0]', 'a non-empty array', s.means[0]);
    const means = new Float64Array(J * D);
    s.means.forEach((m, j) => means.set(numberArray(`means[${j}]`, m, D), j * D));
    const hasCov = s.covariances !== undefined, hasVar = s.variances !== undefined;
    if (hasCov === hasVar) {
      throw new TypeError(`model must have exactly one of "covariances" or "variances", got ${hasCov ? 'both' : 'neither'}`);
    }
    let cov: Float64Array;
    if (hasVar) {
      if (!Array.isArray(s.variances) || s.variances.length !== J) throw typeError('variances', `an array of ${J} arrays`, s.variances);
      cov = new Float64Array(J * D);
      s.variances.forEach((v, j) => cov.set(numberArray(`variances[${j}]`, v, D), j * D));
    } else {
      if (!Array.isArray(s.covariances) || s.covariances.length !== J) throw typeError('covariances', `an array of ${J} matrices`, s.covariances);
      cov = new Float64Array(J * D * D);
      s.covariances.forEach((c, j) => {
        if (!Array.isArray(c) || c.length !== D) throw typeError(`covariances[${j}]`, `a ${D} x ${D} matrix`, c);
        c.forEach((row, a) => cov.set(numberArray(`covariances[${j}][${a}]`, row, D), (j * D + a) * D));
      });
    }
    // Each weight finite is not enough: [1e308, 1e308] sums to Infinity, and every answer
    // normalised by the sum came out NaN.
    const total = weights.reduce((x, y) => x + y, 0);
    if (!Number.isFinite(total)) throw rangeError('weights', 'numbers with a finite sum', s.weights);
    const core = new native.GaussianMixture(D, J, Float64Array.from(weights), means, cov, hasVar);
    const model = new GaussianMixture(FACTORY, core, detectStructure(D, J, cov, hasVar));
    model.dataMarginals = mixtureMarginals(weights, means, cov, D, hasVar);
    let dense = cov;
    if (hasVar) {
      dense = new Float64Array(J * D * D);
      for (let j = 0; j < J; j++) for (let c = 0; c < D; c++) dense[(j * D + c) * D + c] = cov[j * D + c];
    }
    model.parameters = { dim: D, components: J, weights: Float64Array.from(weights, (w) => w / total), means, covariances: dense };
    return model;
  }

  private dataMarginals?: Marginals;
  /** Per-coordinate mean and variance of the data distribution p_0 (for the horizon rule, lib/diagnostics.ts). */
  marginals(): Marginals {
    return this.dataMarginals!;
  }

  /** Score of p_t at each row of z (rows x D) as a plain score model call. */
  async score(z: Float32Array, _t: number, context: ScoreContext): Promise<Float32Array> {
    requireContext(context);
    if (!(z instanceof Float32Array)) throw typeError('z', 'a Float32Array', z);
    const out = new Float32Array(z.length);
    await this.core.score(z, context.alpha, context.sigma * context.sigma, out, defaultThreads());
    return out;
  }

  /** Internal: the native model, for a backend that evaluates it itself (the CUDA device). */
  nativeCore(): NativeMixture {
    return this.core;
  }

  /**
   * The score of p_t at each row of z (rows x D) into `out`. Resolves to the flat index of the
   * first non-finite value written, or -1 (checked natively). The call works on copies of z
   * and out (out copied back when it settles), so the caller may resize or transfer their
   * buffers meanwhile (the call then rejects); arrays on a SharedArrayBuffer are used in place.
   */
  async scoreInto(z: Float32Array, context: ScoreContext, out: Float32Array, threads: number): Promise<number> {
    requireContext(context);
    return this.core.score(z, context.alpha, context.sigma * context.sigma, out, threads);
  }

  /** Internal: scoreInto on a run's own arrays, zero-copy (lib/score.ts SCORE_OWNED). */
  async [SCORE_OWNED](z: Float32Array, context: ScoreContext, out: Float32Array, threads: number): Promise<number> {
    return this.core.scoreDirect(z, context.alpha, context.sigma * context.sigma, out, threads);
  }

  /**
   * The exact conditional p_0(x | y) of docs/MATH.md §7 and log p(y): for an exact mask over
   * the unobserved coordinates; for a noisy mask, a matrix or an operator over every
   * coordinate, in gain form (noiseStd = 0 and singular covariances work, §8).
   */
  posterior(observed: ObservationInput): ExactPosterior {
    if (isExactMask(observed)) {
      // The latent block's mixture natively; only log p(y) from the gain form.
      const lin = linearPosterior(this.parameters!, normalizeLinearObservation(observed, this.dim), { evidenceOnly: true });
      const o = normalizeObservation(observed, this.dim);
      const p = this.core.posterior(o.indices, o.values);
      return { latent: p.latent, logEvidence: lin.logEvidence, weights: p.logWeights.map(Math.exp), means: p.means, covariances: p.covariances };
    }
    const lin = this.linear(observed);
    return { latent: Int32Array.from({ length: this.dim }, (_, k) => k), ...lin };
  }

  /**
   * The noised posterior p_t(x | y) = Σ_j π̃_j N(α_t m̃_j, α_t² Σ̃_j + σ_t² I) of docs/MATH.md §8,
   * over every coordinate, at the level with signal scale alpha and noise variance sigma2.
   */
  noisedPosterior(observed: ObservationInput, alpha: number, sigma2: number): ExactPosterior {
    if (typeof alpha !== 'number' || !(alpha > 0) || !Number.isFinite(alpha)) throw rangeError('alpha', 'a positive finite number', alpha);
    if (typeof sigma2 !== 'number' || !(sigma2 >= 0) || !Number.isFinite(sigma2)) throw rangeError('sigma2', 'a non-negative finite number', sigma2);
    const lin = this.linear(observed);
    const p = noisedPosterior(lin, this.dim, alpha, sigma2);
    return { latent: Int32Array.from({ length: this.dim }, (_, k) => k), logEvidence: lin.logEvidence, weights: p.weights, means: p.means, covariances: p.covariances };
  }

  private linear(observed: ObservationInput): LinearPosterior {
    return linearPosterior(this.parameters!, normalizeLinearObservation(observed, this.dim));
  }

  /**
   * n exact draws from p_0(x | y), as n x D rows: for an exact mask with the observed
   * coordinates filled in; otherwise every coordinate drawn, component by its posterior weight
   * (purpose exactComponent), then by perturbation (Matheron's rule, docs/MATH.md §8; lib/linear-gaussian.ts):
   * x = m_j + R_j ξ with R_j R_j^T = Σ_j and e = σ_y ζ, each row's D + r normals (ξ, ζ) from
   * purpose exactNormal, and the draw x + K_j (y' − A' x − e). Per draw O(D r) after a root of
   * each prior covariance (its square roots for diagonal structures).
   */
  async sampleExact(observed: ObservationInput, n: number, given?: { seed?: number; run?: number; threads?: number }): Promise<Float32Array> {
    const options = optionsOf('sampleExact', given, ['seed', 'run', 'threads']);
    const exact = isExactMask(observed);
    const o = exact ? normalizeObservation(observed, this.dim) : undefined;
    const obs = exact ? undefined : normalizeLinearObservation(observed, this.dim);
    positiveInteger('n', n);
    const seed = nonNegativeInteger('seed', options.seed ?? 0);
    const run = nonNegativeInteger('run', options.run ?? 0, 2 ** 32 - 1);
    requireSizes(`sampleExact (n ${n} x dimension ${this.dim})`, [{ what: 'the samples (n x dimension)', elements: n * this.dim, bytesPerElement: 4 }]);
    const out = new Float32Array(n * this.dim);
    const threads = options.threads ?? defaultThreads();
    if (o) {
      await this.core.samplePosterior(o.indices, o.values, n, { seed, run, step: 0 }, out, threads);
      return out;
    }
    const p = this.parameters!;
    const g = linearGains(p, obs!);
    const D = this.dim, J = g.weights.length, r = g.rows, W = D + r;
    const diagonal = !this.structure.endsWith('dense');
    const cov = (j: number) => p.covariances.subarray(j * D * D, (j + 1) * D * D);
    const sameAsFirst = (j: number) => {
      const a = cov(0), b = cov(j);
      for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
      return true;
    };
    const roots: Float64Array[] = [];
    for (let j = 0; j < J; j++) {
      const sigma = cov(j);
      if (diagonal) {
        roots.push(Float64Array.from({ length: D }, (_, k) => Math.sqrt(sigma[k * D + k])));
      } else if (j > 0 && sameAsFirst(j)) {
        // One covariance for every component (a shared dense structure): one O(D³) factor.
        roots.push(roots[0]);
      } else {
        const l = choleskyFactor(sigma, D);
        if (!l) throw new Error(`internal: covariances[${j}] passed the constructor's positive-definite check but has no Cholesky factor`);
        roots.push(l);
      }
    }
    const xi = new Float32Array(n * W);
    await native.normals(xi, { seed, run, step: 0, purpose: native.purposes.exactNormal }, 0, threads);
    const cdf = new Float64Array(J);
    for (let j = 0, acc = 0; j < J; j++) cdf[j] = acc += g.weights[j];
    const key = Uint32Array.of(seed % 2 ** 32, Math.floor(seed / 2 ** 32));
    let words: Uint32Array = new Uint32Array(4);
    const x = new Float64Array(D), v = new Float64Array(r);
    const noiseStd = obs!.noiseStd;
    for (let k = 0; k < n; k++) {
      // MATH.md §6: counter (element / 4, run, step, purpose), lane element mod 4.
      if (k % 4 === 0) words = native.philox4x32(Uint32Array.of(k / 4, run, 0, native.purposes.exactComponent), key, 10);
      const u = words[k % 4] * 2 ** -32 * cdf[J - 1];
      let j = 0;
      while (j < J - 1 && !(cdf[j] > u)) j++;
      const m = p.means.subarray(j * D, (j + 1) * D), root = roots[j], row = k * W;
      for (let c = 0; c < D; c++) {
        let acc = m[c];
        if (diagonal) acc += root[c] * xi[row + c];
        else for (let l = 0; l <= c; l++) acc += root[c * D + l] * xi[row + l];
        x[c] = acc;
      }
      for (let i = 0; i < r; i++) {
        let acc = g.y[i] - noiseStd * xi[row + D + i];
        for (let c = 0; c < D; c++) acc -= g.a[i * D + c] * x[c];
        v[i] = acc;
      }
      const gain = g.gains.subarray(j * D * r, (j + 1) * D * r);
      for (let c = 0; c < D; c++) {
        let acc = x[c];
        for (let i = 0; i < r; i++) acc += gain[c * r + i] * v[i];
        out[k * D + c] = acc;
      }
    }
    return out;
  }

  toString(): string {
    return `GaussianMixture(dim ${this.dim}, ${this.components} components, ${this.structure} covariances, ${this.scorePath} score path)`;
  }
}


