// Guidance (docs/MATH.md §12) on a class-conditional Gaussian mixture, against exact answers
// written in test/support/guidance-cases.ts from the mixture's definition: classifier-free
// guidance at scale 0 and 1 and classifier guidance at scale 1 with the exact noisy classifier
// sample the exact laws; scale 2 and 4 are biased, and the bias is pinned (the README's table);
// smc with weighted CFG proposes with scale 4 and still samples p₀(x | c), and tds with weighted CFG
// at scale 2 samples p₀(x | c, y) for a noisy observation; the 1-D worked
// example of §12 matches its Euler chain, and its continuous-time law is N(0.889, 0.160), not
// the tempered N(0.800, 0.200).
//
// False-failure rates: test/numerics/CALIBRATION.md (tools/calibrate.ts --only '^guidance').
// Mutants: tools/mutants-list.ts (the CFG combination, the classifier scale, the weighted
// correction's sign, the rescale).
import { describe, expect, test } from '@jest/globals';
import { failures } from '../support/checks';
import { GUIDANCE_CASES, exampleContinuous, exampleEuler, mixtureScore, exactClassifierGradient, model, CLASS } from '../support/guidance-cases';
import { rescaleRows, CfgScore, NULL_CLASS } from '../../lib/guidance';

describe('guidance against the exact class-conditional laws', () => {
  for (const c of GUIDANCE_CASES) {
    test(c.name, async () => {
      expect(failures(await c.run(c.seed))).toEqual([]);
    });
  }
});

describe('the worked example of docs/MATH.md §12', () => {
  test('continuous time: scale 2 gives N(0.889, 0.160), not the tempered N(0.800, 0.200); scale 1 gives p0(x | c) = N(2/3, 1/3)', () => {
    const w2 = exampleContinuous(2, 10);
    expect(w2.mean).toBeCloseTo(8 / 9, 6);
    expect(w2.variance).toBeCloseTo(13 / 81, 6);
    // Tempered: p0(x) p(c | x)^2 ∝ N(0, 1) N(x; 1, 1/4) = N(0.8, 0.2).
    expect(Math.abs(w2.mean - 0.8)).toBeGreaterThan(0.08);
    const w1 = exampleContinuous(1, 10);
    expect(w1.mean).toBeCloseTo(2 / 3, 6);
    expect(w1.variance).toBeCloseTo(1 / 3, 6);
  });

  test('the Euler chain converges to the continuous law as the grid is refined', () => {
    const fine = exampleEuler(2, Array.from({ length: 20001 }, (_, i) => (10 * i) / 20000));
    expect(Math.abs(fine.mean - 8 / 9)).toBeLessThan(2e-3);
    expect(Math.abs(fine.variance - 13 / 81)).toBeLessThan(2e-3);
  });
});

describe('the exact oracle', () => {
  test("the conditional mixture's scores are the sub-mixtures' (float64 oracle)", async () => {
    const m = model();
    const z = Float32Array.of(0.3, -0.7, 1.2, 0.4, -2, 1);
    const condition = Int32Array.of(0, NULL_CLASS, 1);
    const out = await m.score(z, 0.5, { t: 0.5, alpha: 0.6, sigma: 0.8, rows: 3, dim: 2, condition });
    [0, null, 1].forEach((c, r) => {
      const want = mixtureScore(c, z.subarray(2 * r, 2 * r + 2), 0.6, 0.64);
      for (let k = 0; k < 2; k++) expect(out[2 * r + k]).toBeCloseTo(want[k], 5);
    });
  });

  test('cfg at scale w is s_∅ + w (s_c − s_∅), the classifier form with the exact noisy classifier', async () => {
    const z = Float32Array.of(0.3, -0.7, 1.2, 0.4);
    const ctx = { t: 0.5, alpha: 0.6, sigma: 0.8, rows: 2, dim: 2, condition: Int32Array.of(CLASS, CLASS) };
    const guided = await new CfgScore(model(), 3, 0).score(z, 0.5, ctx);
    const g = exactClassifierGradient(z, 0.5, ctx.condition, ctx);
    for (let r = 0; r < 2; r++) {
      const s0 = mixtureScore(null, z.subarray(2 * r, 2 * r + 2), 0.6, 0.64);
      for (let k = 0; k < 2; k++) expect(guided[2 * r + k]).toBeCloseTo(s0[k] + 3 * g[2 * r + k], 5);
    }
  });

  test('rescale: φ = 1 gives each row the conditional prediction’s spread, φ = 0 leaves it', () => {
    const cond = Float32Array.of(1, 2, 3, 4, 0, 0, 0, 8);
    const guided = Float32Array.of(2, 6, 4, 0, 1, 1, 1, 1);
    const copy = guided.slice();
    rescaleRows(cond, copy, 2, 4, 0);
    expect(Array.from(copy)).toEqual(Array.from(guided));
    rescaleRows(cond, guided, 2, 4, 1);
    const sd = (a: Float32Array) => {
      const m = a.reduce((x, y) => x + y, 0) / a.length;
      return Math.sqrt(a.reduce((x, y) => x + (y - m) ** 2, 0) / (a.length - 1));
    };
    expect(sd(guided.subarray(0, 4))).toBeCloseTo(sd(cond.subarray(0, 4)), 5);
    // A row with no spread is left as it is.
    expect(Array.from(guided.subarray(4))).toEqual([1, 1, 1, 1]);
  });
});
