// Observations (docs/MATH.md §8): the thin SVD of a dense A, the closed-form SVD of average
// pooling, and every bad input refused with an error naming it.
import { describe, expect, test } from '@jest/globals';
import { normalizeLinearObservation, observations } from '../../lib/observation';
import { native } from '../../lib/native';
import { caught, expectError } from '../support/errors';
import { smc, replacement } from '../../lib/samplers';
import { GaussianMixture } from '../../lib/mixture';
import { schedules } from '../../lib/schedules';

/** A deterministic pseudo-random matrix (test inputs only). */
function matrix(rows: number, cols: number, seed: number): number[][] {
  let x = seed;
  const next = () => ((x = (x * 1103515245 + 12345) % 2147483648), x / 2147483648 - 0.5);
  return Array.from({ length: rows }, () => Array.from({ length: cols }, next));
}

function reconstruct(u: Float64Array, s: Float64Array, vt: Float64Array, rows: number, cols: number, r: number): number[][] {
  return Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => {
    let acc = 0;
    for (let k = 0; k < r; k++) acc += u[i * r + k] * s[k] * vt[k * cols + j];
    return acc;
  }));
}

describe('thin SVD (native/core/svd.h)', () => {
  test.each([[1, 8], [2, 8], [4, 64], [16, 64], [8, 3]])('%i x %i: A = U S V^T, orthonormal U and V, s descending', (rows, cols) => {
    const A = matrix(rows, cols, rows * 100 + cols);
    const d = native.thinSvd(rows, cols, Float64Array.from(A.flat()));
    expect(d.rank).toBe(Math.min(rows, cols));
    const back = reconstruct(d.u, d.s, d.vt, rows, cols, d.rank);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) expect(Math.abs(back[i][j] - A[i][j])).toBeLessThan(1e-13);
    for (let k = 0; k < d.rank; k++) {
      if (k > 0) expect(d.s[k]).toBeLessThanOrEqual(d.s[k - 1]);
      for (let l = 0; l < d.rank; l++) {
        let vv = 0, uu = 0;
        for (let j = 0; j < cols; j++) vv += d.vt[k * cols + j] * d.vt[l * cols + j];
        for (let i = 0; i < rows; i++) uu += d.u[i * d.rank + k] * d.u[i * d.rank + l];
        expect(Math.abs(vv - (k === l ? 1 : 0))).toBeLessThan(1e-13);
        expect(Math.abs(uu - (k === l ? 1 : 0))).toBeLessThan(1e-13);
      }
    }
  });

  test('known singular values: [[1,2,3],[4,5,6]] and a diagonal matrix', () => {
    // s² are the eigenvalues of A A^T = [[14, 32], [32, 77]]: (91 ± sqrt(91² − 4·54)) / 2.
    const d = native.thinSvd(2, 3, Float64Array.of(1, 2, 3, 4, 5, 6));
    const disc = Math.sqrt(91 * 91 - 4 * 54);
    expect(d.s[0]).toBeCloseTo(Math.sqrt((91 + disc) / 2), 13);
    expect(d.s[1]).toBeCloseTo(Math.sqrt((91 - disc) / 2), 13);
    const g = native.thinSvd(3, 4, Float64Array.of(0, 0, 2, 0, 0.5, 0, 0, 0, 0, 0, 0, -3));
    expect(Array.from(g.s)).toEqual([3, 2, 0.5]);
  });

  test('the rank cutoff s_i > 1e-12 s_max: a repeated row and a zero row are dropped', () => {
    const d = native.thinSvd(4, 3, Float64Array.of(1, 2, 3, 1, 2, 3, 0, 0, 0, 0, 1, 0));
    expect(d.rank).toBe(2);
    expect(d.sDropped).toBeLessThan(1e-12 * d.sMax);
  });

  test('bad arguments are named', () => {
    expectError(caught(() => native.thinSvd(2, 3, new Float64Array(5))), 'RangeError', /^a must have length 6/);
    expectError(caught(() => native.thinSvd(1, 2, Float64Array.of(1, NaN))), 'RangeError', /^a\[0\]\[1\] must be finite, got NaN/);
    expectError(caught(() => native.thinSvd(0, 2, new Float64Array(0))), 'RangeError', /^rows must be/);
  });
});

