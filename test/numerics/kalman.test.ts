// The bootstrap particle filter (smc, MATH.md §3, Algorithm 3) against an exact answer with
// no discretisation caveat (MATH.md §3, "A second oracle"): on a Gaussian p0 the score is
// linear, so given a run's Y path the filter's chain is a linear-Gaussian state-space model,
// and a Kalman filter (test/support/kalman-oracle.ts) gives, for the same grid:
//   Z_r         = p(Y_{t_0:t_{S−1}} | Y_{t_S}) along run r's path, which Ẑ_r estimates;
//   N(m_r, P_r) = p(X_0 | Y path of run r), which the particles target.
// The oracle's kernel coefficients and transitions are written from MATH.md §1–§2 in
// test/support/exact-schedules.ts, never taken from the library.
//
// Design (test/support/kalman-problems.ts, kalman-cases.ts). D = 5, observed {1, 3} interleaved with
// the latent {0, 2, 4}; every schedule × kernel pair (ou, vp × euler, ddpm; ddpm linear and
// cosine respaced to 11 levels) on a non-uniform grid of 11 steps, τ ∈ {1, 0.5, 0.3};
// K = 1000 independent runs of N = 100 (Euler) or 200 (DDPM kernel) particles, output 'all'
// (which also returns the draw output 'one' would give: same seed, same draw).
//
// Statistics, per run r, with R_r = Ẑ_r / Z_r, W the run's final weights (unequal when τ < 1),
// L Lᵀ = P_r: e_r = L⁻¹(Σ W x − m_r), M_r = L⁻¹ Σ W (x − m_r)(x − m_r)ᵀ L⁻ᵀ. Exact for any N
// (Ẑ Σ W δ_x is unbiased for Z · p(X_0 | path), adaptive resampling included):
//   E[R] = 1,  E[R e] = 0,  E[R (M − I)] = 0,
// and the same two moment identities for the one draw per run (output 'one'). Each is a
// z-score over the K independent runs with the sample sd. The self-normalised e and M carry
// an O(1/N) bias, so only their pooled means get a loose tolerance (0.25 posterior sd).
// E[log Ẑ] ≈ log Z − Var/2 is checked to 5 delta-method se; Var log Ẑ ≤ 1 (measured
// 0.05–0.45, MATH.md §3 asks ≲ 0.5). The output choice (test/support/output-choice.ts):
// the draw's weight and coordinates against their exact conditional means.
//
// False-failure rates: see CALIBRATION below (tools/calibrate.ts, 200 seeds per case).
import { describe, expect, test } from '@jest/globals';
import { smc, SmcResult } from '../../lib/samplers';
import { GaussianMixture } from '../../lib/mixture';
import { failures, worstExcess, Check } from '../support/checks';
import { KERNEL_CONFIGS, KernelConfig, PRIOR, PRIOR_JSON, OBSERVED, LATENT, Y0, D, OU, libSchedule } from '../support/kalman-problems';
import { KALMAN_CASES, runFilter, exactChain, analyse, filterChecks, resamplingChecks, TAUS, kalmanCase } from '../support/kalman-cases';
import { exactSchedule, exactSteps, exactStep, transition, ExactStep } from '../support/exact-schedules';
import { gaussianScore } from '../support/gaussian-model';
import { buildChain, chainFor, kalman, kalmanPerRun, jointGaussianReference, replacementLaw, LinearGaussianChain, KalmanOptions } from '../support/kalman-oracle';
import { matmul, matvec, transpose, spdInverse, logNormalDensity, identity } from '../support/matrix';

// ---- the oracle itself ---------------------------------------------------------------------

