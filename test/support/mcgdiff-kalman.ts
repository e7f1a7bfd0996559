// Kalman oracle for MCGdiff (docs/MATH.md §9.2, "Oracle"), Gaussian prior p0 = N(m, Σ), float64,
// independent of the library: kernel coefficients from test/support/exact-schedules.ts, the
// affine kernel mean from kalman-oracle.ts, the twist written here from its definition.
//
// The target p_θ(x_{0:T}) Π_i N(x̄_{τ_i,i}; ỹ_i, κ) [× w₀] is a linear-Gaussian state-space model
// in x_t (original basis) with soft observations ỹ_i = v_i^T x_{τ_i} + √κ η at grid index k_i:
//   x_T ~ N(0, I);  for i = S … 1: x_{t_{i−1}} = A_i x_{t_i} + c_i + noise of covariance Q_i,
//   Q_i = v I except at the last step, where the coordinates twisted at 0 (σ_y = 0) move with
//   the nominal variance and the rest with none (with finalNoise: the step's own v);
// updated with every soft observation at its node. The normaliser is the product of the
// predictive densities; w₀, a quadratic in x₀, is applied in information form as in svd-kalman.ts.
import { exactSteps, weightVariance, KernelKind, ExactSchedule } from './exact-schedules';
import { GaussianPrior } from './gaussian-model';
import { affineKernel } from './kalman-oracle';
import { Matrix, zeros, identity, matmul, matvec, transpose, symmetrize, spdInverse, logNormalDensity } from './matrix';
import { solve, logAbsDet, RotatedObservation } from './svd-kalman';

export interface McgdiffTarget {
  /** log of the target's normaliser, E[Ẑ] (w₀ included when applied). */
  logZ: number;
  mean: number[];
  cov: Matrix;
}

/**
 * `levels[i]`: the grid index of τ_i (S + 1: never twisted). `ytilde[i]` = α_{τ_i} ȳ_i/s_i is
 * computed here from the observation.
 */
