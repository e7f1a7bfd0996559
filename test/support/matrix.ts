// Small dense linear algebra for the test oracles (float64, row-major number[][]):
// Cholesky, SPD inverse, triangular solves and the Gaussian log-density of MATH.md §7.

export type Matrix = number[][];

export function zeros(r: number, c: number): Matrix {
  return Array.from({ length: r }, () => new Array<number>(c).fill(0));
}

export function identity(n: number): Matrix {
  const m = zeros(n, n);
  for (let i = 0; i < n; i++) m[i][i] = 1;
  return m;
}

export function matmul(a: Matrix, b: Matrix): Matrix {
  const n = a.length, k = b.length, m = b[0].length;
  const out = zeros(n, m);
  for (let i = 0; i < n; i++) {
    for (let l = 0; l < k; l++) {
      const x = a[i][l];
      if (x === 0) continue;
      for (let j = 0; j < m; j++) out[i][j] += x * b[l][j];
    }
  }
  return out;
}

export function matvec(a: Matrix, x: ArrayLike<number>): number[] {
  return a.map((row) => row.reduce((acc, v, j) => acc + v * x[j], 0));
}

export function transpose(a: Matrix): Matrix {
  return a[0].map((_, j) => a.map((row) => row[j]));
}

export function add(a: Matrix, b: Matrix, scaleB = 1): Matrix {
  return a.map((row, i) => row.map((x, j) => x + scaleB * b[i][j]));
}

export function symmetrize(a: Matrix): Matrix {
  const n = a.length;
  const out = zeros(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i][j] = 0.5 * (a[i][j] + a[j][i]);
  return out;
}

export function block(a: Matrix, rows: ArrayLike<number>, cols: ArrayLike<number>): Matrix {
  return Array.from(rows, (i) => Array.from(cols, (j) => a[i][j]));
}

/** Lower Cholesky factor L (L Lᵀ = a) of a symmetric positive-definite matrix. */
export function cholesky(a: Matrix): Matrix {
  const n = a.length;
  const L = zeros(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i][j];
      for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k];
      if (i === j) {
        if (!(s > 0)) throw new RangeError(`cholesky: matrix not positive definite (pivot ${s} at ${i})`);
        L[i][i] = Math.sqrt(s);
      } else {
        L[i][j] = s / L[j][j];
      }
    }
  }
  return L;
}

/** Solves L x = b (L lower triangular). */
export function forwardSubstitute(L: Matrix, b: ArrayLike<number>): number[] {
  const n = L.length;
  const x = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i][k] * x[k];
    x[i] = s / L[i][i];
  }
  return x;
}

/** Solves Lᵀ x = b (L lower triangular). */
export function backSubstitute(L: Matrix, b: ArrayLike<number>): number[] {
  const n = L.length;
  const x = new Array<number>(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i];
    for (let k = i + 1; k < n; k++) s -= L[k][i] * x[k];
    x[i] = s / L[i][i];
  }
  return x;
}

/** Inverse of a symmetric positive-definite matrix, via Cholesky. */
export function spdInverse(a: Matrix): Matrix {
  const n = a.length;
  const L = cholesky(a);
  const inv = zeros(n, n);
  for (let j = 0; j < n; j++) {
    const e = new Array<number>(n).fill(0);
    e[j] = 1;
    const col = backSubstitute(L, forwardSubstitute(L, e));
    for (let i = 0; i < n; i++) inv[i][j] = col[i];
  }
  return symmetrize(inv);
}

/** log N(y; mean, cov), full covariance, with the Gaussian constant. */
export function logNormalDensity(y: ArrayLike<number>, mean: ArrayLike<number>, cov: Matrix): number {
  const n = cov.length;
  const L = cholesky(cov);
  const d = new Array<number>(n);
  for (let i = 0; i < n; i++) d[i] = y[i] - mean[i];
  const u = forwardSubstitute(L, d);
  let quad = 0, logDet = 0;
  for (let i = 0; i < n; i++) {
    quad += u[i] * u[i];
    logDet += 2 * Math.log(L[i][i]);
  }
  return -0.5 * quad - 0.5 * logDet - 0.5 * n * Math.log(2 * Math.PI);
}
