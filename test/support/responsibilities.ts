// Posterior component responsibilities r_j(x) ∝ w_j N(x_X; m_j, C_j) under the exact
// conditional mixture (MATH.md §7). Under exact sampling E[r_j(x)] = w_j, which gives
// a one-sample test of a sampler's mode weights with no second exact sample needed.
import type { ExactPosterior } from '../../lib/mixture';

function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= l[j * n + k] ** 2;
    l[j * n + j] = Math.sqrt(d);
    for (let i = j + 1; i < n; i++) {
      let x = a[i * n + j];
      for (let k = 0; k < j; k++) x -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = x / l[j * n + j];
    }
  }
  return l;
}

/** rows x J responsibilities of each row of x (rows x D). */
export function responsibilities(post: ExactPosterior, x: Float32Array, dim: number): Float64Array {
  const dx = post.latent.length, J = post.weights.length, n = x.length / dim;
  const factors = [], logDet: number[] = [];
  for (let j = 0; j < J; j++) {
    const l = cholesky(post.covariances.subarray(j * dx * dx, (j + 1) * dx * dx), dx);
    factors.push(l);
    let s = 0;
    for (let a = 0; a < dx; a++) s += Math.log(l[a * dx + a]);
    logDet.push(s);
  }
  const out = new Float64Array(n * J), y = new Float64Array(dx), lp = new Float64Array(J);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < J; j++) {
      const l = factors[j];
      for (let a = 0; a < dx; a++) {
        let v = x[i * dim + post.latent[a]] - post.means[j * dx + a];
        for (let k = 0; k < a; k++) v -= l[a * dx + k] * y[k];
        y[a] = v / l[a * dx + a];
      }
      let q = 0;
      for (let a = 0; a < dx; a++) q += y[a] * y[a];
      lp[j] = Math.log(post.weights[j]) - logDet[j] - 0.5 * q;
    }
    let m = -Infinity;
    for (let j = 0; j < J; j++) m = Math.max(m, lp[j]);
    let s = 0;
    for (let j = 0; j < J; j++) s += Math.exp(lp[j] - m);
    for (let j = 0; j < J; j++) out[i * J + j] = Math.exp(lp[j] - m) / s;
  }
  return out;
}

/**
 * z-scores of the mean responsibilities against the exact weights, with the
 * conservative standard error sqrt(w (1 - w) / n) (r_j ∈ [0, 1] with mean w_j has
 * variance at most w_j (1 - w_j)). Components with w_j < minWeight are skipped.
 */
export function modeWeightZ(post: ExactPosterior, x: Float32Array, dim: number, minWeight = 1e-3): { weight: number; mean: number; z: number }[] {
  const r = responsibilities(post, x, dim);
  const J = post.weights.length, n = x.length / dim;
  const res = [];
  for (let j = 0; j < J; j++) {
    const w = post.weights[j];
    if (w < minWeight) continue;
    let m = 0;
    for (let i = 0; i < n; i++) m += r[i * J + j];
    m /= n;
    res.push({ weight: w, mean: m, z: (m - w) / Math.sqrt((w * (1 - w)) / n) });
  }
  return res;
}
