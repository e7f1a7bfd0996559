// Exact answers for a Gaussian-mixture prior and a linear-Gaussian observation
// y = A x_0 + σ_y ε (docs/MATH.md §7, §8), in gain form so that σ_y = 0 and singular
// component covariances work: per component j,
//     S_j = A Σ_j A^T + σ_y² I,  K_j = Σ_j A^T S_j⁻¹,
//     weight ∝ π_j N(y; A m_j, S_j),  mean m_j + K_j (y − A m_j),  covariance Σ_j − K_j A Σ_j.
// With an SVD the observation is used in its basis, A' = diag(s) V_r^T and y' = ȳ, so
// redundant rows (rank r < d_y) leave S_j invertible; y_⊥ enters only p(y). Float64,
// small dense matrices (D up to a few hundred): these are oracles and setup, never per step.
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
  const D = p.dim, J = p.components;
  const { a, y, rows: r } = reduced(obs);
  const s2 = obs.noiseStd * obs.noiseStd;
  const means = new Float64Array(J * D), covariances = new Float64Array(J * D * D), logW = new Float64Array(J);
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
    choleskySolve(L, r, sas, D);
    let quad = 0, logDet = 0;
    for (let i = 0; i < r; i++) {
      quad += e[i] * se[i];
      logDet += 2 * Math.log(L[i * r + i]);
    }
    logW[j] = Math.log(p.weights[j]) - 0.5 * (quad + logDet + r * Math.log(2 * Math.PI));
    if (options.evidenceOnly) continue;
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
  return { weights, means, covariances, logEvidence };
}

/** p_t(x | y) = Σ_j π̃_j N(α_t m̃_j, α_t² Σ̃_j + σ_t² I) (docs/MATH.md §8), as mixture parameters. */
export function noisedPosterior(post: LinearPosterior, dim: number, alpha: number, sigma2: number): MixtureParameters {
  const J = post.weights.length;
  const covariances = post.covariances.map((v) => alpha * alpha * v);
  for (let j = 0; j < J; j++) for (let k = 0; k < dim; k++) covariances[(j * dim + k) * dim + k] += sigma2;
  return { dim, components: J, weights: post.weights.slice(), means: post.means.map((v) => alpha * v), covariances };
}

/**
 * A square root B with B B^T = Σ of a symmetric positive semi-definite matrix, by cyclic
 * Jacobi eigendecomposition (B = U diag(√max(λ, 0))): singular posteriors (σ_y = 0) included.
 */
export function psdSquareRoot(sigma: Float64Array, n: number): Float64Array {
  const a = sigma.slice();
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) u[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0, diag = 0;
    for (let p = 0; p < n; p++) for (let q = 0; q < n; q++) (p === q ? (diag += a[p * n + q] ** 2) : (off += a[p * n + q] ** 2));
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const ukp = u[k * n + p], ukq = u[k * n + q];
          u[k * n + p] = c * ukp - s * ukq;
          u[k * n + q] = s * ukp + c * ukq;
        }
      }
    }
  }
  const b = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const root = Math.sqrt(Math.max(a[k * n + k], 0));
    for (let i = 0; i < n; i++) b[i * n + k] = u[i * n + k] * root;
  }
  return b;
}
