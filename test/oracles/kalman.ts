// Kalman filter oracle for the bootstrap particle filter (MATH.md §3, "A second
// oracle, with no discretisation caveat"). Pure TypeScript, float64 throughout.
//
// With a Gaussian p0 = N(m, Σ) the score is linear (MATH.md §7, one component):
//     s_t(z) = -C_t^{-1} (z - α_t m),   C_t = α_t² Σ + σ_t² I,
// so every backward kernel mean of MATH.md §2, μ = a z + b s_t(z), is affine in z:
//     μ = A_i z + c_i,   A_i = a I - b C_t^{-1},   c_i = b α_t C_t^{-1} m.
// Given one fixed Y path (Y_{t_0}, …, Y_{t_S}) the filter's chain is a linear-Gaussian
// state-space model in the state X_{t_i}: at step i (t = t_i, s = t_{i-1})
//     "observation"  Y_s = A_YX X_t + A_YY Y_t + c_Y + √w η      (w: the weight variance)
//     transition     X_s = A_XX X_t + A_XY Y_t + c_X + √v ξ      (noise-free at i = 1)
// given X_t, the two are independent (separable dynamics, MATH.md §2), so the Kalman
// filter updates with the observation of step i BEFORE the transition of step i, the
// order of the particle filter (weight, resample, move). The prior on X_T is the
// filter's stand-in N(0, I), independent of Y_T. The sum of the log predictive
// densities is the exact log p(Y_{t_0:t_{S-1}} | Y_{t_S}) that log Ẑ estimates, and the
// final Gaussian is the exact p(X_0 | Y path) the particles target — for any S.
//
// Kernel coefficients (a, b, v, weightVariance) come from the library's
// stepCoefficients (the native formula of MATH.md §2, tested on its own in
// schedules.test.ts) so conventions match; everything else is recomputed here.
import { Schedule, KernelName } from '../../lib/schedules';
import { stepCoefficients } from '../../lib/kernel';

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

