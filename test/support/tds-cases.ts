// Twisted SMC (docs/MATH.md §10) against the exact answer of its discretised chain, for the
// 5-D Gaussian prior of kalman-problems.ts observed on coordinates 1 and 3, exactly or with
// noise, or through the dense 2 x 5 LINEAR_A with noise (S = A P Aᵀ + σ_y² I below). The oracle is written here from the schedule's definition (exact-schedules.ts), not
// from the library's coefficients: with a Gaussian prior every kernel mean is affine, so the
// chain's x₀ (the last step's deterministic mean) is N(m_θ, P_θ), propagated exactly, and
//   σ_y > 0:  the target is p_θ(x₀) N(y; x₀[M], σ_y² I), p_θ(y) = N(y; m_θ[M], P_θ[MM] + σ_y² I);
//   σ_y = 0:  the last step is weighed with the nominal variance v_nom, i.e. the same with
//             σ_y² → v_nom, and the observed coordinates are set to y.
// Each run r gives Ẑ_r and weighted particles; with R_r = Ẑ_r / Z, E[R_r Σ_k W_rk f(x_rk)] is
// exactly E_post[f] at any N (no O(1/N) bias), so the checks are z-scores over runs of
// R·(whitened mean), R·(whitened second moment − I) and R − 1.
import { tds, TdsResult } from '../../lib/tds';
import { GaussianMixture } from '../../lib/mixture';
import type { ScoreContext } from '../../lib/score';
import { Check, StatCase, abs, upper, lower } from './checks';
import { eightDimensional, K, Z_MODE } from './mixture-cases';
import { modeWeightZ } from '../oracles/responsibilities';
import { schedules } from '../../lib/schedules';
import { KernelConfig, KERNEL_CONFIGS, PRIOR, PRIOR_JSON, OBSERVED, Y0, D, libSchedule } from './kalman-problems';
import { exactSchedule, exactSteps, weightVariance } from './exact-schedules';
import { affineKernel } from './kalman-oracle';
import { gaussianScore, noisedPrecision, latentOf } from './gaussian-model';
import { Matrix, identity, matmul, matvec, transpose, block, spdInverse, cholesky, logNormalDensity } from './matrix';
import { zScore } from './kalman-oracle';

export type Gradient = 'none' | 'identity' | 'exact' | 'finite-difference' | 'vjp';

export interface TdsCaseSpec {
  config: KernelConfig;
  noiseStd: number;
  gradient: Gradient;
  /** Give the noisy observation as a likelihood callback (log N(y; x[M], σ_y² I) and its gradient) instead of a mask. */
  likelihood?: boolean;
  /** Observe y = A x₀ + σ_y ε with the dense LINEAR_A (and LINEAR_Y) instead of the mask; 'operator': the same A as callbacks with its SVD. */
  linear?: 'matrix' | 'operator';
}

/** A 2 x 5 observation matrix mixing latent and masked coordinates, and its y. */
export const LINEAR_A: number[][] = [
  [0.8, -0.5, 0.3, 0.0, 0.6],
  [0.1, 0.4, -0.7, 0.9, 0.2],
];
export const LINEAR_Y = [2.2, -1.2];

/** LINEAR_A as an operator with its thin SVD (Gram–Schmidt on AAᵀ's eigenvectors, written here). */
function linearOperator() {
  const A = LINEAR_A, dy = A.length;
  // AAᵀ (2 x 2) eigendecomposition in closed form.
  const G = A.map((r) => A.map((s) => r.reduce((acc, v, k) => acc + v * s[k], 0)));
  const tr = G[0][0] + G[1][1], det = G[0][0] * G[1][1] - G[0][1] * G[1][0];
  const disc = Math.sqrt(tr * tr / 4 - det);
  const lam = [tr / 2 + disc, tr / 2 - disc];
  const U = lam.map((l) => {
    const v = Math.abs(G[0][1]) > 1e-12 ? [G[0][1], l - G[0][0]] : l === G[0][0] ? [1, 0] : [0, 1];
    const n = Math.hypot(v[0], v[1]);
    return [v[0] / n, v[1] / n];
  });
  const s = lam.map(Math.sqrt);
  // v_i = Aᵀ u_i / s_i.
  const V = U.map((u, i) => Array.from({ length: D }, (_, k) => (A[0][k] * u[0] + A[1][k] * u[1]) / s[i]));
  const f64 = (a: number[]) => Float64Array.from(a);
  return {
    apply: (x: Float64Array) => f64(A.map((r) => r.reduce((acc, v, k) => acc + v * x[k], 0))),
    applyT: (u: Float64Array) => f64(Array.from({ length: D }, (_, k) => A.reduce((acc, r, i) => acc + r[k] * u[i], 0))),
    svd: {
      s: f64(s),
      U: (c: Float64Array) => f64(Array.from({ length: dy }, (_, a) => U.reduce((acc, u, i) => acc + u[a] * c[i], 0))),
      Ut: (y: Float64Array) => f64(U.map((u) => u[0] * y[0] + u[1] * y[1])),
      Vr: (c: Float64Array) => f64(Array.from({ length: D }, (_, k) => V.reduce((acc, v, i) => acc + v[k] * c[i], 0))),
      Vrt: (x: Float64Array) => f64(V.map((v) => v.reduce((acc, vk, k) => acc + vk * x[k], 0))),
    },
  };
}

