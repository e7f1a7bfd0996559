// The bootstrap particle filter (smc, MATH.md §3, Algorithm 3) as a filter, with no
// discretisation caveat: MATH.md §3, "A second oracle". On a Gaussian p0 the score is
// linear (§7), so given a run's Y path the filter's chain is a linear-Gaussian
// state-space model and a Kalman filter (test/oracles/kalman.ts) gives, for the same S:
//   Z_r      = p(Y_{t_0:t_{S-1}} | Y_{t_S}) along run r's path, which Ẑ_r estimates;
//   N(m_r, P_r) = p(X_0 | Y path of run r), which the particles target.
//
// Design. D = 5, observed coordinates {1, 3} (interleaved with the latent {0, 2, 4}).
// p0 = N(m, Σ) built from a latent-variable model, X ~ N(m_X, 4 R), Y = G X + 0.3 ε, so
// X and Y are strongly correlated and conditioning matters: the exact p(X_0 | Y path)
// has variances ≈ 0.6, 2.1, 1.2 against 4 a priori, and its mean sits 0.7–1.4 prior sd
// (up to 3.5 posterior sd) from m_X. Y_0 lies 2.4 and 3.6 marginal sd from m_Y, so the filter has real work to
// do. OU schedule, T = 3, S = 30 Euler steps (a = 1.1, b = 0.2, v = 0.2). K = 1000
// independent runs (each with its own forward path) of N = 100 particles. N is chosen
// so that Var log Ẑ ≲ 0.5 (MATH.md §3): measured 0.25–0.32 for τ = 1 and 0.33–0.42 for
// τ = 0.5 over 40 seeds (0.252 and 0.358 for the seeds below).
//
// Statistics, per run r, with R_r = Ẑ_r / Z_r, W the run's final normalised weights
// (unequal at the end when τ < 1) and L Lᵀ = P_r (see compareRuns):
//   e_r = L⁻¹(Σ W x − m_r)                      whitened error of the particle mean
//   M_r = L⁻¹ Σ W (x − m_r)(x − m_r)ᵀ L⁻ᵀ        whitened second moment about m_r (≈ I)
// Exact identities for ANY N (the unnormalised SMC measure Ẑ Σ W δ_x is an unbiased
// estimate of Z · p(X_0 | path), with adaptive resampling too):
//   E[R] = 1,   E[R e] = 0,   E[R (M − I)] = 0.
// Each is checked by a z-score over the K independent runs with the sample sd (the runs
// are independent; the particles within a run are not, which is why nothing is pooled
// over particles). The self-normalised e and M carry an O(1/N) bias (measured: up to
// 0.11 posterior sd in one coordinate at N = 100, τ = 0.5, with this Y_0; z-scores up
// to 13), which is why the exact, R-weighted forms are the z-tested ones; the pooled
// self-normalised mean_r e_r and mean_r M_r − I get a loose tolerance (0.25).
// Asymptotically (CLT for log Ẑ) log Ẑ − log Z ≈ N(−σ²/2, σ²), so E[log Ẑ] ≈ log Z − Var/2
// is checked as |mean + var/2| ≤ 5 delta-method standard errors.
//
// Calibration (scratch runs of exactly these statistics and design): at K = 1000, 40
// seeds per τ (800 exact z-scores): rms 0.97 (τ = 1) and 1.02 (τ = 0.5), max |z| 3.51;
// at K = 400, 50 seeds per τ: max |z| 4.10, tails a little heavier than normal (R is
// lognormal-like with σ² ≈ 0.3). Jensen z: rms 1.0, mean +0.2/+0.3 (higher cumulants of
// log Ẑ), max 2.84. Var log Ẑ never above 0.42 (sd over seeds ≈ 0.02–0.03).
// Bounds and false-failure rates: |z| ≤ 5.5 for the 10 exact z-tests per τ (20 in all;
// normal tail 3.8e-8 each, so even a 100-fold heavier tail leaves < 1e-4 in all);
// |Jensen z| ≤ 5 (2 tests; normal 5.7e-7 each); Var log Ẑ ≤ 0.6 (> 7 sd above its
// mean); pooled tolerances 0.25 (> 10 sd of their noise above the largest measured
// bias). Whole file: false-failure rate < 1e-3 — and being seeded, each test either
// always passes or always fails for a given build.
//
// Power ('power' tests: the same checks against deliberately wrong oracles on the same
// particle output, i.e. what the checks see if the library had that bug; measured):
//   weight variance × 1.2            Ẑ/Z z ≈ 10–11, Jensen z ≈ 14, Var log Ẑ ≈ 0.9–1.0
//   Gaussian constant dropped        Ẑ/Z z ≈ 55–62, Jensen z ≈ 360–430
//   `Z_t +` dropped from the mean    Var log Ẑ ≈ 5e4
//   noise kept at the last step      second-moment z ≈ −22 to −30
//   weight against Y_t, not Y_s      Var log Ẑ ≈ 25
//   last move skipped (X_0 = X_t1)   mean z ≈ 27–39
//   (τ = 0.5) log-weights not carried across skipped resamplings: Var log Ẑ ≈ 23.
import { describe, expect, test } from '@jest/globals';
import { smc, SmcResult } from '../lib/samplers';
import { schedules } from '../lib/schedules';
import { GaussianMixture } from '../lib/mixture';
import { stepCoefficients } from '../lib/kernel';
import {
  buildChain,
  compareRuns,
  summarize,
  kalman,
  matmul,
  matvec,
  transpose,
  cholesky,
  spdInverse,
  logNormalDensity,
  zeros,
  identity,
  Matrix,
  LinearGaussianChain,
  KalmanResult,
  KalmanOptions,
  ComparisonSummary,
  FilterOutput,
} from './oracles/kalman';