function symmetrize(a: Matrix): Matrix {
  const n = a.length;
  const out = zeros(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i][j] = 0.5 * (a[i][j] + a[j][i]);
  return out;
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
function backSubstitute(L: Matrix, b: ArrayLike<number>): number[] {
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

function block(a: Matrix, rows: ArrayLike<number>, cols: ArrayLike<number>): Matrix {
  return Array.from(rows, (i) => Array.from(cols, (j) => a[i][j]));
}

/** One step i (t = t_i → s = t_{i-1}) of the linear-Gaussian chain, in X/Y blocks. */
export interface ChainStep {
  /** A_i restricted to (rows, columns): μ_X = AXX X + AXY Y + cX, μ_Y = AYX X + AYY Y + cY. */
  AXX: Matrix;
  AXY: Matrix;
  AYX: Matrix;
  AYY: Matrix;
  cX: number[];
  cY: number[];
  /** Variance of the X move (0 at the last step unless finalNoise). */
  v: number;
  /** Variance of the Y "observation" (the filter's weight variance). */
  w: number;
}

/** The chain, steps[i - 1] for step i = 1..S (the filter runs i = S down to 1). */
export interface LinearGaussianChain {
  latent: number[];
  observed: number[];
  steps: ChainStep[];
  /** Prior on X_{t_S}: N(priorMean, priorCov), the filter's stand-in N(0, I). */
  priorMean: number[];
  priorCov: Matrix;
}

export interface ChainOptions {
  /** Keep the kernel noise at the last step (the sampler's finalNoise). Default false. */
  finalNoise?: boolean;
}

/**
 * Builds the linear-Gaussian chain of the filter for a Gaussian p0 = N(mean, cov), a
 * schedule, a kernel, S steps and the observed coordinates (the rest are latent).
 */
export function buildChain(
  p0: { mean: number[]; cov: Matrix },
  schedule: Schedule,
  kernel: KernelName,
  steps: number,
  observed: number[],
  options: ChainOptions = {},
): LinearGaussianChain {
  const D = p0.mean.length;
  const obs = [...observed];
  const lat: number[] = [];
  for (let k = 0; k < D; k++) if (!obs.includes(k)) lat.push(k);
  const grid = schedule.grid(steps);
  const coef = stepCoefficients(schedule, kernel, grid);
  const out: ChainStep[] = [];
  for (let i = 1; i <= steps; i++) {
    const t = grid[i];
    const alpha = Math.exp(schedule.logAlpha(t));
    const sigma2 = schedule.sigma2(t);
    const C = p0.cov.map((row, r) => row.map((x, c) => alpha * alpha * x + (r === c ? sigma2 : 0)));
    const Cinv = spdInverse(C);
    const { a, b, v, weightVariance } = coef[i - 1];
    // μ = a z + b s_t(z) = (a I - b C^{-1}) z + b α_t C^{-1} m
    const A = Cinv.map((row, r) => row.map((x, c) => (r === c ? a : 0) - b * x));
    const cm = matvec(Cinv, p0.mean).map((x) => b * alpha * x);
    out.push({
      AXX: block(A, lat, lat),
      AXY: block(A, lat, obs),
      AYX: block(A, obs, lat),
      AYY: block(A, obs, obs),
      cX: lat.map((k) => cm[k]),
      cY: obs.map((k) => cm[k]),
      v: i === 1 && !options.finalNoise ? 0 : v,
      w: weightVariance,
    });
  }
  return { latent: lat, observed: obs, steps: out, priorMean: new Array<number>(lat.length).fill(0), priorCov: identity(lat.length) };
}

export interface KalmanResult {
  /** Exact log p(Y_{t_0:t_{S-1}} | Y_{t_S}) under the chain (with every Gaussian constant). */
  logZ: number;
  /** Exact p(X_0 | Y path) = N(mean, cov) over the latent coordinates. */
  mean: number[];
  cov: Matrix;
}

/** Deliberate departures from the filter, to show a test's power (the default is exact). */
export interface KalmanOptions {
  /** Whether step i's observation is used (default: every step). */
  observe?: (i: number) => boolean;
  /** Grid index of the value step i's observation compares with (default i − 1). */
  observationIndex?: (i: number) => number;
}

/**
 * Runs the Kalman filter along one Y path: `path(g)` returns Y at grid index g
 * (g = 0 the data, g = S the end time T), d_Y values.
 */
export function kalman(
  chain: LinearGaussianChain,
  path: (g: number) => ArrayLike<number>,
  options: KalmanOptions = {},
): KalmanResult {
  const observe = options.observe ?? (() => true);
  const observationIndex = options.observationIndex ?? ((i: number) => i - 1);
  const S = chain.steps.length;
  const dY = chain.observed.length;
  let x = [...chain.priorMean];
  let P = chain.priorCov.map((row) => [...row]);
  let logZ = 0;
  for (let i = S; i >= 1; i--) {
    const st = chain.steps[i - 1];
    const yt = path(i);
    if (observe(i)) {
      // Update with the observation of step i: Y_s = H X_t + o + √w η.
      const ys = path(observationIndex(i));
      const H = st.AYX;
      const o = matvec(st.AYY, yt).map((u, j) => u + st.cY[j]);
      const yhat = matvec(H, x).map((u, j) => u + o[j]);
      const PHt = matmul(P, transpose(H));
      const Sy = matmul(H, PHt).map((row, r) => row.map((u, c) => u + (r === c ? st.w : 0)));
      logZ += logNormalDensity(ys, yhat, Sy);
      const SyInv = spdInverse(Sy);
      const K = matmul(PHt, SyInv);
      const innovation = Array.from({ length: dY }, (_, j) => ys[j] - yhat[j]);
      const gain = matvec(K, innovation);
      x = x.map((u, j) => u + gain[j]);
      const KHP = matmul(K, transpose(PHt));
      P = symmetrize(P.map((row, r) => row.map((u, c) => u - KHP[r][c])));
    }
    // Transition of step i: X_s = F X_t + u + √v ξ.
    const F = st.AXX;
    const u = matvec(st.AXY, yt).map((q, j) => q + st.cX[j]);
    x = matvec(F, x).map((q, j) => q + u[j]);
    P = symmetrize(matmul(matmul(F, P), transpose(F)).map((row, r) => row.map((q, c) => q + (r === c ? st.v : 0))));
  }
  return { logZ, mean: x, cov: P };
}

/** What the comparison needs from an smc result run with output 'all'. */
export interface FilterOutput {
  logEvidence: Float64Array;
  contextPath: Float32Array;
  particles: Float32Array;
  logWeights: Float64Array;
}

/**
 * Per-run comparison of a particle filter's output with the Kalman answer along each
 * run's own Y path. With R_r = Ẑ_r / Z_r and W the run's final normalised weights:
 *   ell[r]        = log Ẑ_r − log Z_r
 *   ratio[r]      = R_r                                     E = 1 exactly
 *   mean[r][j]    = (L⁻¹ (Σ_k W_k x_k − m_r))_j             whitened mean error (L Lᵀ = P_r)
 *   second[r][j][l] = (L⁻¹ Σ_k W_k (x_k − m_r)(x_k − m_r)ᵀ L⁻ᵀ)_{jl}   ≈ I
 * The unnormalised products R_r·mean[r] and R_r·(second[r] − I) have mean exactly 0 for
 * any N (the SMC estimate Ẑ Σ_k W_k φ(x_k) of Z·E[φ(X_0) | path] is unbiased), whereas the
 * self-normalised mean[r] and second[r] carry an O(1/N) bias.
 */
export interface RunComparison {
  ell: number[];
  ratio: number[];
  mean: number[][];
  second: number[][][];
  kalman: KalmanResult[];
}

export function compareRuns(
  out: FilterOutput,
  chain: LinearGaussianChain,
  runs: number,
  particles: number,
  dim: number,
  oracle: (chain: LinearGaussianChain, path: (g: number) => ArrayLike<number>, run: number) => KalmanResult = (c, p) => kalman(c, p),
): RunComparison {
  const dY = chain.observed.length, lat = chain.latent, dX = lat.length;
  const res: RunComparison = { ell: [], ratio: [], mean: [], second: [], kalman: [] };
  for (let r = 0; r < runs; r++) {
    const path = (g: number) => out.contextPath.subarray((g * runs + r) * dY, (g * runs + r + 1) * dY);
    const k = oracle(chain, path, r);
    const L = cholesky(k.cov);
    const xbar = new Array<number>(dX).fill(0);
    const M = zeros(dX, dX);
    const d = new Array<number>(dX);
    for (let p = 0; p < particles; p++) {
      const w = Math.exp(out.logWeights[r * particles + p]);
      const row = (r * particles + p) * dim;
      for (let j = 0; j < dX; j++) {
        const x = out.particles[row + lat[j]];
        xbar[j] += w * x;
        d[j] = x - k.mean[j];
      }
      // whitened deviation from the Kalman mean
      const u = forwardSubstitute(L, d);
      for (let j = 0; j < dX; j++) for (let l = 0; l < dX; l++) M[j][l] += w * u[j] * u[l];
    }
    const ell = out.logEvidence[r] - k.logZ;
    res.ell.push(ell);
    res.ratio.push(Math.exp(ell));
    res.mean.push(forwardSubstitute(L, xbar.map((x, j) => x - k.mean[j])));
    res.second.push(M);
    res.kalman.push(k);
  }
  return res;
}

/** z-score of the hypothesis E[x] = target: (mean − target) / (sd / √n), sd the sample sd. */
export function zScore(x: number[], target = 0): number {
  const n = x.length;
  const mu = x.reduce((a, b) => a + b, 0) / n;
  const v = x.reduce((a, b) => a + (b - mu) ** 2, 0) / (n - 1);
  return (mu - target) / Math.sqrt(v / n);
}

export interface ComparisonSummary {
  runs: number;
  /** Sample mean, variance and third central moment of ell = log Ẑ − log Z. */
  meanEll: number;
  varEll: number;
  thirdEll: number;
  /** mean(ell) + var(ell)/2 (≈ 0 to leading order) and its delta-method standard error. */
  jensenGap: number;
  jensenSe: number;
  /** Mean of R = Ẑ/Z and the z-score of E[R] = 1 (exact). */
  meanRatio: number;
  zRatio: number;
  /** z-scores of E[R·mean_j] = 0 and E[R·(second_jl − δ_jl)] = 0 (exact, any N). */
  zMean: number[];
  zSecond: number[][];
  /** The same without R (self-normalised: O(1/N) bias), for information. */
  zMeanSelf: number[];
  zSecondSelf: number[][];
  /** Pooled self-normalised estimates: mean over runs of mean[r] (≈ 0) and of second[r] (≈ I). */
  pooledMean: number[];
  pooledSecond: number[][];
}

export function summarize(c: RunComparison): ComparisonSummary {
  const K = c.ell.length;
  const dX = c.mean[0].length;
  const meanEll = c.ell.reduce((a, b) => a + b, 0) / K;
  const m2 = c.ell.reduce((a, b) => a + (b - meanEll) ** 2, 0) / K;
  const m3 = c.ell.reduce((a, b) => a + (b - meanEll) ** 3, 0) / K;
  const m4 = c.ell.reduce((a, b) => a + (b - meanEll) ** 4, 0) / K;
  const varEll = (m2 * K) / (K - 1);
  // Var(mean + s²/2) ≈ (μ2 + μ3 + (μ4 − μ2²)/4) / K  (delta method; Cov(mean, s²) = μ3 / K).
  const jensenSe = Math.sqrt(Math.max(m2 + m3 + (m4 - m2 * m2) / 4, m2) / K);
  const zMean: number[] = [], zMeanSelf: number[] = [];
  const zSecond: number[][] = [], zSecondSelf: number[][] = [];
  for (let j = 0; j < dX; j++) {
    zMean.push(zScore(c.mean.map((e, r) => c.ratio[r] * e[j])));
    zMeanSelf.push(zScore(c.mean.map((e) => e[j])));
    zSecond.push([]);
    zSecondSelf.push([]);
    for (let l = 0; l < dX; l++) {
      const delta = j === l ? 1 : 0;
      zSecond[j].push(zScore(c.second.map((s, r) => c.ratio[r] * (s[j][l] - delta))));
      zSecondSelf[j].push(zScore(c.second.map((s) => s[j][l] - delta)));
    }
  }
  const pooledMean = Array.from({ length: dX }, (_, j) => c.mean.reduce((a, e) => a + e[j], 0) / K);
  const pooledSecond = Array.from({ length: dX }, (_, j) => Array.from({ length: dX }, (__, l) => c.second.reduce((a, s) => a + s[j][l], 0) / K));
  return {
    runs: K,
    meanEll,
    varEll,
    thirdEll: m3,
    jensenGap: meanEll + varEll / 2,
    jensenSe,
    meanRatio: c.ratio.reduce((a, b) => a + b, 0) / K,
    zRatio: zScore(c.ratio, 1),
    zMean,
    zSecond,
    zMeanSelf,
    zSecondSelf,
    pooledMean,
    pooledSecond,
  };
}