describe('the exact schedules and kernels of the oracle (MATH.md §1–§2, by hand)', () => {
  test('OU: alpha, sigma², transitions and the Euler step z + h(z + 2s), v = 2h', () => {
    const q = exactSchedule({ kind: 'ou', T: 3 });
    expect(q.alpha(0.7)).toBeCloseTo(Math.exp(-0.7), 15);
    const tr = transition(q, 0.3, 0.7);
    expect(tr.alpha).toBeCloseTo(Math.exp(-0.4), 15);
    expect(tr.sigma2).toBeCloseTo(1 - Math.exp(-0.8), 14); // VP: sigma²_{t|s} = 1 − alpha²_{t|s}
    const st = exactStep(q, 'euler', 0.2, 0.3);
    expect([st.cz, st.cs, st.v].map((x) => +x.toFixed(12))).toEqual([1.1, 0.2, 0.2]);
  });

  test('DDPM kernel: the posterior q(z_s | z_t, x0) at x̂0 (Ho et al. 2020, eq. 7), by hand on the linear schedule', () => {
    const q = exactSchedule({ kind: 'ddpm', K: 1000, betas: 'linear' });
    const beta = (k: number) => 1e-4 + ((0.02 - 1e-4) * (k - 1)) / 999;
    let abar = 1;
    for (let k = 1; k <= 10; k++) abar *= 1 - beta(k);
    expect(q.alpha(10) ** 2).toBeCloseTo(abar, 15);
    // One DDPM step k → k − 1: mean coefficient of x̂0 √ᾱ_{k−1} β_k / (1 − ᾱ_k), of z √(1 − β_k)(1 − ᾱ_{k−1})/(1 − ᾱ_k),
    // variance β̃_k = (1 − ᾱ_{k−1}) β_k / (1 − ᾱ_k).
    const k = 10, abarPrev = abar / (1 - beta(k));
    const c0 = (Math.sqrt(abarPrev) * beta(k)) / (1 - abar), c1 = (Math.sqrt(1 - beta(k)) * (1 - abarPrev)) / (1 - abar);
    const st = exactStep(q, 'ddpm', k - 1, k);
    // μ = c0 (z + σ² s)/α + c1 z
    expect(st.cz).toBeCloseTo(c0 / Math.sqrt(abar) + c1, 12);
    expect(st.cs).toBeCloseTo((c0 * (1 - abar)) / Math.sqrt(abar), 12);
    expect(st.v).toBeCloseTo(((1 - abarPrev) * beta(k)) / (1 - abar), 14);
    // the last step is noise-free (v = 0 at s = 0)
    expect(exactStep(q, 'ddpm', 0, 5).v).toBe(0);
  });

  test('VP: Euler with f = −beta/2, g² = beta; alphā = exp(−∫beta)', () => {
    const q = exactSchedule({ kind: 'vp', T: 1, betaMin: 0.1, betaMax: 20 });
    const t = 0.4, s = 0.3, beta = 0.1 + 19.9 * t;
    expect(q.alpha(t) ** 2).toBeCloseTo(Math.exp(-(0.1 * t + 0.5 * 19.9 * t * t)), 14);
    const st = exactStep(q, 'euler', s, t);
    expect(st.cz).toBeCloseTo(1 + 0.1 * beta / 2, 12);
    expect(st.cs).toBeCloseTo(0.1 * beta, 12);
    expect(st.v).toBeCloseTo(0.1 * beta, 12);
  });
});