// ---- the model ------------------------------------------------------------------
const D = 5;
const OBSERVED = [1, 3];
const LATENT = [0, 2, 4];
const MEAN = [0.5, -1, 0.3, 1.2, -0.4];

/** Σ of (X, Y) with X = (z0, z2, z4) ~ N(·, 4R), Y1 = z0 + 0.5 z2 + 0.3ε, Y3 = z4 − 0.7 z2 + 0.3ε. */
function covariance(): Matrix {
  const R = [
    [1, 0.3, -0.2],
    [0.3, 1, 0.4],
    [-0.2, 0.4, 1],
  ];
  const G = [
    [1, 0.5, 0],
    [0, -0.7, 1],
  ];
  const SXX = R.map((r) => r.map((x) => 4 * x));
  const SYX = matmul(G, SXX);
  const SYY = matmul(SYX, transpose(G)).map((r, i) => r.map((x, j) => x + (i === j ? 0.09 : 0)));
  const S = zeros(D, D);
  LATENT.forEach((a, i) => LATENT.forEach((b, j) => (S[a][b] = SXX[i][j])));
  OBSERVED.forEach((a, i) =>
    LATENT.forEach((b, j) => {
      S[a][b] = SYX[i][j];
      S[b][a] = SYX[i][j];
    }),
  );
  OBSERVED.forEach((a, i) => OBSERVED.forEach((b, j) => (S[a][b] = SYY[i][j])));
  return S;
}
const SIGMA = covariance();
/** Y_0: 2.4 and 2.8 marginal sd away from m_Y. */
const Y0 = [MEAN[1] + 6, MEAN[3] - 7];

const T = 3;
const STEPS = 30;
const PARTICLES = 100;
const RUNS = 1000;

const schedule = schedules.ou({ T });
const model = GaussianMixture.fromJSON({ weights: [1], means: [MEAN], covariances: [SIGMA] });
const chain = buildChain({ mean: MEAN, cov: SIGMA }, schedule, 'euler', STEPS, OBSERVED);

