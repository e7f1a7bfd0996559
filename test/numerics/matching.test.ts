// Matching times and the grid of docs/MATH.md §9.1 (lib/matching.ts): λ_τ = σ_y²/s_i² in closed
// form (OU, linear-β VP) against λ computed from the schedule; the grid has S steps, the τ_i
// as nodes, ⌈S/4⌉ steps geometric in λ on (0, τ_min] from λ_{τ_min}·10⁻³ (on DDPM: the levels
// nearest those λ targets); t*_i is τ_i's node.
import { describe, expect, test } from '@jest/globals';
import { schedules } from '../../lib/schedules';
import { normalizeLinearObservation } from '../../lib/observation';
import { lambdaAt, matchingTimes, observationGrid, pinStarts } from '../../lib/matching';

describe('matching times', () => {
  const obs = normalizeLinearObservation({ A: [[2, 0, 0], [0, 0.5, 0], [0, 0, 1e-3]], y: [1, 1, 1], noiseStd: 0.3 }, 3);
  test.each([['ou', schedules.ou({ T: 5 })], ['vp', schedules.vp()], ['ddpm', schedules.ddpm()]] as const)('%s: λ_τ = σ_y²/s² (the smallest level above it when discrete); none past λ_T', (_n, schedule) => {
    const tau = matchingTimes(schedule, obs.svd!, 0.3);
    for (let i = 0; i < 2; i++) {
      const target = (0.3 / obs.svd!.s[i]) ** 2;
      if (schedule.continuous) expect(lambdaAt(schedule, tau[i]) / target).toBeCloseTo(1, 12);
      else {
        expect(lambdaAt(schedule, tau[i])).toBeGreaterThanOrEqual(target);
        expect(lambdaAt(schedule, tau[i] - 1)).toBeLessThan(target);
      }
    }
    // s = 1e-3: λ = 90000 is past λ_T for vp (e^{10.05} − 1 ≈ 23000) and ddpm (about 24000); OU T = 5 reaches 22025.
    expect(tau[2]).toBe(Infinity);
    expect(Array.from(matchingTimes(schedule, obs.svd!, 0))).toEqual([0, 0, 0]);
  });
});

