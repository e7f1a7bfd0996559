// smc and replacement for noisy and dense observations (docs/MATH.md §9.1):
// - per path, the SVD bootstrap filter against its Kalman oracle (test/support/svd-filter-cases.ts:
//   1 x 3 and 2 x 3 A, σ_y = 0.5 and 0, OU × Euler and DDPM × DDPM, K = 1000 runs of N = 100);
// - with an exact mask the SVD filter is today's filter, byte for byte;
// - a noisy mask samples its observed coordinates;
// - convergence to the exact posterior and to p(y) as the grid is refined;
// - a Gaussian-mixture prior with a random A (d_y ∈ {1, 2}, D = 8): smc at the noise floor,
//   replacement not.
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
import { SVD_FILTER_CASES, MIXTURE_FLOOR_CASES, CONVERGENCE_CASE, SVD_PRIOR } from '../support/svd-filter-cases';

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
