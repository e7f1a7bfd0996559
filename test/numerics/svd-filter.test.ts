// smc and replacement for noisy and dense observations (docs/MATH.md §9.1):
// - per path, the SVD bootstrap filter against its Kalman oracle (test/support/svd-filter-cases.ts:
//   1 x 3 and 2 x 3 A, σ_y = 0.5 and 0, OU × Euler and DDPM × DDPM, K = 1000 runs of N = 100);
// - with an exact mask the SVD filter is today's filter, byte for byte;
// - a noisy mask samples its observed coordinates;
// - convergence to the exact posterior and to p(y) as the grid is refined;
// - a Gaussian-mixture prior with a random A (d_y ∈ {1, 2}, D = 8): smc at the noise floor,
//   replacement not;
// - replacement's Langevin and RePaint correctors keep the pins and move the free subspace
//   (planted: no re-pin after the corrector's move fails both).
// False-failure rates: test/numerics/CALIBRATION.md ("svd filter" rows).
// Power (one-line bugs planted, each failing at least one case): w₀ without its pinned-path
// factor; the start sd of the pinned path (σ² − 0.8 α² σ_y²/s²); a transition sd × √1.05;
// the weight variance × 1.1; the pin by 0.98 V_O (c − V_O^T x'); t*_i one node late.
import { describe, expect, test } from '@jest/globals';
import { smc, replacement } from '../../lib/samplers';
import { GaussianMixture } from '../../lib/mixture';
import { schedules } from '../../lib/schedules';
import { runFeynmanKac } from '../../lib/driver';
import { selectBackend } from '../../lib/backend';
import { normalizeLinearObservation } from '../../lib/observation';
import { svdFilterModel } from '../../lib/models/svd-bootstrap';
import { pinnedPath } from '../../lib/matching';
import { failures } from '../support/checks';
import { exactSchedule } from '../support/exact-schedules';
import { pathConversion } from '../support/svd-kalman';
import { SVD_FILTER_CASES, MIXTURE_FLOOR_CASES, CONVERGENCE_CASE, SVD_PRIOR, rotatedObservation } from '../support/svd-filter-cases';
import { recordingScore, gaussianScore } from '../support/gaussian-model';

describe('the SVD bootstrap filter against its per-path Kalman oracle', () => {
  test.each(SVD_FILTER_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expect(failures(await c.run(c.seed))).toEqual([]);
  }, 60_000);
});

describe('exact masks', () => {
  const model = GaussianMixture.fromJSON({ weights: [0.5, 0.5], means: [[-1, 0, 1, 0.5], [1, 1, -1, 0]], variances: [[1, 0.5, 0.8, 1], [0.6, 1, 1, 0.7]] });
  const schedule = schedules.ou({ T: 4 });
  const base = { score: model, schedule, steps: 12, particles: 64, samples: 20, seed: 9, output: 'all' as const };

  test('the SVD filter with an exact mask (assignment, t* = 0) is today\'s filter byte for byte; noiseStd: 0 is the exact mask', async () => {
    const observed = { indices: [2, 0], values: [0.7, -0.3] };
    const today = await smc({ ...base, observed });
    const zero = await smc({ ...base, observed: { ...observed, noiseStd: 0 } });
    expect(Buffer.from(zero.particles.buffer)).toEqual(Buffer.from(today.particles.buffer));
    const backend = selectBackend('cpu');
    const lin = normalizeLinearObservation(observed, 4);
    const grid = schedule.grid(12);
    const start = new Int32Array(2);
    const values = await pinnedPath(backend.ops, schedule, grid, lin.svd!, 0, start, 20, 9, 1);
    expect(Buffer.from(values.buffer)).toEqual(Buffer.from(today.contextPath.buffer));
    const run = await runFeynmanKac({
      backend, model: svdFilterModel({ kernel: 'euler', finalNoise: false, observation: lin, path: { values, start }, weighted: true, name: 'smc' }),
      score: model, schedule, grid, dim: 4, runs: 20, particles: 64, runOffset: 0, seed: 9, threads: 1, essThreshold: 1, scheme: 'systematic',
    });
    expect(Buffer.from((run.particles as Float32Array).buffer)).toEqual(Buffer.from(today.particles.buffer));
    expect(Buffer.from(run.logWeights.buffer)).toEqual(Buffer.from(today.logWeights.buffer));
    expect(Buffer.from(run.logEvidence.buffer)).toEqual(Buffer.from(today.logEvidence.buffer));
  });

  test('logPy of an exact mask: log Ẑ plus the context path\'s conversion (s = 1)', async () => {
    const observed = { indices: [2, 0], values: [0.7, -0.3] };
    const res = await smc({ ...base, observed });
    const q = exactSchedule({ kind: 'ou', T: 4 });
    const obs = { vt: [[0, 0, 1, 0], [1, 0, 0, 0]], s: [1, 1], ybar: [0.7, -0.3], noiseStd: 0 };
    for (let run = 0; run < 20; run++) {
      const conv = pathConversion(q, res.grid, obs, 2, 0, [0, 0], (k, i) => res.contextPath[(k * 20 + run) * 2 + i]);
      expect(res.logPy[run] - res.logEvidence[run]).toBeCloseTo(conv, 9);
    }
  });

  test('a noisy mask samples its observed coordinates (they are not y)', async () => {
    const res = await smc({ ...base, output: 'one', samples: 200, observed: { indices: [2], values: [0.7], noiseStd: 0.3 } });
    const obs = Array.from({ length: 200 }, (_, k) => res.samples[k * 4 + 2]);
    const mean = obs.reduce((a, b) => a + b, 0) / 200;
    const sd = Math.sqrt(obs.reduce((a, b) => a + (b - mean) ** 2, 0) / 199);
    expect(sd).toBeGreaterThan(0.1);
    expect(obs.filter((x) => x === Math.fround(0.7)).length).toBe(0);
  });
});

