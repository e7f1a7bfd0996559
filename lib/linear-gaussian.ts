// Exact answers for a Gaussian-mixture prior and a linear-Gaussian observation
// y = A x_0 + σ_y ε (docs/MATH.md §7, §8), in gain form so that σ_y = 0 and singular
// component covariances work: per component j,
//     S_j = A Σ_j A^T + σ_y² I,  K_j = Σ_j A^T S_j⁻¹,
//     weight ∝ π_j N(y; A m_j, S_j),  mean m_j + K_j (y − A m_j),  covariance Σ_j − K_j A Σ_j.
// With an SVD the observation is used in its basis, A' = diag(s) V_r^T and y' = ȳ, so
// redundant rows (rank r < d_y) leave S_j invertible; y_⊥ enters only p(y). Float64, dense
// O(J r D²) work: these are oracles and setup, never per step; the dense D x D posterior
// covariances only where asked for (linearPosterior), the D x r gains for drawing (linearGains).
import type { LinearObservation } from './observation';

/** The parameters of p_0 = Σ_j π_j N(m_j, Σ_j), covariances dense J x D x D. */
export interface MixtureParameters {
  dim: number;
  components: number;
  /** Normalised. */
  weights: Float64Array;
  means: Float64Array;
  covariances: Float64Array;
}

export interface LinearPosterior {
  /** Normalised component weights π̃_j. */
  weights: Float64Array;
  /** J x D. */
  means: Float64Array;
  /** J x D x D. */
  covariances: Float64Array;
  /** log p(y) (with σ_y = 0 a density of ȳ on the range of A). */
  logEvidence: number;
}

/** The posterior in gain form, for drawing by perturbation (see linearGains). */
export interface LinearGains {
  /** Normalised component weights π̃_j. */
  weights: Float64Array;
  /** The observation in the basis it is used in: A' (rows x D) and y'. */
  a: Float64Array;
  y: Float64Array;
  rows: number;
  /** K_j = Σ_j A'^T S_j⁻¹, J x D x rows. */
  gains: Float64Array;
}

/** Lower Cholesky factor of a row-major n x n SPD matrix, or null when it is not positive definite. */
export function choleskyFactor(a: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let acc = a[i * n + j];
      for (let k = 0; k < j; k++) acc -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        if (!(acc > 0)) return null;
        l[i * n + i] = Math.sqrt(acc);
      } else {
        l[i * n + j] = acc / l[j * n + j];
      }
    }
  }
  return l;
}

