// Schedules (MATH.md §1) and kernel coefficients (MATH.md §2).
import { describe, expect, test } from '@jest/globals';
import { schedules } from '../../lib/schedules';
import { stepCoefficients } from '../../lib/kernel';
import { GaussianMixture } from '../../lib/mixture';
import { replacement } from '../../lib/samplers';

describe('schedules', () => {
  test('ou: alpha_t = e^{-t}, sigma_t^2 = 1 - e^{-2t}, transitions compose', () => {
    const s = schedules.ou({ T: 5 });
    expect(s.T).toBe(5);
    expect(Math.exp(s.logAlpha(0.7))).toBeCloseTo(Math.exp(-0.7), 15);
    expect(s.sigma2(0.7)).toBeCloseTo(1 - Math.exp(-1.4), 15);
    const tr = s.transition(0.3, 0.7);
    expect(tr.alpha).toBeCloseTo(Math.exp(-0.4), 15);
    // sigma^2_{t|s} = sigma_t^2 - alpha_{t|s}^2 sigma_s^2 (MATH.md §1)
    expect(tr.sigma2).toBeCloseTo(s.sigma2(0.7) - tr.alpha ** 2 * s.sigma2(0.3), 14);
    const g = s.grid(4);
    expect(Array.from(g)).toEqual([0, 1.25, 2.5, 3.75, 5]);
  });

  test('vp: linear beta, alphā = exp(-(b0 t + (b1 - b0) t^2 / 2)), f = -beta/2, g^2 = beta', () => {
    const s = schedules.vp();
    const t = 0.4;
    const logAbar = -(0.1 * t + 0.5 * 19.9 * t * t);
    expect(s.logAlpha(t)).toBeCloseTo(0.5 * logAbar, 14);
    expect(s.sigma2(t)).toBeCloseTo(1 - Math.exp(logAbar), 14);
    expect(s.drift(t)).toBeCloseTo(-0.5 * (0.1 + 19.9 * t), 14);
    expect(s.diffusion2(t)).toBeCloseTo(0.1 + 19.9 * t, 14);
  });

  test('ddpm: linear and cosine alphā, integer respaced grid, no SDE', () => {
    const lin = schedules.ddpm({ K: 1000 });
    let abar = 1;
    for (let k = 1; k <= 10; k++) abar *= 1 - (1e-4 + ((0.02 - 1e-4) * (k - 1)) / 999);
    expect(Math.exp(2 * lin.logAlpha(10))).toBeCloseTo(abar, 14);
    expect(Array.from(lin.grid(4))).toEqual([0, 250, 500, 750, 1000]);
    expect(() => lin.drift(1)).toThrow(/ddpm/);
    expect(() => lin.grid(1001)).toThrow(RangeError);
    const cos = schedules.ddpm({ K: 1000, betas: 'cosine' });
    const f = (t: number) => Math.cos(((t / 1000 + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    expect(Math.exp(2 * cos.logAlpha(500))).toBeCloseTo(f(500) / f(0), 10);
  });

  test('kernel coefficients: OU Euler mean z + h(z + 2s), variance 2h (MATH.md §2)', () => {
    const s = schedules.ou({ T: 1 });
    const c = stepCoefficients(s, 'euler', s.grid(10));
    for (const k of c) {
      expect(k.a).toBeCloseTo(1.1, 14);
      expect(k.b).toBeCloseTo(0.2, 14);
      expect(k.v).toBeCloseTo(0.2, 14);
    }
  });

  test('DDPM last step: v = 0 at s = 0, weight variance falls back to the previous step (MATH.md §2)', () => {
    const s = schedules.ou({ T: 1 });
    const c = stepCoefficients(s, 'ddpm', s.grid(10));
    expect(c[0].v).toBe(0);
    expect(c[0].weightVariance).toBe(c[1].v);
    expect(c[1].v).toBeGreaterThan(0);
  });

  test('bad options are named', () => {
    expect(() => schedules.ou({ T: -1 })).toThrow(/T must be a positive number, got -1/);
    expect(() => schedules.ddpm({ betas: 'square' as never })).toThrow(/betas must be one of/);
    expect(() => schedules.ou().grid(0)).toThrow(/steps must be a positive integer/);
  });

  test('a horizon whose alpha_T underflows float64 is refused, naming the parameter and its range', () => {
    expect(() => schedules.ou({ T: 1e9 })).toThrow(/schedules\.ou: T must be at most 700 .*got 1000000000/);
    expect(() => schedules.ou({ T: 700.5 })).toThrow(/T must be at most 700/);
    expect(schedules.ou({ T: 700 }).logAlpha(700)).toBe(-700);
    expect(() => schedules.vp({ T: 20 })).toThrow(/schedules\.vp: betaMin T \+ \(betaMax - betaMin\) T\^2 \/ 2 must be at most 1400 .*got 3982 for T = 20, betaMin = 0\.1, betaMax = 20: with these betas T must be at most 11\.856\b/);
    expect(() => schedules.vp({ T: 11.856 })).not.toThrow();
    expect(() => schedules.vp({ T: 11.857 })).toThrow(/T must be at most 11\.856\b/);
    // Constant beta: the bound is linear in T.
    expect(() => schedules.vp({ T: 1000, betaMin: 2, betaMax: 2 })).toThrow(/T must be at most 700$/);
    const vp = schedules.vp({ T: 11.85 });
    expect(Number.isFinite(vp.logAlpha(11.85))).toBe(true);
    expect(Math.exp(vp.logAlpha(11.85))).toBeGreaterThan(0);
  });

  test('the longest horizon allowed still samples: ou T = 700 with the DDPM kernel', async () => {
    const model = GaussianMixture.fromJSON({ weights: [1], means: [[1, -1]], variances: [[0.5, 0.5]] });
    const r = await replacement({ score: model, schedule: schedules.ou({ T: 700 }), kernel: 'ddpm', observed: { indices: [0], values: [1] }, samples: 8, steps: 50, seed: 1 });
    expect(r.samples.every(Number.isFinite)).toBe(true);
  });
});
