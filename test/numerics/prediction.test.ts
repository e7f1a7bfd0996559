// The one prediction-to-score conversion (lib/prediction.ts, MATH.md §1): every kind of
// network output against the formulas in float64, and x0-hat clipping.
import { describe, expect, test } from '@jest/globals';
import { predictionToScore, Prediction } from '../../lib/prediction';

const { abs, max, sin, cos } = Math;
const n = 64;
const z = Float32Array.from({ length: n }, (_, i) => 3 * sin(1.3 * i + 0.2));
const y = Float32Array.from({ length: n }, (_, i) => 2 * cos(0.7 * i * i + 0.1));

/** The score for prediction y, and the x0-hat it implies, in float64 (MATH.md §1). */
function exact(kind: Prediction, zi: number, yi: number, alpha: number, sigma: number): { score: number; x0: number } {
  const s2 = sigma * sigma, r = alpha * alpha + s2;
  switch (kind) {
    case 'score':
      return { score: yi, x0: (zi + s2 * yi) / alpha };
    case 'epsilon':
      return { score: -yi / sigma, x0: (zi - sigma * yi) / alpha };
    case 'x0':
      return { score: (alpha * yi - zi) / s2, x0: yi };
    case 'v': {
      const x0 = (alpha * zi - sigma * yi) / r;
      return { score: (alpha * x0 - zi) / s2, x0 };
    }
  }
}

describe('predictionToScore', () => {
  const kinds: Prediction[] = ['score', 'epsilon', 'x0', 'v'];
  for (const [alpha, sigma] of [[0.99, 0.14], [0.6, 0.8], [0.05, 0.9987]]) {
    test.each(kinds)(`%s at alpha ${alpha}, sigma ${sigma}: the float64 formula to float32 rounding`, async (kind) => {
      const out = new Float32Array(n);
      await predictionToScore(z, y, kind, { alpha, sigma }, out, 2);
      for (let i = 0; i < n; i++) {
        const e = exact(kind, z[i], y[i], alpha, sigma);
        // Relative to the terms combined (|z| / sigma^2 and |y| / sigma bound them here).
        const scale = max(abs(e.score), abs(z[i]) / sigma ** 2, abs(y[i]) / sigma);
        expect(abs(out[i] - e.score) / scale).toBeLessThan(4e-7);
      }
    });

    test.each(kinds)(`%s at alpha ${alpha}, sigma ${sigma}: clipping x0-hat to [-1, 1]`, async (kind) => {
      const out = new Float32Array(n);
      await predictionToScore(z, y, kind, { alpha, sigma }, out, 1, [-1, 1]);
      let clipped = 0;
      for (let i = 0; i < n; i++) {
        const { x0 } = exact(kind, z[i], y[i], alpha, sigma);
        const c = x0 < -1 ? -1 : x0 > 1 ? 1 : x0;
        if (c !== x0) clipped++;
        const want = (alpha * c - z[i]) / sigma ** 2;
        const scale = max(abs(want), abs(z[i]) / sigma ** 2);
        expect(abs(out[i] - want) / scale).toBeLessThan(4e-7);
      }
      expect(clipped).toBeGreaterThan(0);
    });
  }

  test('a prediction that shares memory with out is copied first; out is never z', async () => {
    const buf = Float32Array.from(y);
    const want = new Float32Array(n);
    await predictionToScore(z, y, 'epsilon', { alpha: 0.6, sigma: 0.8 }, want, 1);
    await predictionToScore(z, buf, 'epsilon', { alpha: 0.6, sigma: 0.8 }, buf, 1);
    expect(Array.from(buf)).toEqual(Array.from(want));
    await expect(predictionToScore(z, y, 'x0', { alpha: 0.6, sigma: 0.8 }, z, 1)).rejects.toMatchObject({ name: 'RangeError' });
  });
});
