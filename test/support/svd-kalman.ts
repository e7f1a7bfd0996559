// Kalman oracle for the SVD bootstrap filter (docs/MATH.md §9.1, "Oracle"), Gaussian prior
// p0 = N(m, Σ), float64, independent of the library's filter: kernel coefficients and
// transitions from test/support/exact-schedules.ts, the affine kernel mean from
// kalman-oracle.ts. The observation's SVD (V_r, s, ȳ) is an input: it is checked against A
// by test/api/observations.test.ts, and the pinned path the filter reports is in its basis.
//
// The state is x_t ∈ R^D in the original basis. Pinning is the affine map
//     x ← (I − Π_O) x' + V_O c,  Π_O = V_O V_O^T,
// so along one pinned path the filter's chain is linear-Gaussian. At step t → s (grid index
// k = i − 1) with O = O_s: update with the "observation" Ỹ_{s,O} = V_O^T (A_i x_t + c_i) + √w η
// (w: the weight variance, v_nom at s = 0), then move x_s = (I − Π_O)(A_i x_t + c_i + √v ξ) + V_O Ỹ_{s,O}.
// With σ_y > 0 the final weight w₀(x) = exp(−½ x^T Λ x + b^T x + c₀) is applied in
// information form (the x_0 covariance may be singular): with y ~ N(0, P),
//     E[exp(−½ y^T Λ y + g^T y)] = det(I + PΛ)^{−1/2} exp(½ g^T (I + PΛ)⁻¹ P g).
import { ExactSchedule, exactSteps, weightVariance, KernelKind, transition } from './exact-schedules';
import { GaussianPrior } from './gaussian-model';
import { affineKernel } from './kalman-oracle';
import { Matrix, zeros, identity, matmul, matvec, transpose, symmetrize, spdInverse, logNormalDensity } from './matrix';

export interface RotatedObservation {
  /** r x D rows v_i^T. */
  vt: number[][];
  s: number[];
  ybar: number[];
  noiseStd: number;
}

export interface PinnedKalman {
  /** log E[Ẑ] of the pinned-path target (w₀ included). */
  logZ: number;
  mean: number[];
  cov: Matrix;
}

/** Solves M X = B for a general square M (Gauss–Jordan, partial pivoting); B n x m. */
export function solve(M: Matrix, B: Matrix): Matrix {
  const n = M.length, m = B[0].length;
  const a = M.map((row, i) => [...row, ...B[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let i = c + 1; i < n; i++) if (Math.abs(a[i][c]) > Math.abs(a[p][c])) p = i;
    [a[c], a[p]] = [a[p], a[c]];
    for (let i = 0; i < n; i++) {
      if (i === c) continue;
      const f = a[i][c] / a[c][c];
      if (f !== 0) for (let k = c; k < n + m; k++) a[i][k] -= f * a[c][k];
    }
  }
  return a.map((row, i) => row.slice(n).map((x) => x / a[i][i]));
}

/** log |det M| (LU with partial pivoting). */
export function logAbsDet(M: Matrix): number {
  const n = M.length;
  const a = M.map((row) => [...row]);
  let out = 0;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let i = c + 1; i < n; i++) if (Math.abs(a[i][c]) > Math.abs(a[p][c])) p = i;
    [a[c], a[p]] = [a[p], a[c]];
    out += Math.log(Math.abs(a[c][c]));
    for (let i = c + 1; i < n; i++) {
      const f = a[i][c] / a[c][c];
      for (let k = c; k < n; k++) a[i][k] -= f * a[c][k];
    }
  }
  return out;
}

/**
 * The exact x_0 target and normaliser of one run's pinned path. `path(k, i)` is Ỹ at grid
 * index k of rotated coordinate i; `start[i]` its first pinned grid index (S + 1: never).
 */