/** log N(y; x[M], σ_y² I) per row and its gradient in x, written here: the mask observation as a general likelihood. */
export function maskLikelihood(noiseStd: number) {
  const v = noiseStd * noiseStd;
  return (x: Float32Array, ctx: { rows: number; dim: number }) => {
    const value = new Float64Array(ctx.rows), gradient = new Float32Array(x.length);
    for (let r = 0; r < ctx.rows; r++) {
      let q = 0;
      OBSERVED.forEach((k, j) => {
        const e = Y0[j] - x[r * ctx.dim + k];
        q += e * e;
        gradient[r * ctx.dim + k] = e / v;
      });
      value[r] = -0.5 * q / v - 0.5 * OBSERVED.length * Math.log(2 * Math.PI * v);
    }
    return { value, gradient };
  };
}

export const TDS_RUNS = 400;
/**
 * τ² of the twist: the prior's scale (its latent variances are 4). With τ² = 1 the twist is
 * overconfident for this prior and Var log Ẑ passes 1 (measured: 0.8–1.4 against 0.02–0.24
 * at τ² = 4), too heavy-tailed for the R-weighted z-tests.
 */
export const TWIST_TAU2 = 4;
export const TDS_PARTICLES = 64;
/** Bound on every z-score (calibration: test/numerics/CALIBRATION.md). */
export const Z_TDS = 6;
/** Var log Ẑ must stay small enough for the R-weighted z-tests to be meaningful. */
export const MAX_VAR_LOG_Z_TDS = 1;

const mixture = GaussianMixture.fromJSON(PRIOR_JSON);

/** The chain's exact answer: the law of x₀ given y (on the coordinates `coords`) and log p_θ(y). */
/** An orthonormal basis of the null space of LINEAR_A (3 vectors of length D), by Gram–Schmidt. */
function nullBasis(): number[][] {
  const basis: number[][] = [];
  const orth = (v: number[], against: number[][]) => {
    for (const b of against) {
      const d = v.reduce((a, x, k) => a + x * b[k], 0);
      v = v.map((x, k) => x - d * b[k]);
    }
    return v;
  };
  const rows: number[][] = [];
  for (const r of LINEAR_A) {
    const v = orth(orth(r.slice(), rows), rows);
    const n = Math.hypot(...v);
    rows.push(v.map((x) => x / n));
  }
  for (let k = 0; k < D && basis.length < D - rows.length; k++) {
    const e = Array.from({ length: D }, (_, c) => (c === k ? 1 : 0));
    const v = orth(orth(e, [...rows, ...basis]), [...rows, ...basis]);
    const n = Math.hypot(...v);
    if (n > 1e-6) basis.push(v.map((x) => x / n));
  }
  return basis;
}

export interface TdsOracle {
  coords: number[];
  mean: number[];
  cov: Matrix;
  logZ: number;
  /** When given, the checked values are basis[i] · x instead of x[coords[i]] (a noiseless A: its null space). */
  basis?: number[][];
}