describe('convergence to the exact posterior as the grid is refined (Gaussian prior, 2 x 3 A, σ_y = 0.3)', () => {
  test(CONVERGENCE_CASE.name, async () => {
    expect(failures(await CONVERGENCE_CASE.run(CONVERGENCE_CASE.seed))).toEqual([]);
  }, 120_000);
});

describe('Gaussian-mixture prior, random A', () => {
  test.each(MIXTURE_FLOOR_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expect(failures(await c.run(c.seed))).toEqual([]);
  }, 120_000);
});

describe('replacement for any observation', () => {
  test('one particle per run; the noiseless dense observation holds exactly at the end (A x = y to float32)', async () => {
    const model = GaussianMixture.fromJSON({ weights: [1], means: [SVD_PRIOR.mean], covariances: [SVD_PRIOR.cov] });
    const A = [[1, 0.6, -0.4]];
    const res = await replacement({ score: model, schedule: schedules.ou({ T: 4 }), steps: 20, observed: { A, y: [0.8] }, samples: 50, seed: 2 });
    expect(res.shape).toEqual([50, 3]);
    for (let k = 0; k < 50; k++) {
      const ax = A[0].reduce((acc, a, c) => acc + a * res.samples[k * 3 + c], 0);
      expect(Math.abs(ax - 0.8)).toBeLessThan(1e-5);
    }
  });
});

