// The SVD filter's rotations (native/core/subspace.h, docs/MATH.md §9.1): projections onto
// pinned right singular vectors, the Gaussian log weight of those projections against the
// pinned path, and the pin that sets them. Checked against float64 loops written here, for
// their invariants (a pinned row projects onto its targets; its orthogonal part is
// unchanged), for the same bytes on any thread count and row split, and for their argument
// checks.
import { describe, expect, test } from '@jest/globals';
import { native } from '../../lib/native';
import { throwsWith, Loose } from '../support/errors';

const raw = native as unknown as Record<string, Loose>;
const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    s = (s ^ (s >>> 12)) >>> 0;
    return s / 2 ** 32;
  };
}

/** Orthonormal rows (r x D) by Gram–Schmidt on random rows, float64. */
function orthonormalRows(r: number, D: number, u: () => number): Float64Array {
  const v = new Float64Array(r * D);
  for (let i = 0; i < r; i++) {
    for (let k = 0; k < D; k++) v[i * D + k] = u() - 0.5;
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < i; j++) {
        let d = 0;
        for (let k = 0; k < D; k++) d += v[i * D + k] * v[j * D + k];
        for (let k = 0; k < D; k++) v[i * D + k] -= d * v[j * D + k];
      }
    }
    let n = 0;
    for (let k = 0; k < D; k++) n += v[i * D + k] ** 2;
    for (let k = 0; k < D; k++) v[i * D + k] /= Math.sqrt(n);
  }
  return v;
}

const dot = (vt: Float64Array, i: number, x: ArrayLike<number>, off: number, D: number) => {
  let s = 0;
  for (let k = 0; k < D; k++) s += vt[i * D + k] * x[off + k];
  return s;
};

// D = 13 (not a multiple of the eight partial sums), r = 5, 3 pinned in the order 4, 0, 2;
// 4 runs x 6 particles.
const D = 13, R = 5, RUNS = 4, P = 6, ROWS = RUNS * P;
const INDEX = Int32Array.of(4, 0, 2);
const n = INDEX.length;
function problem(seed = 1, runs = RUNS) {
  const u = uniform(seed);
  const vt = orthonormalRows(R, D, u);
  const x = Float32Array.from({ length: runs * P * D }, () => 4 * (u() - 0.5));
  const targets = Float32Array.from({ length: runs * n }, () => 2 * (u() - 0.5));
  return { vt, x, targets };
}