export function tdsOracle(cfg: KernelConfig, noiseStd: number, linear?: boolean): TdsOracle {
  const q = exactSchedule(cfg.spec);
  const steps = exactSteps(q, cfg.kernel, cfg.grid);
  let m = new Array<number>(D).fill(0);
  let P: Matrix = identity(D);
  for (let i = steps.length; i >= 1; i--) {
    const { A, c } = affineKernel(PRIOR, q, steps[i - 1]);
    m = matvec(A, m).map((x, k) => x + c[k]);
    P = matmul(matmul(A, P), transpose(A));
    if (i > 1) P = P.map((row, a) => row.map((x, b) => x + (a === b ? steps[i - 1].v : 0)));
  }
  const s2 = noiseStd > 0 ? noiseStd * noiseStd : weightVariance(steps, 1);
  const all = Array.from({ length: D }, (_, k) => k);
  if (linear) {
    // y = A x₀ + σ_y ε: S = A P Aᵀ + σ_y² I, gain P Aᵀ S⁻¹. Without noise the last step's
    // kernel mean μ ~ N(m, P) is weighed by N(y; Aμ, v AAᵀ) (S = A P Aᵀ + v AAᵀ) and projected
    // onto {A x = y}, which leaves its null-space coordinates as they are.
    const A = LINEAR_A;
    const PAt = matmul(P, transpose(A));
    const AAt = matmul(A, transpose(A));
    const S = matmul(A, PAt).map((row, a) => row.map((x, b) => x + (noiseStd > 0 ? (a === b ? s2 : 0) : s2 * AAt[a][b])));
    const gain = matmul(PAt, spdInverse(S));
    const Am = matvec(A, m);
    const innov = LINEAR_Y.map((v, j) => v - Am[j]);
    const postMean = m.map((x, k) => x + gain[k].reduce((acc, g, j) => acc + g * innov[j], 0));
    const AP = matmul(A, P);
    const postCov = P.map((row, a) => row.map((x, b) => x - gain[a].reduce((acc, g, j) => acc + g * AP[j][b], 0)));
    const logZ = logNormalDensity(LINEAR_Y, Am, S);
    if (noiseStd > 0) return { coords: all, mean: postMean, cov: postCov, logZ };
    const W = nullBasis();
    const mean = W.map((w) => w.reduce((a, x, k) => a + x * postMean[k], 0));
    const cov = matmul(matmul(W, postCov), transpose(W));
    // logZ is a density of y; tds's evidence (the weights' mean) is the same density.
    return { coords: W.map((_, i) => i), mean, cov, logZ, basis: W };
  }
  const S = block(P, OBSERVED, OBSERVED).map((row, a) => row.map((x, b) => x + (a === b ? s2 : 0)));
  const gain = matmul(block(P, all, OBSERVED), spdInverse(S));
  const innov = OBSERVED.map((k, j) => Y0[j] - m[k]);
  const postMean = m.map((x, k) => x + gain[k].reduce((acc, g, j) => acc + g * innov[j], 0));
  const PMall = block(P, OBSERVED, all);
  const postCov = P.map((row, a) => row.map((x, b) => x - gain[a].reduce((acc, g, j) => acc + g * PMall[j][b], 0)));
  const logZ = logNormalDensity(Y0, OBSERVED.map((k) => m[k]), S);
  const coords = noiseStd > 0 ? all : latentOf(D, OBSERVED);
  return { coords, mean: coords.map((k) => postMean[k]), cov: block(postCov, coords, coords), logZ };
}

/** A float64 Gaussian score with its vector–Jacobian product (∂s/∂z)ᵀ u = −C_t⁻¹ u, written from the definition. */
function gaussianWithVjp(cfg: KernelConfig) {
  const q = exactSchedule(cfg.spec);
  const score = gaussianScore(PRIOR, q);
  const cache = new Map<number, Matrix>();
  return {
    dim: D,
    score: (z: Float32Array, t: number) => score(z, t),
    vjp: (_z: Float32Array, t: number, u: Float32Array, _ctx: ScoreContext) => {
      let Cinv = cache.get(t);
      if (Cinv === undefined) cache.set(t, (Cinv = noisedPrecision(PRIOR, q, t).Cinv));
      const out = new Float32Array(u.length);
      for (let r = 0; r < u.length / D; r++) {
        for (let a = 0; a < D; a++) {
          let acc = 0;
          for (let b = 0; b < D; b++) acc += Cinv[a][b] * u[r * D + b];
          out[r * D + a] = -acc;
        }
      }
      return out;
    },
  };
}

/** The untwisted proposal (g = 0) on the noiseless DDPM chain needs more particles for Var log Ẑ < 1 (2.5 at N = 64). */
export function particlesFor(c: TdsCaseSpec): number {
  return c.gradient === 'none' ? 4 * TDS_PARTICLES : TDS_PARTICLES;
}