describe('replacement correctors for a noisy dense observation (2 x 3 A, σ_y = 0.5)', () => {
  // Every state a sampler hands the score is recorded (test/support/gaussian-model.ts), so the
  // corrector's moves are seen between the steps. O_s, the rotated coordinates pinned at s, come
  // from the test's own t*_i (startsFor). Langevin must leave V_O^T x where the pins put it and
  // move the rest by δ P_F g + √(2δ) P_F ξ; RePaint must re-noise to t onto the same pins.
  const cfg = { name: 'correctors', spec: { kind: 'ou' as const, T: 4 }, kernel: 'euler' as const, steps: 12, A: [[1, 0.6, -0.4], [0.2, -1, 0.7]], noiseStd: 0.5 };
  const q = exactSchedule(cfg.spec);
  const { obs } = rotatedObservation(cfg);
  const y = cfg.A.map((row, i) => row.reduce((acc, a, k) => acc + a * SVD_PRIOR.mean[k], 0) + (i === 0 ? 0.9 : -0.7));
  const pinnedPart = (x: Float32Array, row: number, O: number[]) => O.map((i) => obs.vt[i].reduce((acc, v, c) => acc + v * x[row * 3 + c], 0));
  const freePart = (d: number[]) => {
    const out = [...d];
    for (const v of obs.vt) {
      const p = v.reduce((acc, x, c) => acc + x * d[c], 0);
      v.forEach((x, c) => (out[c] -= p * x));
    }
    return out;
  };

  test('Langevin (gamma): the pins stay, the free coordinates move by δ P_F g + √(2δ) P_F ξ', async () => {
    const rec = recordingScore(gaussianScore(SVD_PRIOR, q));
    const samples = 400, L = 2, gamma = 0.2;
    const res = await replacement({ score: rec.score, dim: 3, schedule: schedules.ou({ T: 4 }), steps: 12, observed: { A: cfg.A, y, noiseStd: 0.5 }, samples, seed: 5, corrector: { kind: 'langevin', steps: L, gamma } });
    expect(res.method).toBe('langevin');
    // Calls come in groups of 1 + L per step: the kernel mean at t, then L Langevin scores at s.
    expect(rec.calls.length).toBe(12 * (1 + L));
    let pinMoved = 0, sq = 0, n = 0, dims = 0;
    for (let step = 0; step < 12; step++) {
      const a = rec.calls[step * (1 + L) + 1], b = rec.calls[step * (1 + L) + 2];
      // The level s reached by this step (the next step's t; 0 after the last), where the pins are;
      // the Langevin score is at s, or at t_1 when s = 0.
      const s = step < 11 ? rec.calls[(step + 1) * (1 + L)].t : 0;
      expect(a.t).toBe(s > 0 ? s : rec.calls[11 * (1 + L)].t);
      // Pinned at s: λ_s ≥ σ_y²/s_i² (the grid's τ nodes pass the test exactly).
      const O = s === 0 ? [] : obs.s.map((si, i) => [si, i] as const).filter(([si]) => q.sigma2(s) / q.alpha(s) ** 2 >= (0.5 / si) ** 2 * (1 - 1e-9)).map(([, i]) => i);
      const delta = gamma * q.sigma2(a.t);
      for (let row = 0; row < samples; row++) {
        const pa = pinnedPart(a.z, row, O), pb = pinnedPart(b.z, row, O);
        pa.forEach((v, j) => (pinMoved = Math.max(pinMoved, Math.abs(v - pb[j]))));
        const d = [0, 1, 2].map((c) => (b.z[row * 3 + c] - a.z[row * 3 + c] - delta * a.score[row * 3 + c]) / Math.sqrt(2 * delta));
        // Remove the pinned directions (the move's own pinned part is undone by the pin).
        const free = [0, 1, 2].map((c) => d[c] - O.reduce((acc, i) => acc + obs.vt[i][c] * obs.vt[i].reduce((x, v, k) => x + v * d[k], 0), 0));
        sq += free.reduce((acc, x) => acc + x * x, 0);
        dims += 3 - O.length;
        n++;
      }
    }
    expect(pinMoved).toBeLessThan(1e-5);
    // Σ ‖P_F ξ‖² over rows is chi-square with Σ dim F degrees of freedom: |z| ≤ 6.
    expect(Math.abs((sq - dims) / Math.sqrt(2 * dims))).toBeLessThan(6);
    expect(n).toBe(12 * samples);
  });

  test('RePaint: the re-noised state at t is on the same pins as the state the step left', async () => {
    const rec = recordingScore(gaussianScore(SVD_PRIOR, q));
    const samples = 50;
    const res = await replacement({ score: rec.score, dim: 3, schedule: schedules.ou({ T: 4 }), steps: 12, observed: { A: cfg.A, y, noiseStd: 0.5 }, samples, seed: 6, corrector: { kind: 'repaint', jumps: 1 } });
    expect(res.method).toBe('repaint');
    expect(rec.calls.length).toBe(24);
    let pinDiff = 0, freeMoved = 0;
    for (let step = 0; step < 12; step++) {
      const main = rec.calls[2 * step], jump = rec.calls[2 * step + 1];
      expect(jump.t).toBe(main.t);
      const t = main.t;
      const O = obs.s.map((si, i) => [si, i] as const).filter(([si]) => q.sigma2(t) / q.alpha(t) ** 2 >= (0.5 / si) ** 2 * (1 - 1e-9)).map(([, i]) => i);
      for (let row = 0; row < samples; row++) {
        const a = pinnedPart(main.z, row, O), b = pinnedPart(jump.z, row, O);
        a.forEach((v, j) => (pinDiff = Math.max(pinDiff, Math.abs(v - b[j]))));
        const d = freePart([0, 1, 2].map((c) => jump.z[row * 3 + c] - main.z[row * 3 + c]));
        freeMoved = Math.max(freeMoved, Math.hypot(...d));
      }
    }
    expect(pinDiff).toBeLessThan(1e-5);
    expect(freeMoved).toBeGreaterThan(1e-2);
  });
});