export function mcgdiffKalman(
  p0: GaussianPrior, q: ExactSchedule, kernel: KernelKind, grid: ArrayLike<number>, obs: RotatedObservation, levels: number[],
  kappa: number, options: { finalWeight: boolean; finalNoise?: boolean },
): McgdiffTarget {
  const D = p0.mean.length, r = obs.s.length, S = grid.length - 1;
  const steps = exactSteps(q, kernel, grid);
  const ytilde = obs.ybar.map((y, i) => (levels[i] <= S ? (q.alpha(grid[levels[i]]) * y) / obs.s[i] : NaN));
  let m = new Array<number>(D).fill(0);
  let P = identity(D);
  let logZ = 0;
  const update = (k: number) => {
    for (let i = 0; i < r; i++) {
      if (levels[i] !== k) continue;
      const h = obs.vt[i];
      const Ph = matvec(P, h);
      const sy = h.reduce((a, x, c) => a + x * Ph[c], 0) + kappa;
      const pred = h.reduce((a, x, c) => a + x * m[c], 0);
      logZ += logNormalDensity([ytilde[i]], [pred], [[sy]]);
      const gain = Ph.map((x) => x / sy);
      m = m.map((x, c) => x + gain[c] * (ytilde[i] - pred));
      P = symmetrize(P.map((row, a) => row.map((x, b) => x - gain[a] * Ph[b])));
    }
  };
  update(S);
  for (let i = S; i >= 1; i--) {
    const st = steps[i - 1];
    const { A, c } = affineKernel(p0, q, st);
    let Q: Matrix;
    if (i > 1) Q = identity(D).map((row) => row.map((x) => x * st.v));
    else {
      const vFree = options.finalNoise ? st.v : 0, vNom = weightVariance(steps, 1);
      Q = identity(D).map((row) => row.map((x) => x * vFree));
      for (let j = 0; j < r; j++) {
        if (levels[j] !== 0) continue;
        for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) Q[a][b] += (vNom - vFree) * obs.vt[j][a] * obs.vt[j][b];
      }
    }
    m = matvec(A, m).map((x, a) => x + c[a]);
    P = symmetrize(matmul(matmul(A, P), transpose(A)).map((row, a) => row.map((x, b) => x + Q[a][b])));
    update(i - 1);
  }
  if (options.finalWeight) {
    const s2 = obs.noiseStd ** 2;
    const Lam = zeros(D, D);
    const b = new Array<number>(D).fill(0);
    let c0 = 0;
    for (let i = 0; i < r; i++) {
      let a = obs.s[i] ** 2 / s2, lin = (obs.s[i] * obs.ybar[i]) / s2;
      c0 += -0.5 * Math.log(2 * Math.PI * s2) - obs.ybar[i] ** 2 / (2 * s2);
      if (levels[i] <= S) {
        const t = grid[levels[i]], alpha = q.alpha(t), v = q.sigma2(t) + kappa;
        a -= (alpha * alpha) / v;
        lin -= (alpha * ytilde[i]) / v;
        c0 -= -0.5 * Math.log(2 * Math.PI * v) - ytilde[i] ** 2 / (2 * v);
      }
      for (let x = 0; x < D; x++) {
        b[x] += lin * obs.vt[i][x];
        for (let z = 0; z < D; z++) Lam[x][z] += a * obs.vt[i][x] * obs.vt[i][z];
      }
    }
    // With x ~ N(m, P): E[exp(−½ x^T Λ x + b^T x)] = det(I + PΛ)^{−1/2} exp(−½ m^T Λ m + b^T m + ½ g^T (I + PΛ)⁻¹ P g), g = b − Λ m.
    const PL = matmul(P, Lam);
    const IPL = identity(D).map((row, x) => row.map((u, z) => u + PL[x][z]));
    const Lm = matvec(Lam, m);
    const g = b.map((u, x) => u - Lm[x]);
    const T = solve(IPL, P);
    const Tg = matvec(T, g);
    logZ += c0 - 0.5 * logAbsDet(IPL) - 0.5 * m.reduce((acc, u, x) => acc + u * Lm[x], 0) + b.reduce((acc, u, x) => acc + u * m[x], 0) + 0.5 * g.reduce((acc, u, x) => acc + u * Tg[x], 0);
    m = m.map((u, x) => u + Tg[x]);
    P = symmetrize(T);
  }
  return { logZ, mean: m, cov: P };
}

/** The exact posterior p(x_0 | y) and log p(y) of a Gaussian prior (docs/MATH.md §8, gain form), written here. */
export function exactPosterior(p0: GaussianPrior, A: number[][], y: number[], noiseStd: number): { mean: number[]; cov: Matrix; logPy: number } {
  const SAt = matmul(p0.cov, transpose(A));
  const Sy = matmul(A, SAt).map((row, i) => row.map((x, j) => x + (i === j ? noiseStd ** 2 : 0)));
  const K = matmul(SAt, spdInverse(Sy));
  const resid = matvec(A, p0.mean).map((u, i) => y[i] - u);
  const mean = p0.mean.map((u, a) => u + K[a].reduce((acc, k, i) => acc + k * resid[i], 0));
  const KASig = matmul(K, transpose(SAt));
  const cov = symmetrize(p0.cov.map((row, a) => row.map((x, b) => x - KASig[a][b])));
  return { mean, cov, logPy: logNormalDensity(y, matvec(A, p0.mean), Sy) };
}

/** log p(y) of the exact model: y ~ N(A m, A Σ A^T + σ_y² I) (docs/MATH.md §8), for the conversion checks. */
export function exactLogPy(p0: GaussianPrior, A: number[][], y: number[], noiseStd: number): number {
  const cov = matmul(matmul(A, p0.cov), transpose(A)).map((row, i) => row.map((x, j) => x + (i === j ? noiseStd ** 2 : 0)));
  return logNormalDensity(y, matvec(A, p0.mean), cov);
}