export function pinnedKalman(
  p0: GaussianPrior, q: ExactSchedule, kernel: KernelKind, grid: ArrayLike<number>, obs: RotatedObservation,
  start: ArrayLike<number>, path: (k: number, i: number) => number, options: { finalNoise?: boolean; skipFinalWeight?: boolean } = {},
): PinnedKalman {
  const D = p0.mean.length, r = obs.s.length, S = grid.length - 1;
  const steps = exactSteps(q, kernel, grid);
  const pinnedAt = (k: number) => Array.from({ length: r }, (_, i) => i).filter((i) => start[i] <= k);
  // The pin (I − Π_O) x + V_O c of a Gaussian N(m, P).
  const pin = (m: number[], P: Matrix, k: number) => {
    const O = pinnedAt(k);
    if (O.length === 0) return { m, P };
    const Pi = zeros(D, D);
    for (const i of O) for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) Pi[a][b] += obs.vt[i][a] * obs.vt[i][b];
    const F = identity(D).map((row, a) => row.map((x, b) => x - Pi[a][b]));
    const mm = matvec(F, m);
    for (const i of O) for (let a = 0; a < D; a++) mm[a] += obs.vt[i][a] * path(k, i);
    return { m: mm, P: symmetrize(matmul(matmul(F, P), transpose(F))) };
  };
  let { m, P } = pin(new Array<number>(D).fill(0), identity(D), S);
  let logZ = 0;
  for (let i = S; i >= 1; i--) {
    const st = steps[i - 1];
    const { A, c } = affineKernel(p0, q, st);
    const k = i - 1;
    const O = pinnedAt(k);
    if (O.length > 0) {
      const w = weightVariance(steps, i);
      const H = matmul(O.map((j) => obs.vt[j]), A);
      const o = matvec(O.map((j) => obs.vt[j]), c);
      const yhat = matvec(H, m).map((u, j) => u + o[j]);
      const PHt = matmul(P, transpose(H));
      const Sy = matmul(H, PHt).map((row, a) => row.map((u, b) => u + (a === b ? w : 0)));
      const ys = O.map((j) => path(k, j));
      logZ += logNormalDensity(ys, yhat, Sy);
      const K = matmul(PHt, spdInverse(Sy));
      const gain = matvec(K, ys.map((y, j) => y - yhat[j]));
      m = m.map((u, a) => u + gain[a]);
      const KHP = matmul(K, transpose(PHt));
      P = symmetrize(P.map((row, a) => row.map((u, b) => u - KHP[a][b])));
    }
    const v = i === 1 && !options.finalNoise ? 0 : st.v;
    const mNext = matvec(A, m).map((u, a) => u + c[a]);
    const PNext = symmetrize(matmul(matmul(A, P), transpose(A)).map((row, a) => row.map((u, b) => u + (a === b ? v : 0))));
    ({ m, P } = pin(mNext, PNext, k));
  }
  if (obs.noiseStd > 0 && !options.skipFinalWeight) {
    const s2 = obs.noiseStd ** 2;
    const Lam = zeros(D, D);
    const b = new Array<number>(D).fill(0);
    let c0 = 0;
    for (let i = 0; i < r; i++) {
      let a = obs.s[i] ** 2 / s2, lin = (obs.s[i] * obs.ybar[i]) / s2;
      c0 += -0.5 * Math.log(2 * Math.PI * s2) - obs.ybar[i] ** 2 / (2 * s2);
      if (start[i] <= S) {
        const t = grid[start[i]], alpha = q.alpha(t), sig2 = q.sigma2(t), y = path(start[i], i);
        a -= alpha * alpha / sig2;
        lin -= (alpha * y) / sig2;
        c0 -= -0.5 * Math.log(2 * Math.PI * sig2) - (y * y) / (2 * sig2);
      }
      for (let x = 0; x < D; x++) {
        b[x] += lin * obs.vt[i][x];
        for (let z = 0; z < D; z++) Lam[x][z] += a * obs.vt[i][x] * obs.vt[i][z];
      }
    }
    const IPL = identity(D).map((row, x) => row.map((u, z) => u + matmul(P, Lam)[x][z]));
    const g = b.map((u, x) => u - matvec(Lam, m)[x]);
    const T = solve(IPL, P); // (I + PΛ)⁻¹ P
    const Tg = matvec(T, g);
    logZ += c0 - 0.5 * logAbsDet(IPL) - 0.5 * m.reduce((acc, u, x) => acc + u * matvec(Lam, m)[x], 0) + b.reduce((acc, u, x) => acc + u * m[x], 0) + 0.5 * g.reduce((acc, u, x) => acc + u * Tg[x], 0);
    m = m.map((u, x) => u + Tg[x]);
    P = symmetrize(T);
  }
  return { logZ, mean: m, cov: P };
}

/** The conversion log p̂(y) − log Ẑ of docs/MATH.md §9.1, written here from the forward transitions. */
export function pathConversion(q: ExactSchedule, grid: ArrayLike<number>, obs: RotatedObservation, rows: number, yPerpNorm2: number, start: ArrayLike<number>, path: (k: number, i: number) => number): number {
  const S = grid.length - 1, r = obs.s.length;
  let c = 0;
  for (let i = 0; i < r; i++) {
    if (start[i] > S) continue;
    c += -0.5 * Math.log(2 * Math.PI) - path(S, i) ** 2 / 2;
    for (let k = start[i] + 1; k <= S; k++) {
      const tr = transition(q, grid[k - 1], grid[k]);
      c -= -0.5 * Math.log(2 * Math.PI * tr.sigma2) - (path(k, i) - tr.alpha * path(k - 1, i)) ** 2 / (2 * tr.sigma2);
    }
  }
  if (obs.noiseStd === 0) for (const s of obs.s) c -= Math.log(s);
  else c += -yPerpNorm2 / (2 * obs.noiseStd ** 2) - ((rows - r) / 2) * Math.log(2 * Math.PI * obs.noiseStd ** 2);
  return c;
}

/** Coordinates J with cov[J][J] well conditioned (greedy pivoted Cholesky, relative tolerance 1e-9): the span of a singular Gaussian. */
export function pivots(cov: Matrix): number[] {
  const D = cov.length;
  const d = cov.map((row, i) => row[i]);
  const scale = Math.max(...d);
  const L: number[][] = [];
  const chosen: number[] = [];
  for (;;) {
    let best = -1;
    for (let i = 0; i < D; i++) if (!chosen.includes(i) && (best < 0 || d[i] > d[best])) best = i;
    if (best < 0 || !(d[best] > 1e-9 * scale)) break;
    const col = cov.map((row, i) => {
      let acc = row[best];
      for (let k = 0; k < chosen.length; k++) acc -= L[k][i] * L[k][best];
      return acc / Math.sqrt(d[best]);
    });
    L.push(col);
    chosen.push(best);
    for (let i = 0; i < D; i++) d[i] -= col[i] * col[i];
  }
  return chosen.sort((a, b) => a - b);
}
