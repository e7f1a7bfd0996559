// Building block errors (resample, gatherRows and their async forms): bad arguments are
// named, an all -Infinity or NaN weight vector is an error, out arrays that share memory
// with an input are refused, and nothing is half-written.
import { describe, expect, test } from '@jest/globals';
import { resample, resampleAsync, gatherRows, gatherRowsAsync, gatherRowsInPlace, gatherRowsInPlaceAsync } from '../../lib/index';
import { rejectsWith, throwsWith } from '../support/errors';

describe('public building blocks: argument validation, nothing half-written', () => {
  const rng = { seed: 1, counter: 0 };
  test('resample', () => {
    throwsWith(() => resample(Float32Array.of(0, 0) as unknown as Float64Array, 'systematic', rng), 'TypeError', /^logWeights must be a Float64Array, got a Float32Array of length 2$/);
    throwsWith(() => resample(new Float64Array(2), 'bogus' as unknown as 'systematic', rng), 'RangeError', /^scheme must be one of 'systematic', 'stratified', 'multinomial', 'residual', got "bogus"$/);
    throwsWith(() => resample(new Float64Array(2), 'systematic', null as unknown as typeof rng), 'TypeError', /^rng must be an object \{ seed, counter \}, got null$/);
    throwsWith(() => resample(new Float64Array(2), 'systematic', { seed: -1, counter: 0 }), 'RangeError', /^rng\.seed must be a non-negative integer .*got -1$/);
    throwsWith(() => resample(new Float64Array(2), 'systematic', { seed: 0, counter: 1.5 }), 'RangeError', /^rng\.counter must be a non-negative integer .*got 1\.5$/);
    throwsWith(() => resample(new Float64Array(2), 'systematic', { seed: 0, counter: 0, run: 2 ** 32 }), 'RangeError', /^rng\.run must be a non-negative integer \(at most 4294967295\), got 4294967296$/);
    throwsWith(() => resample(new Float64Array(2), 'systematic', rng, new Float32Array(2) as unknown as Int32Array), 'TypeError', /^out must be an Int32Array, got a Float32Array of length 2$/);
    const out = new Int32Array(3).fill(-7);
    throwsWith(() => resample(new Float64Array(2), 'systematic', rng, out), 'RangeError', /^out must have length 2 \(one ancestor per weight\), got 3$/);
    expect(Array.from(out)).toEqual([-7, -7, -7]);
  });

  test('gatherRows', async () => {
    const rows = Float32Array.of(1, 2, 3, 4, 5, 6);
    throwsWith(() => gatherRows(Array.from(rows) as unknown as Float32Array, 2, Int32Array.of(0)), 'TypeError', /^rows must be a Float32Array, got an Array of length 6$/);
    throwsWith(() => gatherRows(rows, 0, Int32Array.of(0)), 'RangeError', /^dim must be a positive integer .*got 0$/);
    throwsWith(() => gatherRows(rows, 2.5, Int32Array.of(0)), 'RangeError', /^dim must be a positive integer .*got 2\.5$/);
    throwsWith(() => gatherRows(rows, 4, Int32Array.of(0)), 'RangeError', /^rows must have a length divisible by dim 4, got 6$/);
    throwsWith(() => gatherRows(rows, 2, [0, 1] as unknown as Int32Array), 'TypeError', /^ancestors must be an Int32Array, got an Array of length 2$/);
    throwsWith(() => gatherRows(rows, 2, Int32Array.of(0), undefined, { threads: 0 }), 'RangeError', /^threads must be a positive integer .*got 0$/);
    const out = new Float32Array(4).fill(-7);
    throwsWith(() => gatherRows(rows, 2, Int32Array.of(0, 3), out), 'RangeError', /^ancestors\[1\] must be in \[0, 3\), got 3$/);
    throwsWith(() => gatherRows(rows, 2, Int32Array.of(-1, 0), out), 'RangeError', /^ancestors\[0\] must be in \[0, 3\), got -1$/);
    throwsWith(() => gatherRows(rows, 2, Int32Array.of(0, 1, 2), out), 'RangeError', /^out must have length 6 \(ancestors\.length x dim\), got 4$/);
    await rejectsWith(gatherRowsAsync(rows, 2, Int32Array.of(0, 9), out), 'RangeError', /^ancestors\[1\] must be in \[0, 3\), got 9$/);
    expect(Array.from(out)).toEqual([-7, -7, -7, -7]);
    // Repeated ancestors are legitimate for a gather.
    expect(Array.from(gatherRows(rows, 2, Int32Array.of(2, 2), out))).toEqual([5, 6, 5, 6]);
  });

  test('options: an object of known keys (null read as a property of null; a misspelt one was ignored)', async () => {
    const rows = Float32Array.of(1, 2, 3, 4);
    throwsWith(() => resample(new Float64Array(2), 'systematic', rng, undefined, null as never), 'TypeError', /^the options of resample must be an object, got null$/);
    await rejectsWith(resampleAsync(new Float64Array(2), 'systematic', rng, undefined, { thread: 2 } as never), 'TypeError', /^unknown option "thread" for resampleAsync \(did you mean "threads"\?\)$/);
    throwsWith(() => gatherRows(rows, 2, Int32Array.of(0), undefined, null as never), 'TypeError', /^the options of gatherRows must be an object, got null$/);
    throwsWith(() => gatherRowsInPlace(rows, 2, Int32Array.of(0, 1), null as never), 'TypeError', /^the options of gatherRowsInPlace must be an object, got null$/);
    await rejectsWith(gatherRowsInPlaceAsync(rows, 2, Int32Array.of(0, 1), { orders: new Int32Array(2) } as never), 'TypeError', /^unknown option "orders" for gatherRowsInPlaceAsync \(did you mean "order"\?\)$/);
  });
});