/** Solves L L^T x = b for every column of b (n x m, row-major), in place. */
function choleskySolve(l: Float64Array, n: number, b: Float64Array, m: number): void {
  for (let c = 0; c < m; c++) {
    for (let i = 0; i < n; i++) {
      let acc = b[i * m + c];
      for (let k = 0; k < i; k++) acc -= l[i * n + k] * b[k * m + c];
      b[i * m + c] = acc / l[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let acc = b[i * m + c];
      for (let k = i + 1; k < n; k++) acc -= l[k * n + i] * b[k * m + c];
      b[i * m + c] = acc / l[i * n + i];
    }
  }
}

/** The observation as (A', y') with A' r x D: diag(s) V_r^T and ȳ with an SVD, else A and y. */
function reduced(obs: LinearObservation): { a: Float64Array; y: Float64Array; rows: number } {
  const D = obs.dim;
  const svd = obs.svd;
  if (svd && svd.vt) {
    const a = new Float64Array(svd.rank * D);
    for (let i = 0; i < svd.rank; i++) for (let j = 0; j < D; j++) a[i * D + j] = svd.s[i] * svd.vt[i * D + j];
    return { a, y: svd.ybar, rows: svd.rank };
  }
  if (svd) {
    // Callbacks: V_r^T e_j column by column.
    const a = new Float64Array(svd.rank * D);
    const e = new Float64Array(D);
    for (let j = 0; j < D; j++) {
      e.fill(0);
      e[j] = 1;
      const c = svd.project(e);
      for (let i = 0; i < svd.rank; i++) a[i * D + j] = svd.s[i] * c[i];
    }
    return { a, y: svd.ybar, rows: svd.rank };
  }
  return { a: obs.dense(), y: obs.y, rows: obs.rows };
}

/** The exact posterior p_0(x | y) and log p(y) (docs/MATH.md §7, gain form). */
export function linearPosterior(p: MixtureParameters, obs: LinearObservation, options: { evidenceOnly?: boolean } = {}): LinearPosterior {
  const { weights, means, covariances, logEvidence } = solve(p, obs, options.evidenceOnly ? 'evidence' : 'moments');
  return { weights, means, covariances, logEvidence };
}

/**
 * What a draw from p_0(x | y) by perturbation needs (Matheron's rule): with x ~ N(m_j, Σ_j) and
 * e ~ N(0, σ_y² I), x + K_j (y' − A' x − e) has mean m_j + K_j (y' − A' m_j) and covariance
 * Σ_j − K_j A' Σ_j, the component's posterior, at O(D r) per draw and no D x D root of it.
 */
export function linearGains(p: MixtureParameters, obs: LinearObservation): LinearGains {
  const { weights, a, y, rows, gains } = solve(p, obs, 'gains');
  return { weights, a, y, rows, gains: gains! };
}

function solve(p: MixtureParameters, obs: LinearObservation, form: 'evidence' | 'moments' | 'gains') {
  const D = p.dim, J = p.components;
  const { a, y, rows: r } = reduced(obs);
  const s2 = obs.noiseStd * obs.noiseStd;
  const moments = form === 'moments';
  const means = new Float64Array(moments ? J * D : 0), covariances = new Float64Array(moments ? J * D * D : 0), logW = new Float64Array(J);
  const gains = form === 'gains' ? new Float64Array(J * D * r) : undefined;
  for (let j = 0; j < J; j++) {
    const m = p.means.subarray(j * D, (j + 1) * D);
    const sig = p.covariances.subarray(j * D * D, (j + 1) * D * D);
    // AS = A' Σ_j (r x D); S = AS A'^T + σ² I (r x r).
    const as = new Float64Array(r * D);
    for (let i = 0; i < r; i++) for (let k = 0; k < D; k++) {
      let acc = 0;
      for (let l = 0; l < D; l++) acc += a[i * D + l] * sig[l * D + k];
      as[i * D + k] = acc;
    }
    const S = new Float64Array(r * r);
    for (let i = 0; i < r; i++) for (let k = 0; k <= i; k++) {
      let acc = 0;
      for (let l = 0; l < D; l++) acc += as[i * D + l] * a[k * D + l];
      S[i * r + k] = S[k * r + i] = acc + (i === k ? s2 : 0);
    }
    const L = choleskyFactor(S, r);
    if (L === null) {
      throw new RangeError(
        `the observation's covariance A Σ_${j} A^T + noiseStd² I of component ${j} is singular: with noiseStd = 0 the rows of A are dependent ` +
          `(give the operator's svd, whose basis drops them) or component ${j} puts no mass on a direction A observes (docs/MATH.md §8); give a positive noiseStd`,
      );
    }
    // Innovation e = y' − A' m and the solves S⁻¹ e, S⁻¹ AS.
    const e = new Float64Array(r);
    for (let i = 0; i < r; i++) {
      let acc = y[i];
      for (let l = 0; l < D; l++) acc -= a[i * D + l] * m[l];
      e[i] = acc;
    }
    const se = e.slice();
    choleskySolve(L, r, se, 1);
    const sas = as.slice();
    if (form !== 'evidence') choleskySolve(L, r, sas, D);
    let quad = 0, logDet = 0;
    for (let i = 0; i < r; i++) {
      quad += e[i] * se[i];
      logDet += 2 * Math.log(L[i * r + i]);
    }
    logW[j] = Math.log(p.weights[j]) - 0.5 * (quad + logDet + r * Math.log(2 * Math.PI));
    if (gains) {
      // K_j = (AS)^T S⁻¹ = (S⁻¹ AS)^T (S symmetric).
      for (let k = 0; k < D; k++) for (let i = 0; i < r; i++) gains[(j * D + k) * r + i] = sas[i * D + k];
    }
    if (!moments) continue;
    // mean = m + (AS)^T S⁻¹ e; cov = Σ − (AS)^T S⁻¹ AS (K_j = Σ_j A'^T S⁻¹ = (AS)^T S⁻¹).
    for (let k = 0; k < D; k++) {
      let acc = m[k];
      for (let i = 0; i < r; i++) acc += as[i * D + k] * se[i];
      means[j * D + k] = acc;
    }
    for (let k = 0; k < D; k++) for (let l = 0; l <= k; l++) {
      let acc = 0;
      for (let i = 0; i < r; i++) acc += as[i * D + k] * sas[i * D + l];
      const v = sig[k * D + l] - acc;
      covariances[(j * D + k) * D + l] = v;
      covariances[(j * D + l) * D + k] = v;
    }
  }
  let max = -Infinity;
  for (const v of logW) max = Math.max(max, v);
  let total = 0;
  for (const v of logW) total += Math.exp(v - max);
  const weights = logW.map((v) => Math.exp(v - max) / total);
  let logEvidence = max + Math.log(total);
  // The component of y outside the range of A is pure noise (docs/MATH.md §8).
  if (obs.svd && s2 > 0) logEvidence += -obs.svd.yPerpNorm2 / (2 * s2) - ((obs.rows - obs.svd.rank) / 2) * Math.log(2 * Math.PI * s2);
  return { weights, means, covariances, logEvidence, a, y, rows: r, gains };
}

/** p_t(x | y) = Σ_j π̃_j N(α_t m̃_j, α_t² Σ̃_j + σ_t² I) (docs/MATH.md §8), as mixture parameters. */
export function noisedPosterior(post: LinearPosterior, dim: number, alpha: number, sigma2: number): MixtureParameters {
  const J = post.weights.length;
  const covariances = post.covariances.map((v) => alpha * alpha * v);
  for (let j = 0; j < J; j++) for (let k = 0; k < dim; k++) covariances[(j * dim + k) * dim + k] += sigma2;
  return { dim, components: J, weights: post.weights.slice(), means: post.means.map((v) => alpha * v), covariances };
}
