// fps (docs/MATH.md §9.3) on the D = 8 mixture with a random A (d_y ∈ {1, 2}): at the noise floor
// with σ_y = 0, biased with σ_y = 0.1 (test/support/fps-cases.ts; rates in CALIBRATION.md, "fps" rows).
import { describe, expect, test } from '@jest/globals';
import { failures } from '../support/checks';
import { FPS_MIXTURE_CASES } from '../support/fps-cases';

describe('fps: Gaussian-mixture prior, random A', () => {
  test.each(FPS_MIXTURE_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expect(failures(await c.run(c.seed))).toEqual([]);
  }, 240_000);
});