describe('all log-weights -Infinity, or a NaN', () => {
  test('resample: all -Infinity / empty; out is left untouched', async () => {
    const out = new Int32Array(4).fill(-7);
    for (const lw of [new Float64Array(4).fill(-Infinity), Float64Array.of(-Infinity, Infinity, 0, 0)]) {
      throwsWith(() => resample(lw, 'systematic', { seed: 1, counter: 0 }, out), 'RangeError', /^logWeights must contain a finite value/);
      await rejectsWith(resampleAsync(lw, 'multinomial', { seed: 1, counter: 0 }, out), 'RangeError', /^logWeights must contain a finite value/);
    }
    expect(Array.from(out)).toEqual([-7, -7, -7, -7]);
    throwsWith(() => resample(new Float64Array(0), 'systematic', { seed: 1, counter: 0 }), 'RangeError', /^logWeights must have at least one element, got 0$/);
  });

  test('resample: a NaN among finite log-weights is rejected naming its index (never a zero weight), on every scheme and thread count', async () => {
    const out = new Int32Array(4).fill(-7);
    const nanAt = /^logWeights\[2\] must not be NaN \(a NaN log-weight means a bug upstream; a zero weight is -Infinity\), got NaN$/;
    for (const scheme of ['systematic', 'stratified', 'multinomial', 'residual'] as const) {
      throwsWith(() => resample(Float64Array.of(0, -1, NaN, NaN), scheme, { seed: 1, counter: 0 }, out), 'RangeError', nanAt);
      await rejectsWith(resampleAsync(Float64Array.of(-Infinity, 3, NaN, 0), scheme, { seed: 1, counter: 0 }, out), 'RangeError', nanAt);
    }
    throwsWith(() => resample(new Float64Array(4).fill(NaN), 'systematic', { seed: 1, counter: 0 }, out), 'RangeError', /^logWeights\[0\] must not be NaN/);
    expect(Array.from(out)).toEqual([-7, -7, -7, -7]);
    // Large, off the event loop and on several threads: the first NaN, not any NaN.
    const n = 1 << 20;
    const lw = new Float64Array(n);
    lw[700001] = NaN;
    lw[900000] = NaN;
    for (const threads of [1, 2, 4]) {
      await rejectsWith(resampleAsync(lw, 'stratified', { seed: 3, counter: 1 }, undefined, { threads }), 'RangeError', /^logWeights\[700001\] must not be NaN/);
    }
  });
});

describe('aliasing: an out array sharing memory with an input', () => {
  test('gatherRows: out overlapping rows or ancestors (a Float32 and an Int32 view of one buffer)', async () => {
    const rows = new Float32Array(12).map((_, i) => i);
    const before = Array.from(rows);
    throwsWith(() => gatherRows(rows, 2, Int32Array.of(0, 1), rows.subarray(0, 4)), 'RangeError', /^out must not share memory with rows, but they overlap$/);
    throwsWith(() => gatherRows(rows.subarray(0, 6), 2, Int32Array.of(0, 1), rows.subarray(5, 9)), 'RangeError', /^out must not share memory with rows/);
    await rejectsWith(gatherRowsAsync(rows, 2, Int32Array.of(0, 1), rows.subarray(8, 12)), 'RangeError', /^out must not share memory with rows/);
    expect(Array.from(rows)).toEqual(before);

    const ab = new ArrayBuffer(32);
    const anc = new Int32Array(ab, 0, 2);
    anc.set([1, 0]);
    throwsWith(() => gatherRows(Float32Array.of(1, 2, 3, 4), 2, anc, new Float32Array(ab, 4, 4)), 'RangeError', /^out must not share memory with ancestors, but they overlap$/);
    // Right after the ancestors: accepted.
    const out = new Float32Array(ab, 8, 4);
    expect(Array.from(gatherRows(Float32Array.of(1, 2, 3, 4), 2, anc, out))).toEqual([3, 4, 1, 2]);
    expect(Array.from(anc)).toEqual([1, 0]);
  });

  test('resample: out (Int32) overlapping logWeights (Float64) in one buffer', async () => {
    const ab = new ArrayBuffer(8 * 4 + 4 * 4);
    const lw = new Float64Array(ab, 0, 4);
    throwsWith(() => resample(lw, 'systematic', { seed: 0, counter: 0 }, new Int32Array(ab, 24, 4)), 'RangeError', /^out must not share memory with logWeights, but they overlap$/);
    await rejectsWith(resampleAsync(lw, 'residual', { seed: 0, counter: 0 }, new Int32Array(ab, 0, 4)), 'RangeError', /^out must not share memory with logWeights/);
    expect(Array.from(lw)).toEqual([0, 0, 0, 0]);
    const out = resample(lw, 'systematic', { seed: 0, counter: 0 }, new Int32Array(ab, 32, 4));
    expect(Array.from(out)).toEqual([0, 1, 2, 3]);
  });
});
