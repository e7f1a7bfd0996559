// Particle Gibbs and PMMH (docs/MATH.md §11) against exact answers, as statistics with bounds
// (test/support/checks.ts) for test/numerics/gibbs.test.ts and tools/calibrate.ts.
//
// T1: with every chain's Y path held fixed and a Gaussian prior, the conditional SMC chain
// leaves p_θ(X_0 | Y path) invariant exactly; that law is the final Gaussian of a Kalman
// filter along the path (test/support/kalman-oracle.ts: coefficients from the exact schedule,
// never from lib/), on the chain whose last step carries v_nom on X as the sweep's does.
// Standard errors by batch means with the chains as batches: the K chains are independent,
// so each chain's post-burn-in average of a statistic is one batch, whatever its
// autocorrelation, and the z-score over the K batch means is a t statistic with K − 1 dof.
import { particleGibbs, pmmh, ParticleGibbsOptions, ParticleGibbsResult, PmmhResult } from '../../lib/chains';
import { GaussianMixture } from '../../lib/mixture';
import { Check, StatCase, abs, lower } from './checks';
import { KernelConfig, KERNEL_CONFIGS, PRIOR, OBSERVED, Y0, libSchedule } from './kalman-problems';
import { GaussianPrior, latentOf } from './gaussian-model';
import { chainFor, kalman, KalmanResult, LinearGaussianChain, zScore, affineKernel } from './kalman-oracle';
import { exactSchedule, exactSteps, transition, weightVariance } from './exact-schedules';
import { cholesky, forwardSubstitute, identity, matvec, matmul, transpose, symmetrize, block, spdInverse } from './matrix';

/** A Gaussian prior with its observed coordinates and data. */
export interface GibbsProblem {
  name: string;
  prior: GaussianPrior;
  observed: number[];
  y0: number[];
}

/** The 5-D prior of the Kalman tests (test/support/kalman-problems.ts). */
export const FIVE_D: GibbsProblem = { name: '5-D', prior: PRIOR, observed: OBSERVED, y0: Y0 };

/**
 * A 2-D prior whose Y block says much about X (correlation 0.95): each step's Y increment is
 * informative, so counting it twice in backward sampling shows.
 */
export const COUPLED: GibbsProblem = { name: '2-D coupled', prior: { mean: [0.3, -0.2], cov: [[1, 0.95], [0.95, 1]] }, observed: [1], y0: [1.5] };

function mixtureOf(p: GibbsProblem): GaussianMixture {
  return GaussianMixture.fromJSON({ weights: [1], means: [p.prior.mean], covariances: [p.prior.cov] });
}

/** The sweep's chain: the kernel noise at the last step has the weight's variance v_nom (§11, §2). */
export function sweepChain(p: GibbsProblem, cfg: KernelConfig): LinearGaussianChain {
  const c = chainFor(p.prior, cfg.spec, cfg.kernel, cfg.grid, p.observed, { finalNoise: true });
  c.steps[0].v = c.steps[0].w;
  return c;
}

