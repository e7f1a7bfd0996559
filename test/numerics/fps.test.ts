// fps (docs/MATH.md §9.3):
// - with σ_y = 0 it is the SVD bootstrap filter of §9.1: given the same path (the filter's pinned
//   path mapped to y_k = A V_r Ỹ_k) and seed, the two models give the same particles and
//   weights, log Ẑ differs by log N(Ỹ_T; 0, I) − (S + 1) Σ_i log s_i, and log p̂(y) agrees;
// - (on the D = 8 mixture: fps-mixture.test.ts);
// - it needs only A and A^T: an operator without its SVD gives the dense matrix's draws;
// - noiseless rank-deficient A: a named error; logPy is NaN with noise (not an estimate of p(y)).
import { describe, expect, test } from '@jest/globals';
import { fps, fpsPathDensity } from '../../lib/fps';
import { fpsModel } from '../../lib/models/fps';
import { svdFilterModel } from '../../lib/models/svd-bootstrap';
import { runFeynmanKac } from '../../lib/driver';
import { selectBackend } from '../../lib/backend';
import { normalizeLinearObservation } from '../../lib/observation';
import { pinnedPath, evidenceCorrection } from '../../lib/matching';
import { GaussianMixture } from '../../lib/mixture';
import { schedules } from '../../lib/schedules';
import { SVD_PRIOR } from '../support/svd-filter-cases';

const model = GaussianMixture.fromJSON({ weights: [1], means: [SVD_PRIOR.mean], covariances: [SVD_PRIOR.cov] });

describe('fps with σ_y = 0 is the SVD bootstrap filter', () => {
  const cases = [
    { name: 'ou × euler, A 1x3', schedule: schedules.ou({ T: 4 }), kernel: 'euler' as const, A: [[1, 0.6, -0.4]], y: [0.9] },
    { name: 'ou × euler, A 2x3', schedule: schedules.ou({ T: 4 }), kernel: 'euler' as const, A: [[1, 0.6, -0.4], [0.2, -1, 0.7]], y: [0.9, -0.3] },
    { name: 'ddpm × ddpm, A 2x3', schedule: schedules.ddpm({ K: 1000 }), kernel: 'ddpm' as const, A: [[1, 0.6, -0.4], [0.2, -1, 0.7]], y: [0.9, -0.3] },
  ];
  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const backend = selectBackend('cpu');
    const D = 3, runs = 20, particles = 64, S = 12, seed = 11, m = c.A.length;
    const lin = normalizeLinearObservation({ A: c.A, y: c.y }, D);
    const svd = lin.svd!, r = svd.rank;
    const grid = c.schedule.grid(S);
    const start = new Int32Array(r);
    const pinned = await pinnedPath(backend.ops, c.schedule, grid, svd, 0, start, runs, seed, 1);
    // y_k = A V_r Ỹ_k, from the filter's own path.
    const yPath = new Float64Array((S + 1) * runs * m);
    for (let k = 0; k <= S; k++) {
      for (let q = 0; q < runs; q++) {
        for (let j = 0; j < m; j++) {
          let acc = 0;
          for (let i = 0; i < r; i++) {
            let av = 0;
            for (let a = 0; a < D; a++) av += c.A[j][a] * svd.vt![i * D + a];
            acc += av * pinned[(k * runs + q) * r + i];
          }
          yPath[(k * runs + q) * m + j] = acc;
        }
      }
    }
    const problem = { backend, score: model, schedule: c.schedule, grid, dim: D, runs, particles, runOffset: 0, seed, threads: 1, essThreshold: 1, scheme: 'systematic' as const };
    const filter = await runFeynmanKac({ ...problem, model: svdFilterModel({ kernel: c.kernel, finalNoise: false, observation: lin, path: { values: pinned, start }, weighted: true, name: 'smc' }) });
    const f = await runFeynmanKac({ ...problem, model: fpsModel({ kernel: c.kernel, finalNoise: false, observation: lin, path: yPath }) });
    const a = filter.particles as Float32Array, b = f.particles as Float32Array;
    let dx = 0, dw = 0;
    for (let k = 0; k < a.length; k++) dx = Math.max(dx, Math.abs(a[k] - b[k]));
    for (let k = 0; k < runs * particles; k++) dw = Math.max(dw, Math.abs(filter.logWeights[k] - f.logWeights[k]));
    expect(dx).toBeLessThan(1e-4);
    expect(dw).toBeLessThan(1e-6);
    let logS = 0;
    for (let i = 0; i < r; i++) logS += Math.log(svd.s[i]);
    const conv = await evidenceCorrection(c.schedule, grid, svd, 0, m, start, pinned, runs);
    const density = fpsPathDensity({ schedule: c.schedule, grid, dim: D } as never, lin, yPath, runs);
    for (let q = 0; q < runs; q++) {
      let start2 = 0;
      for (let i = 0; i < r; i++) start2 += -0.5 * Math.log(2 * Math.PI) - pinned[(S * runs + q) * r + i] ** 2 / 2;
      expect(f.logEvidence[q] - filter.logEvidence[q]).toBeCloseTo(start2 - (S + 1) * logS, 5);
      // log p̂(y): both conversions give the same value.
      expect(f.logEvidence[q] - density[q]).toBeCloseTo(filter.logEvidence[q] + conv[q], 5);
    }
  });
});

describe('fps needs only A and A^T', () => {
  const base = { score: model, schedule: schedules.ou({ T: 4 }), steps: 12, particles: 32, samples: 8, seed: 4, threads: 1 };
  const A = [[1, 0.6, -0.4]];
  const operator = {
    apply: (x: Float64Array) => [A[0][0] * x[0] + A[0][1] * x[1] + A[0][2] * x[2]],
    applyT: (u: Float64Array) => [A[0][0] * u[0], A[0][1] * u[0], A[0][2] * u[0]],
  };

  test('an operator without its SVD gives the dense matrix\'s draws (σ_y = 0)', async () => {
    const dense = await fps({ ...base, observed: { A, y: [0.9] }, output: 'all' });
    const op = await fps({ ...base, observed: { operator, y: [0.9] }, output: 'all' });
    let d = 0;
    for (let k = 0; k < dense.particles!.length; k++) d = Math.max(d, Math.abs(dense.particles![k] - op.particles![k]));
    expect(d).toBeLessThan(1e-5);
    expect(op.method).toBe('fps');
    expect(Number.isFinite(op.logPy[0])).toBe(true);
  });

  test('with noise: runs with the operator; logPy is NaN (the approximate model\'s likelihood is no p(y))', async () => {
    const r = await fps({ ...base, observed: { operator, y: [0.9], noiseStd: 0.2 } });
    expect(r.logPy.every((x) => Number.isNaN(x))).toBe(true);
    expect(r.logEvidence.every((x) => Number.isFinite(x))).toBe(true);
  });

  test('noiseless and rank-deficient: a named error', async () => {
    await expect(fps({ ...base, observed: { A: [[1, 0.6, -0.4], [2, 1.2, -0.8]], y: [0.9, 1.8] } })).rejects.toThrow(/A must have full row rank/);
  });
});
