// mcgdiff (docs/MATH.md §9.2):
// - against its Kalman oracle with soft pins (test/support/mcgdiff-cases.ts: 1 x 3 and 2 x 3 A,
//   σ_y ∈ {0, 0.1, 0.5}, w₀ on and off, OU × Euler and DDPM × DDPM, κ = 1e-4 and 0.05, a
//   coordinate whose matching level lies beyond T; K = 1000 runs of N = 100): weighted mean and
//   covariance, E[Ẑ] = the target's normaliser, the conversion to p(y);
// (convergence and the mixture prior: mcgdiff-mixture.test.ts);
// - the options: κ, w₀'s default and when it is required or refused, masks, operators.
// False-failure rates: test/numerics/CALIBRATION.md ("mcgdiff" rows). Power: the planted bugs
// of tools/mutants-list.ts ("mcgdiff-*"), among them the public code's division form (the
// denominator over O_t, which divides out the pinning factor at release): test/numerics/MUTANTS.md.
import { describe, expect, test } from '@jest/globals';
import { mcgdiff } from '../../lib/mcgdiff';
import { GaussianMixture } from '../../lib/mixture';
import { schedules } from '../../lib/schedules';
import { failures } from '../support/checks';
import { MCGDIFF_CASES, MCGDIFF_CONFIGS, MCGDIFF_SEED, MCGDIFF_RUNS, MCGDIFF_PARTICLES, A_BEYOND, analyseMcgdiff } from '../support/mcgdiff-cases';
import { runDivisionForm, divisionFormTarget } from '../support/division-form';
import { SVD_PRIOR } from '../support/svd-filter-cases';

describe('mcgdiff against its Kalman oracle (soft pins)', () => {
  test.each(MCGDIFF_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expect(failures(await c.run(c.seed))).toEqual([]);
  }, 60_000);
});