// ---- bounds (calibration in the header) ----------------------------------------------
const Z_EXACT = 5.5;
const Z_JENSEN = 5;
const MAX_VAR_LOG_Z = 0.6;
/** Pooled self-normalised whitened mean and second moment: O(1/N) bias ≤ 0.11 measured. */
const POOLED_TOL = 0.25;

interface Check {
  name: string;
  value: number;
  bound: number;
}

/** Every check of one filter output against one oracle: |value| ≤ bound passes. */
function checks(s: ComparisonSummary): Check[] {
  const out: Check[] = [
    { name: 'Var log Ẑ', value: s.varEll, bound: MAX_VAR_LOG_Z },
    { name: 'z(E[Ẑ/Z] = 1)', value: s.zRatio, bound: Z_EXACT },
    { name: 'z(E[log Ẑ − log Z] = −Var/2)', value: s.jensenGap / s.jensenSe, bound: Z_JENSEN },
  ];
  const dX = s.zMean.length;
  for (let j = 0; j < dX; j++) {
    out.push({ name: `z(E[R e_${j}] = 0)`, value: s.zMean[j], bound: Z_EXACT });
    out.push({ name: `pooled e_${j}`, value: s.pooledMean[j], bound: POOLED_TOL });
  }
  for (let j = 0; j < dX; j++) {
    for (let l = j; l < dX; l++) {
      out.push({ name: `z(E[R (M_${j}${l} − I)] = 0)`, value: s.zSecond[j][l], bound: Z_EXACT });
      out.push({ name: `pooled M_${j}${l} − I`, value: s.pooledSecond[j][l] - (j === l ? 1 : 0), bound: POOLED_TOL });
    }
  }
  return out;
}

/** The checks that fail (NaN fails), as readable lines. */
function failures(s: ComparisonSummary): string[] {
  return checks(s)
    .filter((c) => !(Math.abs(c.value) <= c.bound))
    .map((c) => `${c.name}: ${c.value.toPrecision(4)} (bound ${c.bound})`);
}

/** How far outside its bound the worst check is (> 1 fails; Infinity for NaN). */
function worstExcess(s: ComparisonSummary): number {
  return Math.max(...checks(s).map((c) => (Number.isNaN(c.value) ? Infinity : Math.abs(c.value) / c.bound)));
}

type Oracle = (c: LinearGaussianChain, path: (g: number) => ArrayLike<number>, run: number) => KalmanResult;

function filterOutput(res: SmcResult): FilterOutput {
  if (res.particles === undefined || res.logWeights === undefined) throw new Error("smc must be run with output 'all'");
  return { logEvidence: res.logEvidence, contextPath: res.contextPath, particles: res.particles, logWeights: res.logWeights };
}

function compare(res: SmcResult, c: LinearGaussianChain = chain, oracle: Oracle = (ch, p) => kalman(ch, p)): ComparisonSummary {
  return summarize(compareRuns(filterOutput(res), c, RUNS, PARTICLES, D, oracle));
}

// One filter run per τ, shared by that τ's tests.
const cache = new Map<number, Promise<SmcResult>>();
function filterRun(tau: number, seed: number): Promise<SmcResult> {
  let p = cache.get(tau);
  if (p === undefined) {
    p = smc({
      score: model,
      schedule,
      steps: STEPS,
      observed: { indices: OBSERVED, values: Y0 },
      particles: PARTICLES,
      samples: RUNS,
      resampling: 'systematic',
      essThreshold: tau,
      seed,
      output: 'all',
    });
    cache.set(tau, p);
  }
  return p;
}

// ---- the oracle itself ---------------------------------------------------------------

/**
 * Reference for the Kalman recursion: the whole chain as one joint Gaussian. Every
 * quantity is affine in the base vector (X_T, ξ_S..ξ_1, η_S..η_1) ~ N(0, I); then
 * log p(Y obs) and p(X_0 | Y obs) follow by plain Gaussian conditioning (MATH.md §7).
 */