export function runTds(c: TdsCaseSpec, seed: number, sizes = { runs: TDS_RUNS, particles: particlesFor(c) }): Promise<TdsResult> {
  return tds({
    score: c.gradient === 'vjp' ? gaussianWithVjp(c.config) : mixture,
    schedule: libSchedule(c.config.spec),
    kernel: c.config.kernel,
    grid: c.config.grid,
    ...(c.likelihood
      ? { likelihood: maskLikelihood(c.noiseStd) }
      : c.linear === 'matrix'
        ? { observed: { A: LINEAR_A, y: LINEAR_Y, noiseStd: c.noiseStd } }
        : c.linear === 'operator'
          ? { observed: { operator: linearOperator(), y: LINEAR_Y, noiseStd: c.noiseStd } }
          : { observed: { indices: OBSERVED, values: Y0, noiseStd: c.noiseStd } }),
    particles: sizes.particles,
    samples: sizes.runs,
    gradient: c.gradient,
    twistTau2: TWIST_TAU2,
    seed,
    output: 'all',
  });
}

/** The checks of one run of a case against its oracle. */
export function tdsChecks(res: TdsResult, oracle: TdsOracle, noiseStd: number): Check[] {
  const runs = res.logEvidence.length, n = res.logWeights!.length / runs;
  const { coords, mean, cov, logZ, basis } = oracle;
  const valueAt = (x: Float32Array, i: number) => (basis ? basis[i].reduce((a, b, k) => a + b * x[k], 0) : x[coords[i]]);
  let worstResidual = 0;
  const d = coords.length;
  const L = cholesky(cov);
  const ell = Array.from(res.logEvidence, (l) => l - logZ);
  const R = ell.map(Math.exp);
  const e: number[][] = Array.from({ length: d }, () => []);
  const M: number[][][] = Array.from({ length: d }, () => Array.from({ length: d }, () => []));
  const w = new Array<number>(d);
  let observedExact = true;
  for (let r = 0; r < runs; r++) {
    const m1 = new Array<number>(d).fill(0);
    const m2 = Array.from({ length: d }, () => new Array<number>(d).fill(0));
    for (let k = 0; k < n; k++) {
      const W = Math.exp(res.logWeights![r * n + k]);
      const x = res.particles!.subarray((r * n + k) * D, (r * n + k + 1) * D);
      if (noiseStd === 0 && !basis) OBSERVED.forEach((o, j) => (observedExact &&= x[o] === Math.fround(Y0[j])));
      if (basis) LINEAR_A.forEach((row, j) => (worstResidual = Math.max(worstResidual, Math.abs(row.reduce((a, v, k) => a + v * x[k], 0) - LINEAR_Y[j]))));
      for (let i = 0; i < d; i++) {
        let s = valueAt(x, i) - mean[i];
        for (let j = 0; j < i; j++) s -= L[i][j] * w[j];
        w[i] = s / L[i][i];
      }
      for (let i = 0; i < d; i++) {
        m1[i] += W * w[i];
        for (let j = 0; j <= i; j++) m2[i][j] += W * w[i] * w[j];
      }
    }
    for (let i = 0; i < d; i++) {
      e[i].push(R[r] * m1[i]);
      for (let j = 0; j <= i; j++) M[i][j].push(R[r] * (m2[i][j] - (i === j ? 1 : 0)));
    }
  }
  const meanEll = ell.reduce((a, b) => a + b, 0) / runs;
  const varEll = ell.reduce((a, b) => a + (b - meanEll) ** 2, 0) / (runs - 1);
  const out: Check[] = [upper('Var log Ẑ', varEll, MAX_VAR_LOG_Z_TDS), abs('z(E[Ẑ/Z] = 1)', zScore(R, 1), Z_TDS)];
  for (let i = 0; i < d; i++) out.push(abs(`z(E[R e_${coords[i]}] = 0)`, zScore(e[i]), Z_TDS));
  for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) out.push(abs(`z(E[R (M − I)_${coords[i]}${coords[j]}] = 0)`, zScore(M[i][j]), Z_TDS));
  if (noiseStd === 0 && !basis) out.push({ name: 'observed coordinates equal y exactly', value: observedExact ? 1 : 0, bound: 1, side: 'lower' });
  // A x₀ = y to float32 rounding (the projection's sums are float64, x₀ is stored in float32).
  if (basis) out.push(upper('max |A x₀ − y| over the particles', worstResidual, 1e-5));
  return out;
}