describe('the Kalman oracle (test/support/kalman-oracle.ts)', () => {
  const cfg = KERNEL_CONFIGS[0];
  const chain = exactChain(cfg);

  test("the chain's affine mean A z + c is the kernel mean cz z + cs s_t(z) of the library's mixture score", async () => {
    const q = exactSchedule(cfg.spec);
    const steps = exactSteps(q, cfg.kernel, cfg.grid);
    const model = GaussianMixture.fromJSON(PRIOR_JSON);
    const schedule = libSchedule(cfg.spec);
    const rows = 4;
    const z = Float32Array.from({ length: rows * D }, (_, k) => Math.sin(1.7 * k + 0.3) * 3);
    const own = gaussianScore(PRIOR, q);
    for (const i of [1, 2, 6, steps.length]) {
      const t = cfg.grid[i];
      const s = await model.score(z, t, { t, alpha: Math.exp(schedule.logAlpha(t)), sigma: Math.sqrt(schedule.sigma2(t)), rows, dim: D });
      const s2 = own(z, t);
      const st = chain.steps[i - 1];
      for (let r = 0; r < rows; r++) {
        const zr = Array.from(z.subarray(r * D, (r + 1) * D));
        const x = LATENT.map((k) => zr[k]), y = OBSERVED.map((k) => zr[k]);
        const muX = matvec(st.AXX, x).map((v, j) => v + matvec(st.AXY, y)[j] + st.cX[j]);
        const muY = matvec(st.AYX, x).map((v, j) => v + matvec(st.AYY, y)[j] + st.cY[j]);
        const mu = new Array<number>(D);
        LATENT.forEach((k, j) => (mu[k] = muX[j]));
        OBSERVED.forEach((k, j) => (mu[k] = muY[j]));
        for (let k = 0; k < D; k++) {
          const viaScore = steps[i - 1].cz * zr[k] + steps[i - 1].cs * s[r * D + k];
          expect(Math.abs(mu[k] - viaScore)).toBeLessThan(1e-4 * (1 + Math.abs(viaScore)));
          expect(Math.abs(s2[r * D + k] - s[r * D + k])).toBeLessThan(1e-5 * (1 + Math.abs(s[r * D + k])));
        }
      }
    }
  });

  test('the Kalman recursion equals one joint-Gaussian conditioning of the whole chain', () => {
    const chains: LinearGaussianChain[] = [chain, chainFor(PRIOR, OU, 'euler', [0, 0.5, 1.1, 3], OBSERVED), ...KERNEL_CONFIGS.slice(1).map(exactChain)];
    for (const c of chains) {
      const S = c.steps.length;
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
    const T = 3;
    const c = chainFor(PRIOR, OU, 'euler', [0, T], OBSERVED);
    const st = c.steps[0];
    expect(st.v).toBe(0); // no noise at the last step (MATH.md §2)
    expect(st.w).toBeCloseTo(2 * T, 12); // Euler's v = 2h is the weight's variance
    const yT = [0.4, -0.2];
    const k = kalman(c, (g) => (g === 0 ? Y0 : yT));
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

  test("replacement's exact law: a fixed context is the forward one with zero path noise", () => {
    const q = exactSchedule(cfg.spec);
    const fixed = replacementLaw(chain, q, cfg.grid, Y0, 'fixed');
    // Propagating the mean by hand along Y_t = Y_0
    let x = [0, 0, 0];
    let P = identity(3);
    for (let i = chain.steps.length; i >= 1; i--) {
      const st = chain.steps[i - 1];
      x = matvec(st.AXX, x).map((v, j) => v + matvec(st.AXY, Y0)[j] + st.cX[j]);
      P = matmul(matmul(st.AXX, P), transpose(st.AXX)).map((r, a) => r.map((v, b) => v + (a === b ? st.v : 0)));
    }
    for (let a = 0; a < 3; a++) {
      expect(fixed.mean[a]).toBeCloseTo(x[a], 10);
      for (let b = 0; b < 3; b++) expect(fixed.cov[a][b]).toBeCloseTo(P[a][b], 10);
    }
    const forward = replacementLaw(chain, q, cfg.grid, Y0, 'forward');
    // the path's noise only adds variance
    for (let a = 0; a < 3; a++) expect(forward.cov[a][a]).toBeGreaterThan(fixed.cov[a][a]);
  });
});

// ---- the filter against the oracle -----------------------------------------------------------

// One filter run per (pair, τ), shared by that pair's tests.
const cache = new Map<string, Promise<SmcResult>>();
function filterRun(cfg: KernelConfig, tau: number): Promise<SmcResult> {
  const c = kalmanCase(cfg, tau);
  let p = cache.get(c.name);
  if (p === undefined) cache.set(c.name, (p = runFilter(cfg, tau, c.seed)));
  return p;
}
const analyses = new Map<string, ReturnType<typeof analyse>>();
async function analysis(cfg: KernelConfig, tau: number) {
  const name = kalmanCase(cfg, tau).name;
  let a = analyses.get(name);
  if (a === undefined) analyses.set(name, (a = analyse(await filterRun(cfg, tau), exactChain(cfg))));
  return a;
}

describe.each(KERNEL_CONFIGS.map((cfg) => [cfg.name, cfg] as const))('smc vs the Kalman filter: %s, 11 non-uniform steps', (_name, cfg) => {
  test.each(TAUS.map((tau) => [tau]))('τ = %p: Ẑ unbiased, particles and the output draw match p(X_0 | Y path), the draw is chosen by weight', async (tau) => {
    const res = await filterRun(cfg, tau);
    const checks: Check[] = [...filterChecks(await analysis(cfg, tau)), ...resamplingChecks(res, tau)];
    expect(failures(checks)).toEqual([]);
    expect(KALMAN_CASES.some((c) => c.name === kalmanCase(cfg, tau).name)).toBe(true);
  });
});

test("output 'one' returns the draw that output 'all' reports (same seed, same run)", async () => {
  const cfg = KERNEL_CONFIGS[0], tau = 0.3;
  const all = await filterRun(cfg, tau);
  const one = await smc({
    score: GaussianMixture.fromJSON(PRIOR_JSON),
    schedule: libSchedule(cfg.spec),
    kernel: cfg.kernel,
    grid: cfg.grid,
    observed: { indices: OBSERVED, values: Y0 },
    particles: all.particles!.length / (D * all.logEvidence.length),
    samples: all.logEvidence.length,
    essThreshold: tau,
    seed: kalmanCase(cfg, tau).seed,
  });
  expect(one.particles).toBeUndefined();
  expect(Buffer.from(one.samples.buffer).equals(Buffer.from(all.samples.buffer))).toBe(true);
  expect(Array.from(one.logEvidence)).toEqual(Array.from(all.logEvidence));
});

// ---- power -------------------------------------------------------------------------------------

// The same checks against deliberately wrong oracles on the same output, i.e. what the
// checks see if the library had that bug (the real bugs are planted by npm run
// test:mutants). Each must fail by a wide margin: worst check ≥ 1.5 × its bound.
describe('power: plausible bugs fail these checks', () => {
  const withSteps = (c: LinearGaussianChain, f: (s: LinearGaussianChain['steps'][number], i: number) => Partial<LinearGaussianChain['steps'][number]>): LinearGaussianChain => ({
    ...c,
    steps: c.steps.map((s, i) => ({ ...s, ...f(s, i) })),
  });
  type Wrong = [string, LinearGaussianChain, (run: number) => KalmanOptions];
  const exact = () => ({});

  async function excessOf(cfg: KernelConfig, tau: number, wrong: Wrong[]): Promise<string[]> {
    const res = await filterRun(cfg, tau);
    const lines: string[] = [];
    for (const [name, chain, opts] of wrong) {
      const a = analyse(res, chain, kalmanPerRun(chain, res.contextPath, res.logEvidence.length, opts));
      const excess = worstExcess(filterChecks(a));
      lines.push(`${name}: worst check at ${excess.toPrecision(3)} × bound (${failures(filterChecks(a)).slice(0, 2).join('; ')})`);
      expect({ name, fails: excess >= 1.5 }).toEqual({ name, fails: true });
    }
    if (process.env.KALMAN_VERBOSE) console.log(`${cfg.name}, τ = ${tau}\n` + lines.join('\n'));
    return lines;
  }

  test('ou × euler, τ = 0.5: weights, kernel mean, last step, path index, skipped log-weights', async () => {
    const cfg = KERNEL_CONFIGS[0], tau = 0.5;
    const chain = exactChain(cfg);
    const S = chain.steps.length;
    const res = await filterRun(cfg, tau);
    const runs = res.logEvidence.length;
    await excessOf(cfg, tau, [
      ['weight variance × 1.2', withSteps(chain, (s) => ({ w: 1.2 * s.w })), exact],
      ['kernel mean without the `Z_t +` term', withSteps(chain, (s) => ({ AXX: s.AXX.map((r, i) => r.map((x, j) => x - (i === j ? 1 : 0))), AYY: s.AYY.map((r, i) => r.map((x, j) => x - (i === j ? 1 : 0))) })), exact],
      ['noise kept at the last step', chainFor(PRIOR, cfg.spec, cfg.kernel, cfg.grid, OBSERVED, { finalNoise: true }), exact],
      ['weight against Y_t instead of Y_s', chain, () => ({ observationIndex: (i: number) => i })],
      ['weight against the path at S − i', chain, () => ({ observationIndex: (i: number) => S - i })],
      ['log-weights not carried across skipped resamplings', chain, (r) => ({ observe: (i: number) => i === 1 || res.resampled[(S - i) * runs + r] === 1 })],
    ]);
  });

  test('ddpm linear, τ = 0.3: the DDPM x̂0 coefficient with alpha_t instead of alpha_s; the DDPM variance as sigma²_{t|s}', async () => {
    const cfg = KERNEL_CONFIGS[4], tau = 0.3;
    const q = exactSchedule(cfg.spec);
    const good = exactSteps(q, 'ddpm', cfg.grid);
    const alphaT: ExactStep[] = good.map((st) => {
      // c0 = alpha_t sigma²_{t|s} / sigma_t² (the bug), consistently in cz and cs
      const c0 = (q.alpha(st.t) * st.sigma2Ts) / q.sigma2(st.t), c1 = (st.alphaTs * q.sigma2(st.s)) / q.sigma2(st.t);
      return { ...st, cz: c0 / q.alpha(st.t) + c1, cs: (c0 * q.sigma2(st.t)) / q.alpha(st.t) };
    });
    const largeVariance: ExactStep[] = good.map((st) => ({ ...st, v: st.s === 0 ? 0 : st.sigma2Ts }));
    await excessOf(cfg, tau, [
      ['DDPM x̂0 coefficient with alpha_t', buildChain(PRIOR, q, alphaT, OBSERVED), exact],
      ['DDPM variance sigma²_{t|s} (the "large" choice)', buildChain(PRIOR, q, largeVariance, OBSERVED), exact],
    ]);
  });
});

