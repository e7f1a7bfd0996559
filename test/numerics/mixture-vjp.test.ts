// The mixture's vector–Jacobian product of Tweedie's x̂₀ (native/core/mixture_vjp.h, the
// exact twist gradient of tds, docs/MATH.md §10) against central differences of a float64
// mixture score written here from its definition (MATH.md §7): (Jᵀu)_i = u · ∂x̂₀/∂z_i,
// which needs neither the closed form nor the Jacobian's symmetry.
import { describe, expect, test } from '@jest/globals';
import { GaussianMixture } from '../../lib/mixture';
import { eightDimensional } from '../support/mixture-cases';
import { Matrix, spdInverse, logNormalDensity } from '../support/matrix';

interface Spec {
  weights: number[];
  means: number[][];
  covariances: number[][][];
}

/** x̂₀(z) = (z + σ² s(z)) / α in float64. */
function tweedie(spec: Spec, z: number[], alpha: number, sigma2: number): number[] {
  const D = z.length;
  const C: Matrix[] = spec.covariances.map((S) => S.map((row, a) => row.map((x, b) => alpha * alpha * x + (a === b ? sigma2 : 0))));
  const lp = spec.weights.map((w, j) => Math.log(w) + logNormalDensity(z, spec.means[j].map((m) => alpha * m), C[j]));
  const mx = Math.max(...lp);
  const r = lp.map((l) => Math.exp(l - mx));
  const total = r.reduce((a, b) => a + b, 0);
  const s = new Array<number>(D).fill(0);
  spec.weights.forEach((_, j) => {
    const P = spdInverse(C[j]);
    for (let a = 0; a < D; a++) {
      let acc = 0;
      for (let b = 0; b < D; b++) acc += P[a][b] * (z[b] - alpha * spec.means[j][b]);
      s[a] -= (r[j] / total) * acc;
    }
  });
  return z.map((x, k) => (x + sigma2 * s[k]) / alpha);
}

function referenceVjp(spec: Spec, z: number[], u: number[], alpha: number, sigma2: number): number[] {
  const h = 1e-5;
  return z.map((_, i) => {
    const plus = tweedie(spec, z.map((x, k) => (k === i ? x + h : x)), alpha, sigma2);
    const minus = tweedie(spec, z.map((x, k) => (k === i ? x - h : x)), alpha, sigma2);
    return u.reduce((acc, uk, k) => acc + (uk * (plus[k] - minus[k])) / (2 * h), 0);
  });
}

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

const diagonalSpec: Spec = {
  weights: [0.2, 0.5, 0.3],
  means: [[1, -2, 0.5, 0], [-1, 1, 2, -0.5], [0, 0, -2, 1]],
  covariances: [[0.5, 1, 2, 0.3], [1, 1, 1, 1], [2, 0.4, 0.7, 1.5]].map((v) => v.map((x, a) => v.map((_, b) => (a === b ? x : 0)))),
};

// One dense covariance for every component: the 'shared dense' structure, whose vjp applies C⁻¹
// twice per row instead of twice per component.
const sharedCov = [[1, 0.4, -0.2, 0], [0.4, 0.8, 0.1, 0.3], [-0.2, 0.1, 1.5, -0.5], [0, 0.3, -0.5, 0.9]];
const sharedSpec: Spec = {
  weights: [0.25, 0.35, 0.4],
  means: [[2, -1, 0.5, 0], [-1, 1.5, -2, 0.5], [0.5, 0, 1, -1.5]],
  covariances: [sharedCov, sharedCov, sharedCov],
};

describe('GaussianMixture vjp (Jᵀu of x̂₀)', () => {
  const cases: Array<[string, Spec, GaussianMixture]> = [
    ['dense, 8-D, three components', eightDimensional(), GaussianMixture.fromJSON(eightDimensional())],
    ['diagonal, 4-D, three components (given as variances)', diagonalSpec,
      GaussianMixture.fromJSON({ weights: diagonalSpec.weights, means: diagonalSpec.means, variances: diagonalSpec.covariances.map((S) => S.map((row, a) => row[a])) })],
    ['shared dense, 4-D, three components', sharedSpec, GaussianMixture.fromJSON(sharedSpec)],
  ];
  for (const [name, spec, model] of cases) {
    test(`${name}: matches central differences of a float64 score at several times`, async () => {
      const D = spec.means[0].length, rows = 5, rnd = lcg(7);
      for (const [alpha, sigma2] of [[0.95, 1 - 0.95 ** 2], [0.5, 0.75], [0.1, 0.99]]) {
        const z = Float32Array.from({ length: rows * D }, () => 3 * rnd());
        const u = Float32Array.from({ length: rows * D }, () => rnd());
        const out = new Float32Array(rows * D);
        expect(await model.nativeCore().vjp(z, alpha, sigma2, out, 2, u)).toBe(-1);
        for (let r = 0; r < rows; r++) {
          const ref = referenceVjp(spec, Array.from(z.subarray(r * D, (r + 1) * D)), Array.from(u.subarray(r * D, (r + 1) * D)), alpha, sigma2);
          const scale = Math.max(1, ...ref.map(Math.abs));
          ref.forEach((x, k) => expect(Math.abs(out[r * D + k] - x) / scale).toBeLessThan(2e-4));
        }
      }
    });
  }

  test('the shared structure is detected for the shared case', () => {
    expect(cases[2][2].structure).toBe('shared dense');
  });

  test('bad arguments are named', async () => {
    const m = cases[0][2];
    expect(() => m.nativeCore().vjp(new Float32Array(8), 1, 0.5, new Float32Array(8), 1, new Float32Array(7))).toThrow(/u must have length 8 \(same as z\), got 7/);
    expect(() => m.nativeCore().vjp(new Float32Array(8), 1, 0, new Float32Array(8), 1, new Float32Array(8))).toThrow(/sigma2 must be/);
  });
});