function jointGaussianReference(c: LinearGaussianChain, path: (g: number) => ArrayLike<number>): KalmanResult {
  const S = c.steps.length, dX = c.latent.length, dY = c.observed.length;
  const nb = dX + S * dX + S * dY;
  // X_T = priorMean + chol(priorCov) b_0
  const L0 = cholesky(c.priorCov);
  let Mx = zeros(dX, nb);
  for (let a = 0; a < dX; a++) for (let b = 0; b < dX; b++) Mx[a][b] = L0[a][b];
  let kx = [...c.priorMean];
  const My: number[][] = [], ky: number[] = [], yObs: number[] = [];
  for (let i = S; i >= 1; i--) {
    const st = c.steps[i - 1];
    const yt = path(i), ys = path(i - 1);
    const xiAt = dX + (S - i) * dX, etaAt = dX + S * dX + (S - i) * dY;
    // Y_{t_{i-1}} = AYX X_{t_i} + AYY Y_{t_i} + cY + √w η_i
    const HM = matmul(st.AYX, Mx), Hk = matvec(st.AYX, kx), o = matvec(st.AYY, yt);
    for (let j = 0; j < dY; j++) {
      const row = [...HM[j]];
      row[etaAt + j] += Math.sqrt(st.w);
      My.push(row);
      ky.push(Hk[j] + o[j] + st.cY[j]);
      yObs.push(ys[j]);
    }
    // X_{t_{i-1}} = AXX X_{t_i} + AXY Y_{t_i} + cX + √v ξ_i
    const FM = matmul(st.AXX, Mx), Fk = matvec(st.AXX, kx), u = matvec(st.AXY, yt);
    for (let a = 0; a < dX; a++) FM[a][xiAt + a] += Math.sqrt(st.v);
    Mx = FM;
    kx = Fk.map((x, a) => x + u[a] + st.cX[a]);
  }
  const Syy = matmul(My, transpose(My));
  const Sxy = matmul(Mx, transpose(My));
  const Sxx = matmul(Mx, transpose(Mx));
  const SyyInv = spdInverse(Syy);
  const gain = matmul(Sxy, SyyInv);
  const innovation = yObs.map((y, j) => y - ky[j]);
  const mean = kx.map((x, a) => x + matvec(gain, innovation)[a]);
  const cov = Sxx.map((row, a) => row.map((x, b) => x - matmul(gain, transpose(Sxy))[a][b]));
  return { logZ: logNormalDensity(yObs, ky, Syy), mean, cov };
}