describe('SVD filter rotations (native/core/subspace.h)', () => {
  test('svdProject: the projections of every row onto the named directions, to float64 rounding', async () => {
    const { vt, x } = problem();
    const out = new Float64Array(ROWS * n);
    await native.svdProject(x, vt, INDEX, out, 2);
    for (let row = 0; row < ROWS; row++)
      for (let j = 0; j < n; j++) expect(Math.abs(out[row * n + j] - dot(vt, INDEX[j], x, row * D, D))).toBeLessThan(1e-13);
  });

  test('svdLogWeights: constant − |targets − projections of mu|² / (2 variance), the run of each row its targets', async () => {
    const { vt, x, targets } = problem(2);
    const inc = new Float64Array(ROWS);
    const variance = 0.37, constant = -1.25;
    await native.svdLogWeights(x, vt, INDEX, targets, P, variance, constant, inc, 2);
    for (let row = 0; row < ROWS; row++) {
      const q = Math.floor(row / P);
      let quad = 0;
      for (let j = 0; j < n; j++) quad += (targets[q * n + j] - dot(vt, INDEX[j], x, row * D, D)) ** 2;
      expect(Math.abs(inc[row] - (constant - quad / (2 * variance)))).toBeLessThan(1e-12);
    }
  });

  test('svdPin: a pinned row projects onto its run\'s targets, and its part orthogonal to the pinned directions is unchanged', async () => {
    const { vt, x, targets } = problem(3);
    const z = x.slice();
    await native.svdPin(z, vt, INDEX, targets, P, 2);
    for (let row = 0; row < ROWS; row++) {
      const q = Math.floor(row / P);
      for (let j = 0; j < n; j++) expect(Math.abs(dot(vt, INDEX[j], z, row * D, D) - targets[q * n + j])).toBeLessThan(2e-6);
      // Directions not pinned (1 and 3) keep their projections; so does the complement of the
      // whole basis: z − x lies in the span of the pinned directions.
      for (const i of [1, 3]) expect(Math.abs(dot(vt, i, z, row * D, D) - dot(vt, i, x, row * D, D))).toBeLessThan(2e-6);
      const d = Array.from({ length: D }, (_, k) => z[row * D + k] - x[row * D + k]);
      const residual = d.slice();
      for (const i of INDEX) {
        const c = dot(vt, i, d, 0, D);
        for (let k = 0; k < D; k++) residual[k] -= c * vt[i * D + k];
      }
      for (const e of residual) expect(Math.abs(e)).toBeLessThan(2e-6);
    }
  });

  test('the same bytes on 1 and 2 threads, and for any split of the rows into calls', async () => {
    // 1200 rows: past the rows per worker task, so two threads share each call.
    const runs = 200, rows = runs * P;
    const { vt, x, targets } = problem(4, runs);
    const run = async (threads: number, split: number) => {
      const z = x.slice();
      const proj = new Float64Array(rows * n);
      const inc = new Float64Array(rows);
      // Rows [0, split P) and [split P, rows) as two calls, each with its runs' targets.
      for (const [a, b] of [[0, split], [split, runs]]) {
        if (a === b) continue;
        const zs = z.subarray(a * P * D, b * P * D), ts = targets.subarray(a * n, b * n);
        await native.svdProject(zs, vt, INDEX, proj.subarray(a * P * n, b * P * n), threads);
        await native.svdLogWeights(zs, vt, INDEX, ts, P, 0.5, 0, inc.subarray(a * P, b * P), threads);
        await native.svdPin(zs, vt, INDEX, ts, P, threads);
      }
      return Buffer.concat([bytes(z), bytes(proj), bytes(inc)]);
    };
    const base = await run(1, runs);
    expect((await run(2, runs)).equals(base)).toBe(true);
    expect((await run(2, 1)).equals(base)).toBe(true);
    expect((await run(1, 137)).equals(base)).toBe(true);
  });

  test('bad arguments are errors naming the argument, before any work', () => {
    const { vt, x, targets } = problem(5);
    const out = new Float64Array(ROWS * n), inc = new Float64Array(ROWS);
    throwsWith(() => raw.svdProject(x, new Float32Array(vt.length), INDEX, out, 1), 'TypeError', /^vt must be a Float64Array, got a Float32Array$/);
    throwsWith(() => raw.svdProject(x, vt.subarray(1), INDEX, out, 1), 'RangeError', /^vt must hold whole rows of 13 values/);
    throwsWith(() => raw.svdProject(x, vt, Int32Array.of(0, 5), new Float64Array(ROWS * 2), 1), 'RangeError', /^index\[1\] must be in \[0, 5\), got 5$/);
    throwsWith(() => raw.svdProject(x, vt, Int32Array.of(2, 2), new Float64Array(ROWS * 2), 1), 'RangeError', /^index must not repeat an index, got 2 twice$/);
    throwsWith(() => raw.svdProject(x, vt, new Int32Array(0), out, 1), 'RangeError', /^index must name at least one direction/);
    throwsWith(() => raw.svdProject(x, vt, INDEX, new Float64Array(ROWS * n + 1), 1), 'RangeError', /^out must hold index.length values per row/);
    throwsWith(() => raw.svdProject(x.subarray(1), vt, INDEX, out, 1), 'RangeError', /^x must hold 24 rows/);
    throwsWith(() => raw.svdLogWeights(x, vt, INDEX, targets, 5, 1, 0, inc, 1), 'RangeError', /^particles must divide the row count 24, got 5$/);
    throwsWith(() => raw.svdLogWeights(x, vt, INDEX, targets.subarray(1), P, 1, 0, inc, 1), 'RangeError', /^targets must have length 12/);
    throwsWith(() => raw.svdLogWeights(x, vt, INDEX, targets, P, 0, 0, inc, 1), 'RangeError', /^variance must be positive, got 0/);
    throwsWith(() => raw.svdLogWeights(x, vt, INDEX, targets, P, 1, NaN, inc, 1), 'RangeError', /constant/);
    throwsWith(() => raw.svdPin(x, vt, INDEX, targets.subarray(1), P, 1), 'RangeError', /^targets must hold index.length values per run/);
    throwsWith(() => raw.svdPin(x, vt, INDEX, targets, 0, 1), 'RangeError', /particles/);
    throwsWith(() => raw.svdPin(x, new Float64Array(0), INDEX, targets, P, 1), 'RangeError', /^vt must hold at least one row/);
    const shared = new Float32Array(ROWS * D + RUNS * n);
    throwsWith(() => raw.svdPin(shared.subarray(0, ROWS * D), vt, INDEX, shared.subarray(ROWS * D - 1, ROWS * D - 1 + RUNS * n), P, 1), 'RangeError', /must not share memory/);
  });
});
