// mcgdiff (docs/MATH.md §9.2), the slow checks (test/support/mcgdiff-cases.ts):
// - convergence to the exact posterior and to p(y) as the grid is refined, w₀ on and off;
// - a Gaussian-mixture prior with a random A (d_y ∈ {1, 2}, D = 8): at the noise floor.
// False-failure rates: test/numerics/CALIBRATION.md ("mcgdiff" rows).
import { describe, expect, test } from '@jest/globals';
import { failures } from '../support/checks';
import { MCGDIFF_CONVERGENCE_CASES, MCGDIFF_MIXTURE_CASES } from '../support/mcgdiff-cases';

describe('mcgdiff: convergence to the exact posterior and p(y) (Gaussian prior, 2 x 3 A, σ_y = 0.3)', () => {
  test.each(MCGDIFF_CONVERGENCE_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expect(failures(await c.run(c.seed))).toEqual([]);
  }, 180_000);
});

describe('mcgdiff: Gaussian-mixture prior, random A', () => {
  test.each(MCGDIFF_MIXTURE_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expect(failures(await c.run(c.seed))).toEqual([]);
  }, 180_000);
});