describe('Kalman oracle (test/oracles/kalman.ts)', () => {
  test("the chain's affine mean A z + c is the kernel mean a z + b s_t(z) of the library's score", async () => {
    const grid = schedule.grid(STEPS);
    const coef = stepCoefficients(schedule, 'euler', grid);
    // OU Euler, h = 0.1: a = 1 + h, b = 2h, v = 2h (MATH.md §2)
    expect(coef[0].a).toBeCloseTo(1.1, 12);
    expect(coef[0].b).toBeCloseTo(0.2, 12);
    expect(coef[0].v).toBeCloseTo(0.2, 12);
    const rows = 4;
    const z = Float32Array.from({ length: rows * D }, (_, k) => Math.sin(1.7 * k + 0.3) * 3);
    for (const i of [1, 2, 15, STEPS]) {
      const t = grid[i];
      const alpha = Math.exp(schedule.logAlpha(t)), sigma = Math.sqrt(schedule.sigma2(t));
      const s = await model.score(z, t, { t, alpha, sigma, rows, dim: D });
      const st = chain.steps[i - 1];
      for (let r = 0; r < rows; r++) {
        const zr = Array.from(z.subarray(r * D, (r + 1) * D));
        const x = LATENT.map((k) => zr[k]), y = OBSERVED.map((k) => zr[k]);
        const muX = matvec(st.AXX, x).map((q, j) => q + matvec(st.AXY, y)[j] + st.cX[j]);
        const muY = matvec(st.AYX, x).map((q, j) => q + matvec(st.AYY, y)[j] + st.cY[j]);
        const mu = new Array<number>(D);
        LATENT.forEach((k, j) => (mu[k] = muX[j]));
        OBSERVED.forEach((k, j) => (mu[k] = muY[j]));
        for (let k = 0; k < D; k++) {
          const lib = coef[i - 1].a * zr[k] + coef[i - 1].b * s[r * D + k];
          expect(Math.abs(mu[k] - lib)).toBeLessThan(1e-4 * (1 + Math.abs(lib)));
        }
      }
    }
  });

  test('the Kalman recursion equals one joint-Gaussian conditioning of the whole chain', () => {
    // A short chain (S = 4) and an arbitrary path, and the full S = 30 chain.
    for (const [S, c] of [
      [4, buildChain({ mean: MEAN, cov: SIGMA }, schedule, 'euler', 4, OBSERVED)],
      [STEPS, chain],
      [5, buildChain({ mean: MEAN, cov: SIGMA }, schedules.vp(), 'ddpm', 5, OBSERVED)],
    ] as [number, LinearGaussianChain][]) {
      const path = (g: number) => [Math.cos(0.9 * g) * 2 + Y0[0] * (1 - g / S), Math.sin(1.3 * g) - Y0[1] * 0.5];
      const k = kalman(c, path);
      const ref = jointGaussianReference(c, path);
      expect(Math.abs(k.logZ - ref.logZ)).toBeLessThan(1e-8 * (1 + Math.abs(ref.logZ)));
      for (let a = 0; a < LATENT.length; a++) {
        expect(k.mean[a]).toBeCloseTo(ref.mean[a], 8);
        for (let b = 0; b < LATENT.length; b++) expect(k.cov[a][b]).toBeCloseTo(ref.cov[a][b], 8);
      }
    }
  });

  test('with S = 1 the oracle is a single Gaussian observation, by hand', () => {
    // One step from t_1 = T: X_T ~ N(0, I); Y_0 = AYX X_T + AYY Y_T + cY + √w η; X_0 = AXX X_T + AXY Y_T + cX.
    const c = buildChain({ mean: MEAN, cov: SIGMA }, schedule, 'euler', 1, OBSERVED);
    const st = c.steps[0];
    expect(st.v).toBe(0); // no noise at the last step (MATH.md §2)
    expect(st.w).toBeCloseTo(2 * T, 12); // Euler's v = 2h is the weight's variance
    const yT = [0.4, -0.2];
    const path = (g: number) => (g === 0 ? Y0 : yT);
    const k = kalman(c, path);
    const o = matvec(st.AYY, yT).map((q, j) => q + st.cY[j]);
    const Syy = matmul(st.AYX, transpose(st.AYX)).map((r, i) => r.map((x, j) => x + (i === j ? st.w : 0)));
    expect(k.logZ).toBeCloseTo(logNormalDensity(Y0, o, Syy), 10);
    const gain = matmul(transpose(st.AYX), spdInverse(Syy));
    const postX = matvec(gain, Y0.map((y, j) => y - o[j]));
    const postP = identity(3).map((r, i) => r.map((x, j) => x - matmul(gain, st.AYX)[i][j]));
    const mean = matvec(st.AXX, postX).map((q, j) => q + matvec(st.AXY, yT)[j] + st.cX[j]);
    const cov = matmul(matmul(st.AXX, postP), transpose(st.AXX));
    for (let a = 0; a < 3; a++) {
      expect(k.mean[a]).toBeCloseTo(mean[a], 10);
      for (let b = 0; b < 3; b++) expect(k.cov[a][b]).toBeCloseTo(cov[a][b], 10);
    }
  });
});

// ---- the filter against the oracle -----------------------------------------------------