describe('observation forms', () => {
  test('a dense A: ȳ = U^T y, y_⊥, and V_r^T / V_r consistent with A', () => {
    const A = matrix(3, 5, 7);
    const y = [0.3, -1, 2];
    const o = normalizeLinearObservation({ A, y, noiseStd: 0.1 }, 5);
    expect(o.kind).toBe('matrix');
    expect(o.svd!.rank).toBe(3);
    // A x = U S V_r^T x for a test vector.
    const x = Float64Array.of(1, -2, 0.5, 3, -1);
    const ax = o.apply(x);
    const c = o.svd!.project(x);
    const d = native.thinSvd(3, 5, Float64Array.from(A.flat()));
    for (let i = 0; i < 3; i++) {
      let acc = 0;
      for (let k = 0; k < 3; k++) acc += d.u[i * 3 + k] * d.s[k] * c[k];
      expect(acc).toBeCloseTo(ax[i], 12);
    }
    expect(o.svd!.yPerpNorm2).toBeLessThan(1e-24);
    // A flat row-major Float64Array with rows gives the same.
    const flat = normalizeLinearObservation({ A: Float64Array.from(A.flat()), rows: 3, y, noiseStd: 0.1 }, 5);
    expect(Array.from(flat.svd!.s)).toEqual(Array.from(o.svd!.s));
  });

  test('a redundant row: rank 2 of 3 rows, the inconsistent part of y is y_⊥', () => {
    const o = normalizeLinearObservation({ A: [[1, 0, 0], [0, 1, 0], [1, 0, 0]], y: [1, 2, 3], noiseStd: 0.5 }, 3);
    expect(o.svd!.rank).toBe(2);
    // y_⊥ is along (1, 0, −1)/√2: (1 − 3)/√2 → ‖y_⊥‖² = 2.
    expect(o.svd!.yPerpNorm2).toBeCloseTo(2, 12);
  });

  test('averagePool: the closed-form SVD reproduces A and A^T (CHW layout)', () => {
    const shape = { height: 4, width: 6, channels: 2, factor: 2 };
    const D = 48, dy = 12;
    const o = normalizeLinearObservation(observations.averagePool(shape, new Float64Array(dy), 0.1), D);
    const A = o.dense();
    for (let c = 0; c < 2; c++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) {
      const row = (c * 2 + i) * 3 + j;
      for (let a = 0; a < 4; a++) for (let b = 0; b < 6; b++) {
        const inBlock = Math.floor(a / 2) === i && Math.floor(b / 2) === j;
        expect(A[row * D + (c * 4 + a) * 6 + b]).toBe(inBlock ? 0.25 : 0);
      }
    }
    // Its SVD matches the native one of the same dense matrix.
    const d = native.thinSvd(dy, D, A);
    for (let k = 0; k < dy; k++) expect(d.s[k]).toBeCloseTo(0.5, 14);
    const x = Float64Array.from({ length: D }, (_, k) => Math.sin(k));
    const c = o.svd!.project(x), lifted = o.svd!.lift(c);
    // V_r V_r^T x is the block mean spread back: A^T A x / s².
    const ata = o.applyT(o.apply(x));
    for (let k = 0; k < D; k++) expect(lifted[k]).toBeCloseTo(ata[k] / 0.25, 12);
  });

  test('noisy masks may observe every coordinate', () => {
    const o = normalizeLinearObservation({ indices: [0, 1], values: [1, 2], noiseStd: 0.3 }, 2);
    expect(o.kind).toBe('mask');
    expect(o.noiseStd).toBe(0.3);
  });
});