describe('mcgdiff options', () => {
  const model = GaussianMixture.fromJSON({ weights: [1], means: [SVD_PRIOR.mean], covariances: [SVD_PRIOR.cov] });
  const base = { score: model, schedule: schedules.ou({ T: 4 }), steps: 16, particles: 16, samples: 4, seed: 3 };
  const noisy = { A: [[1, 0.6, -0.4]], y: [0.7], noiseStd: 0.2 };

  test('defaults: κ = 1e-4, w₀ on with noise and off without; the grid has the matching time as a node', async () => {
    const r = await mcgdiff({ ...base, observed: noisy });
    expect(r.method).toBe('mcgdiff');
    expect(r.kappa).toBe(1e-4);
    expect(r.finalWeight).toBe(true);
    expect(Array.from(r.grid)).toContain(r.matchingTimes[0]);
    const exact = await mcgdiff({ ...base, observed: { ...noisy, noiseStd: 0 } });
    expect(exact.finalWeight).toBe(false);
    expect(exact.matchingTimes[0]).toBe(0);
  });

  test('a matching level beyond T turns w₀ on by default and refuses finalWeight: false', async () => {
    const observed = { A: A_BEYOND, y: [0.5, 0.01], noiseStd: 0.5 };
    const r = await mcgdiff({ ...base, observed });
    expect(r.finalWeight).toBe(true);
    expect(r.matchingTimes[1]).toBe(Infinity);
    await expect(mcgdiff({ ...base, observed, finalWeight: false })).rejects.toThrow(/finalWeight must be true: 1 rotated coordinate/);
  });

  test('bad input, each named', async () => {
    await expect(mcgdiff({ ...base, observed: noisy, kappa: 0 })).rejects.toThrow(/kappa must be a positive number/);
    await expect(mcgdiff({ ...base, observed: noisy, kappa: Number.NaN })).rejects.toThrow(/kappa/);
    await expect(mcgdiff({ ...base, observed: { ...noisy, noiseStd: 0 }, finalWeight: true })).rejects.toThrow(/finalWeight must be false/);
    await expect(mcgdiff({ ...base, observed: noisy, finalWeight: 'on' as unknown as boolean })).rejects.toThrow(/finalWeight must be a boolean/);
    await expect(mcgdiff({ ...base, observed: noisy, kapa: 1 } as never)).rejects.toThrow(/unknown option "kapa".*kappa/);
    const operator = { apply: (x: Float64Array) => [x[0] + 0.6 * x[1] - 0.4 * x[2]], applyT: (u: Float64Array) => [u[0], 0.6 * u[0], -0.4 * u[0]] };
    await expect(mcgdiff({ ...base, observed: { operator, y: [0.7], noiseStd: 0.2 } })).rejects.toThrow(/mcgdiff needs the SVD of the observation operator/);
  });

  test('masks, exact and noisy: the exact one is matched by the draws, the noisy one is not copied', async () => {
    const exact = await mcgdiff({ ...base, samples: 50, observed: { indices: [2], values: [0.4] } });
    for (let k = 0; k < 50; k++) expect(Math.abs(exact.samples[k * 3 + 2] - 0.4)).toBeLessThan(0.1);
    const noisy = await mcgdiff({ ...base, samples: 50, observed: { indices: [2], values: [0.4], noiseStd: 0.3 } });
    expect(Array.from({ length: 50 }, (_, k) => noisy.samples[k * 3 + 2]).filter((x) => x === Math.fround(0.4)).length).toBe(0);
  });

  test('an operator with its SVD callbacks gives the dense matrix\'s draws', async () => {
    const a = noisy.A[0], norm = Math.hypot(...a), v = a.map((x) => x / norm);
    const operator = {
      apply: (x: Float64Array) => [a[0] * x[0] + a[1] * x[1] + a[2] * x[2]],
      applyT: (u: Float64Array) => a.map((x) => x * u[0]),
      svd: { Vr: (c: Float64Array) => v.map((x) => x * c[0]), Vrt: (x: Float64Array) => [v[0] * x[0] + v[1] * x[1] + v[2] * x[2]], U: (c: Float64Array) => [c[0]], Ut: (y: Float64Array) => [y[0]], s: [norm] },
    };
    const dense = await mcgdiff({ ...base, observed: noisy, output: 'all' });
    const op = await mcgdiff({ ...base, observed: { operator, y: noisy.y, noiseStd: noisy.noiseStd }, output: 'all' });
    let d = 0;
    for (let k = 0; k < dense.particles!.length; k++) d = Math.max(d, Math.abs(dense.particles![k] - op.particles![k]));
    expect(d).toBeLessThan(1e-4);
    for (let q = 0; q < 4; q++) expect(op.logPy[q]).toBeCloseTo(dense.logPy[q], 4);
  });

  test('the same seed gives the same bytes, whatever the threads', async () => {
    const a = await mcgdiff({ ...base, observed: noisy, threads: 1, output: 'all' });
    const b = await mcgdiff({ ...base, observed: noisy, threads: 2, output: 'all' });
    expect(Buffer.from(a.particles!.buffer)).toEqual(Buffer.from(b.particles!.buffer));
    expect(Array.from(a.logEvidence)).toEqual(Array.from(b.logEvidence));
  });
});

describe("the public code's division form fails these checks", () => {
  // test/support/division-form.ts: the library's model with the pinning factor divided out at
  // release and p(ȳ | x₀) as the final weight. Its target is p_θ(x_{0:T}) p(ȳ | x₀), whose Kalman
  // answer has no soft pins; its weights divide by N(x̄_τ; ỹ, κ) at a point drawn within √κ of ỹ
  // and have infinite variance (κ < v): the mean of Ẑ/Z over 1000 runs comes out at 0.003–0.33
  // (seeds 1–3, three configurations) instead of 1, and the z-test of E[Ẑ/Z] = 1 rejects it.
  const cfg = MCGDIFF_CONFIGS.find((c) => c.name === 'mcgdiff: ou × euler, A 2x3, σ_y = 0.5, w₀ on')!;
  test('2 x 3 A, σ_y = 0.5, OU × Euler: E[Ẑ/Z] = 1 fails against its own target', async () => {
    const res = await runDivisionForm(cfg, MCGDIFF_SEED + 500, MCGDIFF_RUNS, MCGDIFF_PARTICLES);
    const division = failures(analyseMcgdiff(cfg, res, divisionFormTarget(cfg, res.grid)));
    expect(division.some((f) => f.startsWith('z(E[Ẑ/Z*] = 1)'))).toBe(true);
  }, 60_000);
});