for (const [tau, seed] of [
  [1, 20250101],
  [0.5, 20250102],
] as [number, number][]) {
  describe(`smc vs the Kalman filter, essThreshold τ = ${tau} (D = 5, 2 observed, S = ${STEPS}, N = ${PARTICLES}, K = ${RUNS} runs, seed ${seed})`, () => {
    let cached: Promise<ComparisonSummary> | undefined;
    const summary = (): Promise<ComparisonSummary> => (cached ??= filterRun(tau, seed).then((res) => compare(res)));

    // False-failure rate: Var log Ẑ is a sample variance over K = 1000 runs, measured
    // 0.25–0.32 (τ = 1) and 0.33–0.42 (τ = 0.5), sd ≲ 0.03; 0.6 is > 7 sd above: < 1e-6.
    // The resampling fraction (τ = 0.5: ≈ 0.10 of 30 000 run-steps, 45% of runs ending with
    // unequal weights) is far from its bounds: < 1e-6.
    test('N gives Var log Ẑ ≲ 0.5, and the filter resamples as τ says', async () => {
      const s = await summary();
      const res = await filterRun(tau, seed);
      expect(s.varEll).toBeGreaterThan(0.05); // not a trivial problem: Ẑ does vary
      expect(s.varEll).toBeLessThan(MAX_VAR_LOG_Z);
      let resampled = 0;
      for (const f of res.resampled) resampled += f;
      const fraction = resampled / res.resampled.length;
      if (tau === 1) expect(fraction).toBe(1);
      else {
        expect(fraction).toBeGreaterThan(0.02);
        expect(fraction).toBeLessThan(0.5);
        // adaptive: some runs end with unequal weights (which the moments must use)
        let unequal = 0;
        const lw = res.logWeights!;
        for (let r = 0; r < RUNS; r++) {
          const first = lw[r * PARTICLES];
          for (let k = 1; k < PARTICLES; k++) {
            if (Math.abs(lw[r * PARTICLES + k] - first) > 1e-9) {
              unequal++;
              break;
            }
          }
        }
        expect(unequal).toBeGreaterThan(RUNS / 10);
        if (process.env.KALMAN_VERBOSE) console.log(`τ = ${tau}: resampled at ${(100 * fraction).toFixed(1)}% of steps; ${unequal} of ${RUNS} runs end with unequal weights`);
      }
    });

    // E[Ẑ/Z] = 1 exactly (unbiased Ẑ). z-score with the sample sd over K = 1000 runs;
    // bound 5.5: false-failure rate < 1e-6 (calibrated, header).
    test('E[Ẑ/Z] = 1: Ẑ is unbiased for the exact p(Y path | Y_T)', async () => {
      const s = await summary();
      expect(Math.abs(s.zRatio)).toBeLessThan(Z_EXACT);
      expect(Math.abs(s.meanRatio - 1)).toBeLessThan(0.15);
    });

    // E[log Ẑ] ≈ log Z − Var/2 (to leading order); |gap| ≤ 5 delta-method se:
    // false-failure rate < 1e-5 (calibrated: Jensen z rms ≈ 1, mean ≈ 0).
    test('E[log Ẑ] ≈ log Z − Var(log Ẑ)/2', async () => {
      const s = await summary();
      expect(Math.abs(s.jensenGap)).toBeLessThan(Z_JENSEN * s.jensenSe);
    });

    // Three exact z-tests (E[R e_j] = 0) at 5.5 and three pooled tolerances (0.25 posterior sd
    // against a measured O(1/N) bias ≤ 0.11 and noise sd ≈ 0.01): false-failure rate < 1e-6.
    test("the particles' mean of X_0 is the Kalman mean of p(X_0 | Y path)", async () => {
      const s = await summary();
      const bad = failures(s).filter((f) => f.includes(' e_'));
      expect(bad).toEqual([]);
    });

    // Six exact z-tests (E[R (M − I)] = 0) at 5.5 and six pooled tolerances: < 1e-6.
    test("the particles' covariance of X_0 is the Kalman covariance of p(X_0 | Y path)", async () => {
      const s = await summary();
      const bad = failures(s).filter((f) => f.includes(' M_'));
      expect(bad).toEqual([]);
    });

    // Power: the same checks against deliberately wrong oracles on the same output must
    // fail, each by a wide margin (worst check ≥ 1.5 × its bound). Deterministic given the
    // seed; the smallest measured excess is 2.75 × bound (weight variance × 1.2: z ≈ 14
    // against 5, sd 1), so a false failure here has probability < 1e-6.
    test('power: a plausible bug would fail these checks', async () => {
      const res = await filterRun(tau, seed);
      const withSteps = (f: (s: LinearGaussianChain['steps'][number]) => Partial<LinearGaussianChain['steps'][number]>): LinearGaussianChain => ({
        ...chain,
        steps: chain.steps.map((s) => ({ ...s, ...f(s) })),
      });
      const constant = chain.steps.reduce((acc, st) => acc + (OBSERVED.length / 2) * Math.log(2 * Math.PI * st.w), 0);
      const opts = (o: KalmanOptions): Oracle => (c, p) => kalman(c, p, o);
      const lastStepIdentity = (i: number, s: LinearGaussianChain['steps'][number]) =>
        i === 0 ? { AXX: identity(3), AXY: zeros(3, 2), cX: [0, 0, 0] } : s;
      const wrong: [string, LinearGaussianChain, Oracle][] = [
        ['weight variance × 1.2', withSteps((s) => ({ w: 1.2 * s.w })), (c, p) => kalman(c, p)],
        ['Gaussian constant dropped from the weights', chain, (c, p) => ({ ...kalman(c, p), logZ: kalman(c, p).logZ - constant })],
        [
          'kernel mean without the `Z_t +` term',
          withSteps((s) => ({
            AXX: s.AXX.map((r, i) => r.map((x, j) => x - (i === j ? 1 : 0))),
            AYY: s.AYY.map((r, i) => r.map((x, j) => x - (i === j ? 1 : 0))),
          })),
          (c, p) => kalman(c, p),
        ],
        ['noise kept at the last step', buildChain({ mean: MEAN, cov: SIGMA }, schedule, 'euler', STEPS, OBSERVED, { finalNoise: true }), (c, p) => kalman(c, p)],
        ['weight against Y_t instead of Y_s', chain, opts({ observationIndex: (i) => i })],
        ['last move skipped (X_0 = X_{t_1})', { ...chain, steps: chain.steps.map((s, i) => ({ ...s, ...lastStepIdentity(i, s) })) }, (c, p) => kalman(c, p)],
      ];
      if (tau < 1) {
        // Log-weights reset at a step without resampling: that step's observation is lost.
        wrong.push([
          'log-weights not carried across skipped resamplings',
          chain,
          (c, p, r) => kalman(c, p, { observe: (i) => i === 1 || res.resampled[(STEPS - i) * RUNS + r] === 1 }),
        ]);
      }
      const exact = await summary();
      const report: string[] = [
        `τ = ${tau}, exact oracle: Var log Ẑ ${exact.varEll.toFixed(3)}, mean log Ẑ/Z ${exact.meanEll.toFixed(3)}, ` +
          `mean Ẑ/Z ${exact.meanRatio.toFixed(3)}, worst check at ${worstExcess(exact).toFixed(2)} × bound`,
      ];
      for (const [name, c, oracle] of wrong) {
        const s = compare(res, c, oracle);
        const excess = worstExcess(s);
        report.push(`${name}: worst check at ${excess.toPrecision(3)} × bound; fails ${failures(s).slice(0, 3).join('; ')}`);
        expect({ name, excess: excess >= 1.5 }).toEqual({ name, excess: true });
      }
      // the exact oracle passes with room to spare
      expect(worstExcess(await summary())).toBeLessThan(1);
      if (process.env.KALMAN_VERBOSE) console.log(report.join('\n'));
    });
  });
}