describe('bad observations, each named', () => {
  const D = 4;
  const bad: Array<[string, unknown, 'TypeError' | 'RangeError' | 'Error', RegExp]> = [
    ['A with the wrong number of columns', { A: [[1, 2, 3]], y: [1] }, 'RangeError', /^observed\.A\[0\] must be a row of D = 4 numbers/],
    ['a flat A of the wrong length', { A: new Float64Array(7), rows: 2, y: [1, 2] }, 'RangeError', /^observed\.A must be a row-major 2 x 4 array/],
    ['a flat A without rows', { A: new Float64Array(8), y: [1, 2] }, 'TypeError', /^observed\.rows must be the number of rows/],
    ['y of the wrong length', { A: [[1, 0, 0, 0]], y: [1, 2] }, 'RangeError', /^observed\.y must be an array of length d_y = 1/],
    ['NaN in A', { A: [[1, NaN, 0, 0]], y: [1] }, 'RangeError', /^observed\.A\[0\]\[1\] must be a finite number, got NaN/],
    ['NaN in y', { A: [[1, 0, 0, 0]], y: [NaN] }, 'RangeError', /^observed\.y\[0\] must be a finite number, got NaN/],
    ['negative noise', { A: [[1, 0, 0, 0]], y: [1], noiseStd: -0.1 }, 'RangeError', /^observed\.noiseStd must be a non-negative finite number, got -0\.1/],
    ['a noise that is not a number', { indices: [0], values: [1], noiseStd: '0.1' }, 'TypeError', /^observed\.noiseStd must be a non-negative finite number/],
    // σ² is what every formula uses: one that overflows or underflows gave NaN weights.
    ['a noise whose square overflows', { indices: [0], values: [1], noiseStd: 1e300 }, 'RangeError', /^observed\.noiseStd must be 0, or a number whose square is a normal double \(about 1\.5e-154 to 1\.3e154\), got 1e\+300$/],
    ['a noise whose square underflows', { A: [[1, 0, 0, 0]], y: [1], noiseStd: 1e-200 }, 'RangeError', /^observed\.noiseStd must be 0, or a number whose square is a normal double .*got 1e-200$/],
    ['infeasible noiseless y', { A: [[1, 0, 0, 0], [2, 0, 0, 0]], y: [1, 1] }, 'RangeError', /^observed\.y is infeasible with noiseStd = 0: its component outside the range of A has norm/],
    ['ill-posed noiseless A', { A: [[1, 0, 0, 0], [0, 1e-9, 0, 0]], y: [1, 1e-9] }, 'RangeError', /^observed\.A makes the noiseless problem ill-posed: singular value 1 is/],
    ['a zero A', { A: [[0, 0, 0, 0]], y: [0], noiseStd: 1 }, 'RangeError', /^observed\.A must not be zero/],
    ['two forms', { indices: [0], values: [1], A: [[1, 0, 0, 0]], y: [1] }, 'TypeError', /^observed must have exactly one of indices .* got indices and A/],
    ['a callback of the wrong length', { operator: { apply: () => [1, 2], applyT: () => [0, 0, 0, 0] }, y: [1] }, 'RangeError', /^the result of observed\.operator\.apply must be an array of length 1, got an Array of length 2/],
    ['a throwing callback', { operator: { apply: () => [1], applyT: () => { throw new Error('boom'); } }, y: [1] }, 'Error', /^observed\.operator\.applyT threw: boom/],
    ['an SVD callback of the wrong length', { operator: { apply: () => [0], applyT: () => [0, 0, 0, 0], svd: { s: [1], Vr: () => [0, 0, 0, 0], Vrt: () => [0, 0], U: () => [0], Ut: () => [0] } }, y: [1], noiseStd: 1 }, 'RangeError', /^the result of observed\.operator\.svd\.Vrt must be an array of length 1/],
    ['singular values not descending', { operator: { apply: () => [0, 0], applyT: () => [0, 0, 0, 0], svd: { s: [1, 2], Vr: () => [0, 0, 0, 0], Vrt: () => [0, 0], U: () => [0, 0], Ut: () => [0, 0] } }, y: [1, 1], noiseStd: 1 }, 'RangeError', /^observed\.operator\.svd\.s\[1\] must be positive and at most the one before/],
  ];
  test.each(bad)('%s', (_what, observed, name, message) => {
    expectError(caught(() => normalizeLinearObservation(observed, D)), name, message);
  });

  test('averagePool shapes', () => {
    expectError(caught(() => observations.averagePool({ height: 5, width: 4, channels: 1, factor: 2 }, [1])), 'RangeError', /^averagePool factor must be a divisor of height = 5, got 2/);
    expectError(caught(() => observations.averagePool({ height: 4, width: 4, channels: 0, factor: 2 }, [1])), 'RangeError', /^averagePool channels must be a positive integer, got 0/);
  });
});