/** A deterministic normal generator of the test's own (LCG + Box–Muller), independent of the library's streams. */
export function testNormals(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0 || 1;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/** One forward noising path of Y from Y0 on the grid (the exact schedule's transitions), (S + 1) × d_Y. */
export function forwardYPath(p: GibbsProblem, cfg: KernelConfig, seed: number): number[] {
  const q = exactSchedule(cfg.spec);
  const normal = testNormals(seed);
  const dY = p.y0.length;
  const out = [...p.y0];
  for (let g = 1; g < cfg.grid.length; g++) {
    const tr = transition(q, cfg.grid[g - 1], cfg.grid[g]);
    for (let j = 0; j < dY; j++) out.push(tr.alpha * out[(g - 1) * dY + j] + Math.sqrt(tr.sigma2) * normal());
  }
  return out;
}

export interface FixedPathRun {
  result: ParticleGibbsResult;
  answer: KalmanResult;
  latent: number[];
}

/** One particleGibbs call whose chains all keep one forward Y path (test-side draw from seed + 7). */
export async function runFixedPath(p: GibbsProblem, cfg: KernelConfig, seed: number, o: Partial<ParticleGibbsOptions> & { samples: number; particles: number; sweeps: number; burnIn: number }): Promise<FixedPathRun> {
  const dY = p.y0.length;
  const path = forwardYPath(p, cfg, seed + 7);
  const answer = kalman(sweepChain(p, cfg), (g) => path.slice(g * dY, (g + 1) * dY));
  const result = await particleGibbs({
    score: mixtureOf(p), schedule: libSchedule(cfg.spec), kernel: cfg.kernel, grid: cfg.grid,
    observed: { indices: p.observed, values: p.y0 }, contextPath: path, seed, ...o,
  });
  return { result, answer, latent: latentOf(p.prior.mean.length, p.observed) };
}

/**
 * Batch-means z-scores of the whitened draws e = L⁻¹(x − m) (L Lᵀ = the exact covariance of
 * each run's own path): E[e_j] = 0 and E[e_j e_l − δ_jl] = 0 over the post-burn-in sweeps, one
 * batch per chain, pooled over the runs (each chain's batch has mean 0 whatever its path).
 */
export function fixedPathChecks(label: string, runs: FixedPathRun | FixedPathRun[], bound: number): Check[] {
  const list = Array.isArray(runs) ? runs : [runs];
  const dX = list[0].latent.length;
  const means: number[][] = Array.from({ length: dX }, () => []);
  const seconds: number[][][] = Array.from({ length: dX }, () => Array.from({ length: dX }, () => []));
  for (const { result, answer, latent } of list) {
    const [K, M, D] = result.chainsShape;
    const L = cholesky(answer.cov);
    const n = M - result.burnIn;
    for (let r = 0; r < K; r++) {
      const mean = new Array<number>(dX).fill(0);
      const second = Array.from({ length: dX }, () => new Array<number>(dX).fill(0));
      for (let m = result.burnIn; m < M; m++) {
        const e = forwardSubstitute(L, latent.map((c, j) => result.chains[(r * M + m) * D + c] - answer.mean[j]));
        for (let j = 0; j < dX; j++) {
          mean[j] += e[j] / n;
          for (let l = 0; l <= j; l++) second[j][l] += (e[j] * e[l] - (j === l ? 1 : 0)) / n;
        }
      }
      for (let j = 0; j < dX; j++) {
        means[j].push(mean[j]);
        for (let l = 0; l <= j; l++) seconds[j][l].push(second[j][l]);
      }
    }
  }
  const out: Check[] = [];
  for (let j = 0; j < dX; j++) out.push(abs(`${label}: whitened mean z ${j}`, zScore(means[j]), bound));
  for (let j = 0; j < dX; j++) for (let l = 0; l <= j; l++) out.push(abs(`${label}: whitened second moment z ${j}${l}`, zScore(seconds[j][l]), bound));
  return out;
}

// ---- T1 cases ---------------------------------------------------------------------------
/**
 * Chains (over all paths), particles, sweeps, burn-in of every T1 case. T1 tests invariance, so
 * the chains start close to the target (the first reference from a filter of 512 particles)
 * and a third of the sweeps is burn-in: on the respaced DDPM grids the start's bias lasts
 * hundreds of sweeps (the traced path near t_S is rarely renewed). At the worst seed found,
 * z over windows of 200 sweeps was −12, −3.6, −1.8, −1.2, −0.2, 1.3 from an 8-particle start
 * and −5.6, −1.5, −0.8, −0.4, 0.7, 0.2 from a 512-particle one; with 200 sweeps, burn-in 20
 * and the 8-particle start, 2 of 100 calibration seeds failed.
 */
export const T1_SIZES = { samples: 128, particles: 8, sweeps: 300, burnIn: 100, initialParticles: 512 };
/** |z| bound of the batch-means z-scores (t with ≥ 127 dof; calibration: test/numerics/CALIBRATION.md). */
export const Z_CHAIN = 5.5;

const config = (name: string): KernelConfig => KERNEL_CONFIGS.find((c) => c.name === name)!;

interface T1Spec {
  problem: GibbsProblem;
  cfg: KernelConfig;
  selection: 'weight' | 'forced';
  pathSampling: 'ancestry' | 'backward';
  /**
   * Y paths, each held by samples × scale / paths chains. How much a bias shows depends on
   * the path, so the backward-sampling cases pool four paths (and twice the chains): the bug
   * "weight after the increment" then fails by z = 6.1–13 on the eight seeds tried (both
   * cases), against 1.7–14 for single paths of 128 chains.
   */
  paths: number;
  scale: number;
}

const T1_SPECS: T1Spec[] = [
  { problem: FIVE_D, cfg: config('ou × euler'), selection: 'weight', pathSampling: 'ancestry', paths: 1, scale: 1 },
  { problem: FIVE_D, cfg: config('ddpm linear (respaced)'), selection: 'forced', pathSampling: 'backward', paths: 1, scale: 1 },
  { problem: COUPLED, cfg: config('ou × ddpm'), selection: 'weight', pathSampling: 'ancestry', paths: 1, scale: 1 },
  { problem: COUPLED, cfg: config('ou × ddpm'), selection: 'forced', pathSampling: 'backward', paths: 4, scale: 2 },
  { problem: COUPLED, cfg: config('vp × ddpm'), selection: 'weight', pathSampling: 'backward', paths: 4, scale: 2 },
  { problem: COUPLED, cfg: config('ddpm cosine (respaced)'), selection: 'forced', pathSampling: 'ancestry', paths: 1, scale: 1 },
];

export const T1_CASES: StatCase[] = T1_SPECS.map((t, k) => {
  const name = `gibbs T1: ${t.problem.name}, ${t.cfg.name}, ${t.pathSampling}, ${t.selection}${t.paths > 1 ? `, ${t.paths} paths` : ''}`;
  return {
    name,
    seed: 11 + k,
    run: async (seed: number) => {
      const runs: FixedPathRun[] = [];
      const samples = (T1_SIZES.samples * t.scale) / t.paths;
      // Path q uses seed + 1000 q (its path from seed + 1000 q + 7): a function of the case's seed.
      for (let q = 0; q < t.paths; q++) {
        runs.push(await runFixedPath(t.problem, t.cfg, seed + 1000 * q, { ...T1_SIZES, samples, selection: t.selection, pathSampling: t.pathSampling }));
      }
      return fixedPathChecks(name, runs, Z_CHAIN);
    },
  };
});

// ---- T3: the discretised joint's exact answer ---------------------------------------------
/**
 * p_θ(X_0 | Y_0 = y) of the discretised joint p_θ(Z_{0:S}) = N(Z_T; 0, I) Π N(Z_s; μ(Z_t), v_i I)
 * (§11, v_nom at the last step) for a Gaussian prior: every kernel mean is affine,
 * μ(z) = A_i z + c_i (kalman-oracle.ts affineKernel, from the exact schedule), so Z_0 is
 * Gaussian with m ← A m + c, C ← A C Aᵀ + v I from (0, I); then Gaussian conditioning on Y_0.
 */
export function discretisedPosterior(p: GibbsProblem, cfg: KernelConfig): KalmanResult {
  const q = exactSchedule(cfg.spec);
  const steps = exactSteps(q, cfg.kernel, cfg.grid);
  const D = p.prior.mean.length;
  let m = new Array<number>(D).fill(0);
  let C = identity(D);
  for (let i = steps.length; i >= 1; i--) {
    const { A, c } = affineKernel(p.prior, q, steps[i - 1]);
    const v = weightVariance(steps, i);
    m = matvec(A, m).map((x, j) => x + c[j]);
    C = symmetrize(matmul(matmul(A, C), transpose(A)).map((row, r) => row.map((x, k) => x + (r === k ? v : 0))));
  }
  const lat = latentOf(D, p.observed), obs = p.observed;
  const gain = matmul(block(C, lat, obs), spdInverse(block(C, obs, obs)));
  const mean = lat.map((a, j) => m[a] + matvec(gain, obs.map((b, k) => p.y0[k] - m[b]))[j]);
  const GC = matmul(gain, block(C, obs, lat));
  const cov = block(C, lat, lat).map((row, r) => row.map((x, k) => x - GC[r][k]));
  return { logZ: NaN, mean, cov };
}

export const T3_SIZES = { samples: 128, particles: 16, sweeps: 200, burnIn: 20 };

/** The chains of a particleGibbs or pmmh result against the discretised joint's p_θ(X_0 | y). */
export function jointChecks(label: string, p: GibbsProblem, cfg: KernelConfig, result: ParticleGibbsResult | PmmhResult, bound: number): Check[] {
  return fixedPathChecks(label, { result: result as ParticleGibbsResult, answer: discretisedPosterior(p, cfg), latent: latentOf(p.prior.mean.length, p.observed) }, bound);
}

export function chainOptions(p: GibbsProblem, cfg: KernelConfig, seed: number, sizes: Partial<typeof T3_SIZES> = {}) {
  return {
    score: mixtureOf(p), schedule: libSchedule(cfg.spec), kernel: cfg.kernel, grid: cfg.grid,
    observed: { indices: p.observed, values: p.y0 }, seed, ...T3_SIZES, ...sizes,
  };
}

/**
 * T2, the published check restated (docs/MATH.md §11): m₀ = (−1, 1), Σ₀ = [[2, .4], [.4, .5]],
 * y = 0 (exact p(x | y): mean −1.8, variance 1.68), condiff's ou with T = 5 and 100 uniform
 * Euler steps. The discretised joint's answer there (v_nom at the last step) is mean −1.687,
 * variance 1.710 (−1.743, 1.695 at 200 steps; −1.788, 1.683 at 1000).
 */
export const PUBLISHED: GibbsProblem = { name: 'published 2-D', prior: { mean: [-1, 1], cov: [[2, 0.4], [0.4, 0.5]] }, observed: [1], y0: [0] };
export const PUBLISHED_GRID: KernelConfig = { name: 'ou T = 5, 100 Euler steps', spec: { kind: 'ou', T: 5 }, kernel: 'euler', grid: Array.from({ length: 101 }, (_, i) => i / 20) };

/**
 * E[(1/(S d_Y)) Σ_i ‖ξ_i‖²] under p_θ(Y_{1:S} | Y_0 = y), ξ_i = (Y_{t_i} − α Y_{t_{i−1}})/σ the
 * forward innovations: the path statistic on which the full PMMH ratio and the ratio of Ẑs
 * alone disagree (under the latter the paths follow ∝ q_fwd(Y) × path likelihood). The joint
 * is affine in u ~ N(0, I): Z_T = u_0, Z_{t_{i−1}} = A_i Z_{t_i} + c_i + √v_i u_i; conditioning
 * u on Y_0 = y gives u ~ N(μ_u, Σ_u), and E‖B u + b‖² = ‖B μ_u + b‖² + tr(B Σ_u Bᵀ).
 */
export function exactInnovationMoment(p: GibbsProblem, cfg: KernelConfig): number {
  const q = exactSchedule(cfg.spec);
  const steps = exactSteps(q, cfg.kernel, cfg.grid);
  const S = steps.length, D = p.prior.mean.length, obs = p.observed, dY = obs.length;
  const nu = D * (S + 1);
  // Z_g = M[g] u + k[g].
  const M: number[][][] = new Array(S + 1), k: number[][] = new Array(S + 1);
  M[S] = Array.from({ length: D }, (_, a) => Array.from({ length: nu }, (__, b) => (b === a ? 1 : 0)));
  k[S] = new Array<number>(D).fill(0);
  for (let i = S; i >= 1; i--) {
    const { A, c } = affineKernel(p.prior, q, steps[i - 1]);
    const sd = Math.sqrt(weightVariance(steps, i));
    M[i - 1] = matmul(A, M[i]);
    for (let a = 0; a < D; a++) M[i - 1][a][D * (S - i + 1) + a] += sd;
    k[i - 1] = matvec(A, k[i]).map((x, a) => x + c[a]);
  }
  const H = obs.map((a) => M[0][a]);
  const G = matmul(transpose(H), spdInverse(matmul(H, transpose(H))));
  const muU = matvec(G, obs.map((a, j) => p.y0[j] - k[0][a]));
  const GH = matmul(G, H);
  const SigmaU = GH.map((row, r) => row.map((x, c) => (r === c ? 1 : 0) - x));
  let total = 0;
  for (let i = 1; i <= S; i++) {
    const tr = transition(q, cfg.grid[i - 1], cfg.grid[i]);
    const sd = Math.sqrt(tr.sigma2);
    for (const a of obs) {
      const B = M[i][a].map((x, b) => (x - tr.alpha * M[i - 1][a][b]) / sd);
      const bias = (k[i][a] - tr.alpha * k[i - 1][a]) / sd;
      const mean = B.reduce((acc, x, b) => acc + x * muU[b], 0) + bias;
      const SB = matvec(SigmaU, B);
      total += mean * mean + B.reduce((acc, x, b) => acc + x * SB[b], 0);
    }
  }
  return total / (S * dY);
}

/** The chains' final Y paths: z of the mean squared innovation per chain against its exact expectation. */
export function innovationZ(p: GibbsProblem, cfg: KernelConfig, contextPath: Float32Array, chains: number): number {
  const q = exactSchedule(cfg.spec);
  const S = cfg.grid.length - 1, dY = p.observed.length;
  const target = exactInnovationMoment(p, cfg);
  const per: number[] = [];
  for (let r = 0; r < chains; r++) {
    let acc = 0;
    for (let i = 1; i <= S; i++) {
      const tr = transition(q, cfg.grid[i - 1], cfg.grid[i]);
      for (let j = 0; j < dY; j++) acc += ((contextPath[(i * chains + r) * dY + j] - tr.alpha * contextPath[((i - 1) * chains + r) * dY + j]) ** 2) / tr.sigma2;
    }
    per.push(acc / (S * dY));
  }
  return zScore(per, target);
}

// ---- T3 cases ---------------------------------------------------------------------------
interface T3Spec {
  label: string;
  problem: GibbsProblem;
  cfg: KernelConfig;
  run: (o: ReturnType<typeof chainOptions>) => Promise<ParticleGibbsResult | PmmhResult>;
  sizes?: Partial<typeof T3_SIZES>;
}

const T3_SPECS: T3Spec[] = [
  { label: 'particle Gibbs, MH refresh', problem: COUPLED, cfg: config('ou × euler'), run: (o) => particleGibbs({ ...o, particles: 8, refresh: 'mh' }) },
  { label: 'particle Gibbs, MH refresh, backward, forced', problem: FIVE_D, cfg: config('ou × ddpm'), run: (o) => particleGibbs({ ...o, particles: 8, refresh: 'mh', pathSampling: 'backward', selection: 'forced' }) },
  { label: 'PMMH, fresh paths', problem: COUPLED, cfg: config('ou × euler'), run: (o) => pmmh(o) },
  { label: 'PMMH, pCN beta 0.8', problem: COUPLED, cfg: config('vp × ddpm'), run: (o) => pmmh({ ...o, pcnBeta: 0.8 }) },
  {
    label: 'T2, particle Gibbs, MH refresh', problem: PUBLISHED, cfg: PUBLISHED_GRID, sizes: { samples: 64, particles: 8, sweeps: 100, burnIn: 10 },
    run: (o) => particleGibbs({ ...o, refresh: 'mh' }),
  },
];

/**
 * T3: the chains' X_0 against the discretised joint's p_θ(X_0 | y) (batch means over chains),
 * and the chains' final Y paths against p_θ(Y_{1:S} | y) through their mean squared innovation
 * (one draw per chain, z over chains).
 */
export const T3_CASES: StatCase[] = T3_SPECS.map((t, k) => {
  const name = `gibbs T3: ${t.label}, ${t.problem.name}, ${t.cfg.name}`;
  return {
    name,
    seed: 31 + k,
    run: async (seed: number) => {
      const result = await t.run(chainOptions(t.problem, t.cfg, seed, t.sizes));
      return [
        ...jointChecks(name, t.problem, t.cfg, result, Z_CHAIN),
        abs(`${name}: final Y paths, mean squared innovation z`, innovationZ(t.problem, t.cfg, result.contextPath, result.chainsShape[0]), Z_CHAIN),
      ];
    },
  };
});

/**
 * Power of the Y-path statistic: PMMH accepting with exp(ℓ̂' − ℓ̂) alone (the public code's rule)
 * targets a tilted law; its X_0 is hardly moved (under an exact reverse model X_0 and Y_{1:S}
 * are independent given Y_0), but its paths are (z ≈ −32 at seed 3).
 */
export const EVIDENCE_ONLY_CASE: StatCase = {
  name: 'gibbs T3: PMMH with the ratio of Ẑs alone is detected',
  seed: 41,
  run: async (seed: number) => {
    const result = await pmmh({ ...chainOptions(COUPLED, config('ou × euler'), seed), acceptance: 'evidence' });
    return [lower('evidence-only PMMH: |innovation z|', Math.abs(innovationZ(COUPLED, config('ou × euler'), result.contextPath, T3_SIZES.samples)), 10)];
  },
};

// ---- T3′: the Geweke-style joint test (docs/MATH.md §11) ---------------------------------------
// The sweep's chain as a joint law of both paths: Z_S ~ N(0, I), Z_{i−1} ~ N(A_i Z_i + c_i,
// diag(v_i on X, w_i on Y)) (sweepChain's blocks). Its X-path-given-Y-path conditional is what a
// conditional SMC sweep leaves invariant, so alternating a sweep with a fresh
// (X_{1:S}, Y_{0:S}) | X_0 from this Gaussian keeps X_0's marginal, with no posterior anywhere.

/** Mean and covariance of (Z_0, …, Z_S), each Z_g = [X (d_X), Y (d_Y)], as one Gaussian (float64). */
function jointPathLaw(chain: LinearGaussianChain): { mean: number[]; cov: number[][]; dZ: number; S: number } {
  const S = chain.steps.length, dX = chain.latent.length, dY = chain.observed.length, dZ = dX + dY, n = (S + 1) * dZ;
  // Z_g = M_g ε + k_g with ε ~ N(0, I_n): ε's block g drives Z_g's own noise.
  const M: number[][][] = new Array(S + 1), k: number[][] = new Array(S + 1);
  M[S] = Array.from({ length: dZ }, (_, a) => Array.from({ length: n }, (_, b) => (b === S * dZ + a ? 1 : 0)));
  k[S] = new Array<number>(dZ).fill(0);
  for (let i = S; i >= 1; i--) {
    const st = chain.steps[i - 1];
    const A = [...st.AXX.map((row, a) => [...row, ...st.AXY[a]]), ...st.AYX.map((row, a) => [...row, ...st.AYY[a]])];
    const c = [...st.cX, ...st.cY];
    M[i - 1] = matmul(A, M[i]);
    for (let a = 0; a < dZ; a++) M[i - 1][a][(i - 1) * dZ + a] += Math.sqrt(a < dX ? st.v : st.w);
    k[i - 1] = matvec(A, k[i]).map((x, a) => x + c[a]);
  }
  const all = M.flat();
  return { mean: k.flat(), cov: symmetrize(matmul(all, transpose(all))), dZ, S };
}

/** Two sweeps per iteration: the second's reference is the first's sampled path (ancestry or backward), so the path sampling is exercised. */
export const GEWEKE_SIZES = { chains: 1000, iterations: 40, particles: 8, sweeps: 2 };

/**
 * T3′ on a problem and kernel: K chains start from X_0 of exact joint draws; each iteration draws
 * (X_{1:S}, Y_{0:S}) | X_0 (test-side Gaussian conditioning, the test's own normals) and runs
 * GEWEKE_SIZES.sweeps sweeps with that Y path and X path as the first reference (contextPath and
 * initialReference, one per chain); X_0 after the last sweep goes on. Batch means over chains of the whitened X_0 and its square minus 1.
 */
export async function gewekeChecks(p: GibbsProblem, cfg: KernelConfig, seed: number, o: Partial<ParticleGibbsOptions> = {}, bound = 6): Promise<Check[]> {
  const chain = sweepChain(p, cfg);
  const { mean, cov, dZ, S } = jointPathLaw(chain);
  const dX = chain.latent.length, dY = chain.observed.length, K = GEWEKE_SIZES.chains;
  const x0Idx = Array.from({ length: dX }, (_, a) => a);
  const restIdx = Array.from({ length: (S + 1) * dZ }, (_, i) => i).filter((i) => i >= dX);
  // X_0's marginal, and the law of the rest given X_0: mean m_r + G (x0 − m_0), covariance C_rr − G C_0r.
  const C00 = block(cov, x0Idx, x0Idx), G = matmul(block(cov, restIdx, x0Idx), spdInverse(C00));
  const condCov = symmetrize(block(cov, restIdx, restIdx).map((row, r) => row.map((x, c) => x - matmul(G, block(cov, x0Idx, restIdx))[r][c])));
  const L = cholesky(condCov.map((row, r) => row.map((x, c) => x + (r === c ? 1e-12 : 0))));
  const L0 = cholesky(C00);
  const normal = testNormals(seed + 101);
  const m0 = x0Idx.map((i) => mean[i]);
  let x0 = Array.from({ length: K }, () => matvec(L0, x0Idx.map(() => normal())).map((x, a) => x + m0[a]));
  const e1: number[][] = Array.from({ length: dX }, () => new Array<number>(K).fill(0));
  const e2: number[][] = Array.from({ length: dX }, () => new Array<number>(K).fill(0));
  const W = cholesky(C00);
  const n = GEWEKE_SIZES.iterations;
  for (let it = 0; it < n; it++) {
    const contextPath = new Float64Array(K * (S + 1) * dY), initialReference = new Float64Array(K * (S + 1) * dX);
    for (let r = 0; r < K; r++) {
      const shift = matvec(G, x0[r].map((x, a) => x - m0[a]));
      const noise = matvec(L, restIdx.map(() => normal()));
      const z = new Array<number>((S + 1) * dZ);
      x0Idx.forEach((i, a) => (z[i] = x0[r][a]));
      restIdx.forEach((i, j) => (z[i] = mean[i] + shift[j] + noise[j]));
      for (let g = 0; g <= S; g++) {
        for (let a = 0; a < dX; a++) initialReference[(r * (S + 1) + g) * dX + a] = z[g * dZ + a];
        for (let b = 0; b < dY; b++) contextPath[(r * (S + 1) + g) * dY + b] = z[g * dZ + dX + b];
      }
    }
    const result = await particleGibbs({
      ...chainOptions(p, cfg, seed * 1000 + it, { samples: K, particles: GEWEKE_SIZES.particles, sweeps: GEWEKE_SIZES.sweeps, burnIn: 0 }),
      contextPath, initialReference, ...o,
    });
    const D = result.chainsShape[2];
    const last = GEWEKE_SIZES.sweeps - 1;
    x0 = Array.from({ length: K }, (_, r) => chain.latent.map((c) => result.chains[(r * GEWEKE_SIZES.sweeps + last) * D + c]));
    for (let r = 0; r < K; r++) {
      const e = forwardSubstitute(W, x0[r].map((x, a) => x - m0[a]));
      for (let a = 0; a < dX; a++) {
        e1[a][r] += e[a] / n;
        e2[a][r] += (e[a] * e[a] - 1) / n;
      }
    }
  }
  const out: Check[] = [];
  for (let a = 0; a < dX; a++) {
    out.push(abs(`${p.name}, ${cfg.name}: T3′ whitened X_0 mean z ${a}`, zScore(e1[a]), bound));
    out.push(abs(`${p.name}, ${cfg.name}: T3′ whitened X_0 second moment z ${a}`, zScore(e2[a]), bound));
  }
  return out;
}

export const GEWEKE_CASES: StatCase[] = (['ancestry', 'backward'] as const).map((pathSampling) => ({
  name: `gibbs T3′: sweeps alternating with fresh paths given X_0 keep its marginal (2-D coupled, ou × euler, ${pathSampling})`,
  seed: 61,
  run: (seed: number) => gewekeChecks(COUPLED, config('ou × euler'), seed, { pathSampling }),
}));
