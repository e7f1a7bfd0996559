// Kalman filter oracle for the bootstrap particle filter (MATH.md §3, "A second oracle,
// with no discretisation caveat") and the exact law of replacement sampling, for a
// Gaussian prior. Pure TypeScript, float64, and independent of the library: the kernel
// coefficients and the context path's transitions come from test/support/exact-schedules.ts
// (MATH.md §1–§2 as written), never from lib/.
//
// With p0 = N(m, Σ) the score is linear, s_t(z) = −C_t⁻¹ (z − α_t m), C_t = α_t² Σ + σ_t² I,
// so every backward kernel mean μ = cz z + cs s_t(z) is affine in z:
//     μ = A_i z + c_i,   A_i = cz I − cs C_t⁻¹,   c_i = cs α_t C_t⁻¹ m.
// Given one Y path (Y_{t_0}, …, Y_{t_S}) the filter's chain is a linear-Gaussian
// state-space model in X_{t_i}: at step i (t = t_i, s = t_{i−1})
//     "observation"  Y_s = A_YX X_t + A_YY Y_t + c_Y + √w η      (w: the weight variance)
//     transition     X_s = A_XX X_t + A_XY Y_t + c_X + √v ξ      (noise-free at i = 1)
// Given X_t the two are independent (separable dynamics, MATH.md §2), so the Kalman
// filter updates with step i's observation BEFORE step i's transition, the particle
// filter's order (weight, resample, move). X_T ~ N(0, I), the filter's stand-in,
// independent of Y_T. The sum of the log predictive densities is the exact
// log p(Y_{t_0:t_{S−1}} | Y_{t_S}) that log Ẑ estimates, and the final Gaussian is the exact
// p(X_0 | Y path) the particles target, for any grid.
import { ExactSchedule, ExactStep, exactSteps, weightVariance, KernelKind, exactSchedule, ScheduleSpec, transition } from './exact-schedules';
import { GaussianPrior, noisedPrecision, latentOf } from './gaussian-model';
import { Matrix, zeros, identity, matmul, matvec, transpose, symmetrize, block, cholesky, forwardSubstitute, spdInverse, logNormalDensity } from './matrix';