describe('samplers refuse what they cannot do with an observation, naming it', () => {
  const model = GaussianMixture.fromJSON({ weights: [1], means: [[0, 0, 0]], variances: [[1, 1, 1]] });
  const common = { score: model, schedule: schedules.ou(), steps: 8, samples: 2 };
  const operator = { apply: (x: Float64Array) => [x[0] + x[1]], applyT: (u: Float64Array) => [u[0], u[0], 0] };

  test('smc with an operator that has no SVD', async () => {
    const err = await smc({ ...common, particles: 4, observed: { operator, y: [1], noiseStd: 0.1 } }).catch((e: Error) => e);
    expectError(err as Error, 'TypeError', /^smc needs the SVD of the observation operator: give observed\.operator\.svd = \{ Vr, Vrt, U, Ut, s \}/);
  });
  test('replacement with a corrector or a fixed context on a dense observation', async () => {
    const observed = { A: [[1, 1, 0]], y: [1], noiseStd: 0.1 };
    const a = await replacement({ ...common, observed, corrector: { kind: 'langevin', steps: 1, snr: 0.16 } }).catch((e: Error) => e);
    expectError(a as Error, 'TypeError', /^corrector\.snr needs the free coordinates' norms, which a matrix or operator observation does not have: use corrector\.gamma/);
    const b = await replacement({ ...common, observed, context: 'fixed' }).catch((e: Error) => e);
    expectError(b as Error, 'RangeError', /^context must be 'forward' for a noisy or dense observation/);
  });
  test('a noisy mask takes every corrector (native coordinate sets at each level)', async () => {
    const observed = { indices: [0, 2], values: [0.5, -0.5], noiseStd: 0.2 };
    for (const corrector of [{ kind: 'langevin' as const, steps: 2, snr: 0.16 }, { kind: 'langevin' as const, steps: 2, gamma: 0.1 }, { kind: 'repaint' as const, jumps: 1 }]) {
      const r = await replacement({ ...common, samples: 8, observed, corrector });
      expect(r.method).toBe(corrector.kind);
      expect(Array.from(r.samples).every(Number.isFinite)).toBe(true);
    }
  });

  test('an operator with its SVD runs smc (the same draws as the dense A)', async () => {
    const A = [[1, 1, 0]];
    const r = Math.SQRT2;
    const svd = { s: [r], Vr: (c: Float64Array) => [c[0] / r, c[0] / r, 0], Vrt: (x: Float64Array) => [(x[0] + x[1]) / r], U: (c: Float64Array) => [c[0]], Ut: (y: Float64Array) => [y[0]] };
    const viaOperator = await smc({ ...common, particles: 4, seed: 3, observed: { operator: { ...operator, svd }, y: [1], noiseStd: 0.1 } });
    const viaMatrix = await smc({ ...common, particles: 4, seed: 3, observed: { A, y: [1], noiseStd: 0.1 } });
    // The native SVD may pick the opposite sign of v (the same law, other draws): compare the grids and shapes.
    expect(Array.from(viaOperator.grid)).toEqual(Array.from(viaMatrix.grid));
    expect(viaOperator.shape).toEqual([2, 3]);
    expect(Array.from(viaOperator.samples).every(Number.isFinite)).toBe(true);
  });
});