const config = (name: string) => KERNEL_CONFIGS.find((c) => c.name === name)!;
const OU_FINE: KernelConfig = { name: 'ou × euler, 40 uniform steps', spec: { kind: 'ou', T: 3 }, kernel: 'euler', grid: Array.from({ length: 41 }, (_, i) => (3 * i) / 40) };

export const TDS_SPECS: TdsCaseSpec[] = [
  ...(['none', 'identity', 'exact', 'finite-difference', 'vjp'] as const).map((gradient) => ({ config: config('ou × euler'), noiseStd: 0.3, gradient })),
  ...(['none', 'identity', 'exact', 'finite-difference', 'vjp'] as const).map((gradient) => ({ config: config('ddpm linear (respaced)'), noiseStd: 0, gradient })),
  { config: config('vp × ddpm'), noiseStd: 0.3, gradient: 'exact' },
  { config: config('vp × euler'), noiseStd: 0, gradient: 'identity' },
  // The likelihood's twist p(y | x̂₀) has no variance inflation (ρ_t), so it is overconfident
  // where Cov[x₀ | x_t] is large: Var log Ẑ was 1.2–1.5 at σ_y = 1 on the 11-step grid and 4.8
  // at σ_y = 0.5 on 40 steps (correct but too heavy-tailed for these z-tests); σ_y = 2 on 40
  // uniform steps keeps it below 1. One gradient source here (the others are the mask cases'):
  // tds.test.ts checks separately that the likelihood path is the mask path with ρ_t → 0 for
  // the none, identity and exact gradients.
  { config: OU_FINE, noiseStd: 2, gradient: 'identity', likelihood: true },
  // y = A x₀ + σ_y ε with a dense 2 x 5 A: the twist N(y; A x̂₀, σ_y² I + ρ_t AAᵀ) in A's basis.
  ...(['none', 'identity', 'exact'] as const).map((gradient) => ({ config: config('ou × euler'), noiseStd: 0.3, gradient, linear: 'matrix' as const })),
  { config: config('vp × ddpm'), noiseStd: 0.3, gradient: 'exact', linear: 'matrix' },
  { config: config('ddpm linear (respaced)'), noiseStd: 0.3, gradient: 'vjp', linear: 'operator' },
  // Noiseless: x₀ projected onto {A x = y}, the last weight N(y; Aμ, v AAᵀ).
  { config: config('ddpm linear (respaced)'), noiseStd: 0, gradient: 'exact', linear: 'matrix' },
  { config: config('ou × euler'), noiseStd: 0, gradient: 'identity', linear: 'operator' },
];

export function tdsCaseName(c: TdsCaseSpec): string {
  return `tds ${c.config.name}, σ_y = ${c.noiseStd}${c.likelihood ? ' as a likelihood' : ''}${c.linear ? `, dense 2x5 A (${c.linear})` : ''}, gradient ${c.gradient}`;
}

export const TDS_SEED = 2024;

export const TDS_CASES: StatCase[] = TDS_SPECS.map((c) => ({
  name: tdsCaseName(c),
  seed: TDS_SEED,
  run: async (seed: number) => tdsChecks(await runTds(c, seed), tdsOracle(c.config, c.noiseStd, c.linear !== undefined), c.noiseStd),
}));

// ---- the 8-D three-component mixture of mixture-cases.ts ----------------------------------
// y between components 0 and 2 (exact posterior weights ≈ 0.16 / 0.84): tds with 16 particles
// and 100 steps must give the mode weights of the exact posterior (smc needs 128 particles and
// 400 steps for the same check, mixture-cases.ts).
export const TDS_MIXTURE_CASE: StatCase = {
  name: 'tds mode weights (8-D, three components), N = 16, exact gradient',
  seed: 1,
  run: async (seed: number) => {
    const spec = eightDimensional();
    const model8 = GaussianMixture.fromJSON(spec);
    const indices = [0, 3, 5];
    const values = indices.map((i) => 0.4 * spec.means[0][i] + 0.3 * spec.means[1][i] + 0.3 * spec.means[2][i]);
    const observed = { indices, values };
    const r = await tds({ score: model8, schedule: schedules.ou(), steps: 100, observed, particles: 16, samples: K, seed, gradient: 'exact' });
    const z = modeWeightZ(model8.posterior(observed), r.samples, 8);
    return [lower('components with weight ≥ 1e-3', z.length, 2), abs(`tds: mode weight z (w = ${z[0].weight.toFixed(2)})`, z[0].z, Z_MODE)];
  },
};

TDS_CASES.push(TDS_MIXTURE_CASE);