/** One step i (t = t_i → s = t_{i−1}) of the linear-Gaussian chain, in X/Y blocks. */
export interface ChainStep {
  /** μ_X = AXX X + AXY Y + cX, μ_Y = AYX X + AYY Y + cY. */
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

/** The chain, steps[i − 1] for step i = 1..S (the filter runs i = S down to 1). */
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

/** The affine kernel mean μ(z) = A z + c of one exact step on the Gaussian prior. */
export function affineKernel(p0: GaussianPrior, q: ExactSchedule, st: ExactStep): { A: Matrix; c: number[] } {
  const { alpha, Cinv } = noisedPrecision(p0, q, st.t);
  const A = Cinv.map((row, r) => row.map((x, c) => (r === c ? st.cz : 0) - st.cs * x));
  const c = matvec(Cinv, p0.mean).map((x) => st.cs * alpha * x);
  return { A, c };
}

/** Builds the chain from exact steps (exactSteps of the grid, or deliberately altered ones). */
export function buildChain(p0: GaussianPrior, q: ExactSchedule, steps: ExactStep[], observed: number[], options: ChainOptions = {}): LinearGaussianChain {
  const obs = [...observed];
  const lat = latentOf(p0.mean.length, obs);
  const out: ChainStep[] = steps.map((st, k) => {
    const { A, c } = affineKernel(p0, q, st);
    return {
      AXX: block(A, lat, lat),
      AXY: block(A, lat, obs),
      AYX: block(A, obs, lat),
      AYY: block(A, obs, obs),
      cX: lat.map((j) => c[j]),
      cY: obs.map((j) => c[j]),
      v: k === 0 && !options.finalNoise ? 0 : st.v,
      w: weightVariance(steps, k + 1),
    };
  });
  return { latent: lat, observed: obs, steps: out, priorMean: new Array<number>(lat.length).fill(0), priorCov: identity(lat.length) };
}

/** The exact chain of a schedule spec, kernel and grid. */
export function chainFor(p0: GaussianPrior, spec: ScheduleSpec, kernel: KernelKind, grid: ArrayLike<number>, observed: number[], options: ChainOptions = {}): LinearGaussianChain {
  const q = exactSchedule(spec);
  return buildChain(p0, q, exactSteps(q, kernel, grid), observed, options);
}

export interface KalmanResult {
  /** Exact log p(Y_{t_0:t_{S−1}} | Y_{t_S}) under the chain (with every Gaussian constant). */
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

/** Runs the Kalman filter along one Y path: `path(g)` is Y at grid index g (0 the data, S the end). */
export function kalman(chain: LinearGaussianChain, path: (g: number) => ArrayLike<number>, options: KalmanOptions = {}): KalmanResult {
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
      const K = matmul(PHt, spdInverse(Sy));
      const gain = matvec(K, Array.from({ length: dY }, (_, j) => ys[j] - yhat[j]));
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

/**
 * Reference for the Kalman recursion: the whole chain as one joint Gaussian. Every quantity
 * is affine in the base vector (X_T, ξ_S..ξ_1, η_S..η_1) ~ N(0, I); log p(Y obs) and
 * p(X_0 | Y obs) then follow by plain Gaussian conditioning (MATH.md §7).
 */
export function jointGaussianReference(c: LinearGaussianChain, path: (g: number) => ArrayLike<number>): KalmanResult {
  const S = c.steps.length, dX = c.latent.length, dY = c.observed.length;
  const nb = dX + S * dX + S * dY;
  const L0 = cholesky(c.priorCov);
  let Mx = zeros(dX, nb);
  for (let a = 0; a < dX; a++) for (let b = 0; b < dX; b++) Mx[a][b] = L0[a][b];
  let kx = [...c.priorMean];
  const My: number[][] = [], ky: number[] = [], yObs: number[] = [];
  for (let i = S; i >= 1; i--) {
    const st = c.steps[i - 1];
    const yt = path(i), ys = path(i - 1);
    const xiAt = dX + (S - i) * dX, etaAt = dX + S * dX + (S - i) * dY;
    const HM = matmul(st.AYX, Mx), Hk = matvec(st.AYX, kx), o = matvec(st.AYY, yt);
    for (let j = 0; j < dY; j++) {
      const row = [...HM[j]];
      row[etaAt + j] += Math.sqrt(st.w);
      My.push(row);
      ky.push(Hk[j] + o[j] + st.cY[j]);
      yObs.push(ys[j]);
    }
    const FM = matmul(st.AXX, Mx), Fk = matvec(st.AXX, kx), u = matvec(st.AXY, yt);
    for (let a = 0; a < dX; a++) FM[a][xiAt + a] += Math.sqrt(st.v);
    Mx = FM;
    kx = Fk.map((x, a) => x + u[a] + st.cX[a]);
  }
  const Syy = matmul(My, transpose(My));
  const Sxy = matmul(Mx, transpose(My));
  const Sxx = matmul(Mx, transpose(Mx));
  const gain = matmul(Sxy, spdInverse(Syy));
  const gi = matvec(gain, yObs.map((y, j) => y - ky[j]));
  const GS = matmul(gain, transpose(Sxy));
  return { logZ: logNormalDensity(yObs, ky, Syy), mean: kx.map((x, a) => x + gi[a]), cov: Sxx.map((row, a) => row.map((x, b) => x - GS[a][b])) };
}

/**
 * The exact law of replacement sampling's output X_0 (MATH.md §3, Algorithm 1) on the chain:
 * no weights, so X_0 is affine in (X_T, ξ's, the context path's noise) and Gaussian. With the
 * 'fixed' context Y_t = Y_0; with 'forward' each sample draws its own noising path
 * Y_{t_i} = α_{t_i|t_{i−1}} Y_{t_{i−1}} + σ_{t_i|t_{i−1}} ζ_i (transitions from the exact schedule).
 */
export function replacementLaw(c: LinearGaussianChain, q: ExactSchedule, grid: ArrayLike<number>, y0: number[], context: 'fixed' | 'forward'): { mean: number[]; cov: Matrix } {
  const S = c.steps.length, dX = c.latent.length, dY = c.observed.length;
  const nb = dX + S * dX + S * dY;
  // Y_{t_g} = yk[g] + yM[g] · base, g = 0..S.
  const yk: number[][] = [y0.slice()], yM: Matrix[] = [zeros(dY, nb)];
  for (let g = 1; g <= S; g++) {
    if (context === 'fixed') {
      yk.push(y0.slice());
      yM.push(zeros(dY, nb));
      continue;
    }
    const tr = transition(q, grid[g - 1], grid[g]);
    const sd = Math.sqrt(tr.sigma2);
    yk.push(yk[g - 1].map((x) => tr.alpha * x));
    const M = yM[g - 1].map((row) => row.map((x) => tr.alpha * x));
    for (let j = 0; j < dY; j++) M[j][dX + S * dX + (g - 1) * dY + j] += sd;
    yM.push(M);
  }
  let Mx = zeros(dX, nb);
  for (let a = 0; a < dX; a++) Mx[a][a] = 1; // X_T ~ N(0, I)
  let kx = new Array<number>(dX).fill(0);
  for (let i = S; i >= 1; i--) {
    const st = c.steps[i - 1];
    const Fk = matvec(st.AXX, kx), FM = matmul(st.AXX, Mx);
    const Gk = matvec(st.AXY, yk[i]), GM = matmul(st.AXY, yM[i]);
    const xiAt = dX + (S - i) * dX;
    Mx = FM.map((row, a) => row.map((x, b) => x + GM[a][b] + (b === xiAt + a ? Math.sqrt(st.v) : 0)));
    kx = Fk.map((x, a) => x + Gk[a] + st.cX[a]);
  }
  return { mean: kx, cov: symmetrize(matmul(Mx, transpose(Mx))) };
}

/** What the comparison needs from an smc result. */
export interface FilterOutput {
  logEvidence: Float64Array;
  /** (S + 1) x runs x d_Y. */
  contextPath: Float32Array;
  /** runs x perRun x D draws; logWeights runs x perRun (normalised per run), or null: equal weights. */
  draws: Float32Array;
  logWeights: Float64Array | null;
  perRun: number;
}

/** Kalman answers along each run's own context path. */
export function kalmanPerRun(chain: LinearGaussianChain, contextPath: Float32Array, runs: number, options: KalmanOptions | ((run: number) => KalmanOptions) = {}): KalmanResult[] {
  const dY = chain.observed.length;
  const out: KalmanResult[] = [];
  for (let r = 0; r < runs; r++) {
    const path = (g: number) => contextPath.subarray((g * runs + r) * dY, (g * runs + r + 1) * dY);
    out.push(kalman(chain, path, typeof options === 'function' ? options(r) : options));
  }
  return out;
}

/**
 * Per-run comparison with the Kalman answer. With R_r = Ẑ_r / Z_r and W the run's
 * normalised weights (1 for a single draw):
 *   ell[r]  = log Ẑ_r − log Z_r;   ratio[r] = R_r                          E[R] = 1 exactly
 *   mean[r] = L⁻¹ (Σ_k W_k x_k − m_r)             whitened mean error (L Lᵀ = P_r)
 *   second[r] = L⁻¹ Σ_k W_k (x_k − m_r)(x_k − m_r)ᵀ L⁻ᵀ                     ≈ I
 * R·mean and R·(second − I) have mean exactly 0 for any N (Ẑ Σ_k W_k φ(x_k) is unbiased
 * for Z E[φ(X_0) | path]); the self-normalised mean and second carry an O(1/N) bias. A draw
 * chosen by weight (output 'one') has the same two exact identities with W = one draw.
 */
export interface RunComparison {
  ell: number[];
  ratio: number[];
  mean: number[][];
  second: number[][][];
}

export function compareRuns(out: FilterOutput, chain: LinearGaussianChain, answers: KalmanResult[], dim: number): RunComparison {
  const lat = chain.latent, dX = lat.length, n = out.perRun;
  const res: RunComparison = { ell: [], ratio: [], mean: [], second: [] };
  const d = new Float64Array(dX), u = new Float64Array(dX), xbar = new Float64Array(dX);
  answers.forEach((k, r) => {
    const L = cholesky(k.cov);
    xbar.fill(0);
    const M = zeros(dX, dX);
    for (let p = 0; p < n; p++) {
      const w = out.logWeights === null ? 1 / n : Math.exp(out.logWeights[r * n + p]);
      const row = (r * n + p) * dim;
      for (let j = 0; j < dX; j++) {
        d[j] = out.draws[row + lat[j]] - k.mean[j];
        xbar[j] += w * d[j];
      }
      for (let i = 0; i < dX; i++) {
        let s = d[i];
        for (let q = 0; q < i; q++) s -= L[i][q] * u[q];
        u[i] = s / L[i][i];
      }
      for (let j = 0; j < dX; j++) for (let l = 0; l <= j; l++) M[j][l] += w * u[j] * u[l];
    }
    for (let j = 0; j < dX; j++) for (let l = 0; l < j; l++) M[l][j] = M[j][l];
    const ell = out.logEvidence[r] - k.logZ;
    res.ell.push(ell);
    res.ratio.push(Math.exp(ell));
    res.mean.push(forwardSubstitute(L, xbar));
    res.second.push(M);
  });
  return res;
}

/** z-score of the hypothesis E[x] = target, with the sample sd: (mean − target) / (sd / √n). */
export function zScore(x: number[], target = 0): number {
  const n = x.length;
  const mu = x.reduce((a, b) => a + b, 0) / n;
  const v = x.reduce((a, b) => a + (b - mu) ** 2, 0) / (n - 1);
  if (v === 0) return mu === target ? 0 : Infinity;
  return (mu - target) / Math.sqrt(v / n);
}

export interface ComparisonSummary {
  runs: number;
  /** Sample mean and variance of ell = log Ẑ − log Z. */
  meanEll: number;
  varEll: number;
  /** mean(ell) + var(ell)/2 (≈ 0 to leading order) and its delta-method standard error. */
  jensenGap: number;
  jensenSe: number;
  /** Mean of R = Ẑ/Z and the z-score of E[R] = 1 (exact). */
  meanRatio: number;
  zRatio: number;
  /** z-scores of E[R·mean_j] = 0 and E[R·(second_jl − δ_jl)] = 0 (exact, any N). */
  zMean: number[];
  zSecond: number[][];
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
  const zMean: number[] = [];
  const zSecond: number[][] = [];
  for (let j = 0; j < dX; j++) {
    zMean.push(zScore(c.mean.map((e, r) => c.ratio[r] * e[j])));
    zSecond.push([]);
    for (let l = 0; l < dX; l++) {
      const delta = j === l ? 1 : 0;
      zSecond[j].push(zScore(c.second.map((s, r) => c.ratio[r] * (s[j][l] - delta))));
    }
  }
  return {
    runs: K,
    meanEll,
    varEll,
    jensenGap: meanEll + varEll / 2,
    jensenSe,
    meanRatio: c.ratio.reduce((a, b) => a + b, 0) / K,
    zRatio: zScore(c.ratio, 1),
    zMean,
    zSecond,
    pooledMean: Array.from({ length: dX }, (_, j) => c.mean.reduce((a, e) => a + e[j], 0) / K),
    pooledSecond: Array.from({ length: dX }, (_, j) => Array.from({ length: dX }, (__, l) => c.second.reduce((a, s) => a + s[j][l], 0) / K)),
  };
}