describe('the grid', () => {
  test('OU: S steps, every τ a node, ⌈S/4⌉ geometric steps on (0, τ_min], t* at the τ nodes', () => {
    const schedule = schedules.ou({ T: 5 });
    const o = normalizeLinearObservation({ A: [[2, 0, 0], [0, 0.5, 0]], y: [1, 1], noiseStd: 0.3 }, 3);
    const tau = matchingTimes(schedule, o.svd!, 0.3);
    const grid = observationGrid(schedule, 40, tau);
    expect(grid.length).toBe(41);
    expect(grid[0]).toBe(0);
    expect(grid[40]).toBe(5);
    for (let i = 1; i <= 40; i++) expect(grid[i]).toBeGreaterThan(grid[i - 1]);
    const tauMin = Math.min(...tau);
    expect(grid[10]).toBe(tauMin);
    expect(Array.from(grid)).toContain(Math.max(...tau));
    const lam = Array.from(grid.subarray(1, 11), (t) => lambdaAt(schedule, t));
    expect(lam[0] / lambdaAt(schedule, tauMin)).toBeCloseTo(1e-3, 9);
    for (let j = 1; j < 10; j++) expect(lam[j] / lam[j - 1]).toBeCloseTo(lam[1] / lam[0], 9);
    const starts = pinStarts(schedule, grid, o.svd!, 0.3);
    tau.forEach((t, i) => expect(grid[starts[i]]).toBe(t));
  });

  test('DDPM: S steps of levels, every matching level a node, ⌈S/4⌉ steps below k_min at the geometric λ targets, the rest respaced', () => {
    const schedule = schedules.ddpm();
    const o = normalizeLinearObservation({ A: [[2, 0, 0], [0, 0.5, 0]], y: [1, 1], noiseStd: 0.3 }, 3);
    const tau = matchingTimes(schedule, o.svd!, 0.3);
    const grid = observationGrid(schedule, 20, tau);
    expect(grid.length).toBe(21);
    expect(grid[0]).toBe(0);
    expect(grid[20]).toBe(1000);
    for (let i = 1; i <= 20; i++) {
      expect(Number.isInteger(grid[i])).toBe(true);
      expect(grid[i]).toBeGreaterThan(grid[i - 1]);
    }
    const kMin = Math.min(...tau);
    expect(grid[5]).toBe(kMin);
    expect(Array.from(grid)).toContain(Math.max(...tau));
    // Node j < 5 is the smallest level with λ ≥ λ_{k_min}·10^{−3(5−j)/4}.
    for (let j = 1; j < 5; j++) {
      const target = lambdaAt(schedule, kMin) * 10 ** ((-3 * (5 - j)) / 4);
      expect(lambdaAt(schedule, grid[j])).toBeGreaterThanOrEqual(target);
      expect(lambdaAt(schedule, grid[j] - 1)).toBeLessThan(target);
    }
    // Above k_min: 15 steps of about (1000 − k_min)/15 levels, one of them moved onto the other matching level.
    const gaps = Array.from({ length: 15 }, (_, i) => grid[6 + i] - grid[5 + i]);
    expect(gaps.filter((g) => Math.abs(g - (1000 - kMin) / 15) > 1).length).toBeLessThanOrEqual(2);
    const starts = pinStarts(schedule, grid, o.svd!, 0.3);
    tau.forEach((t, i) => expect(grid[starts[i]]).toBe(t));
  });

  test('DDPM: fewer levels below k_min than geometric targets takes every level there; S = K takes every level', () => {
    const schedule = schedules.ddpm();
    const o = normalizeLinearObservation({ A: [[1, 0.6, -0.4], [0.2, -1, 0.7]], y: [1, 1], noiseStd: 0.1 }, 3);
    const tau = matchingTimes(schedule, o.svd!, 0.1);
    const kMin = Math.min(...tau);
    expect(kMin).toBeLessThan(25);
    const grid = observationGrid(schedule, 100, tau);
    expect(grid.length).toBe(101);
    expect(Array.from(grid.subarray(0, kMin + 1))).toEqual(Array.from({ length: kMin + 1 }, (_, k) => k));
    for (const t of tau) expect(Array.from(grid)).toContain(t);
    for (let i = 1; i <= 100; i++) expect(grid[i]).toBeGreaterThan(grid[i - 1]);
    expect(Array.from(observationGrid(schedule, 1000, tau))).toEqual(Array.from({ length: 1001 }, (_, k) => k));
    expect(() => observationGrid(schedule, 1, tau)).toThrow(/^steps must be at least 3 to put the 2 matching times on the grid/);
    expect(() => observationGrid(schedule, 1001, tau)).toThrow(/^steps must be at most the schedule's K = 1000/);
  });

  test('DDPM: a matching level the respacing already hit stays a node when another lands next to it', () => {
    const schedule = schedules.ddpm();
    // k_min = 10 and S = 20: 15 steps respaced over [10, 1000] hit 76; 77 must not take 76's node.
    const grid = observationGrid(schedule, 20, Float64Array.of(10, 76, 77));
    expect(grid.length).toBe(21);
    for (const t of [10, 76, 77]) expect(Array.from(grid)).toContain(t);
    for (let i = 1; i <= 20; i++) expect(grid[i]).toBeGreaterThan(grid[i - 1]);
  });

  test('too few steps for the matching times is named', () => {
    const schedule = schedules.ou({ T: 5 });
    expect(() => observationGrid(schedule, 1, Float64Array.of(0.1, 0.3))).toThrow(/^steps must be at least 3 to put the 2 matching times on the grid/);
  });
});
