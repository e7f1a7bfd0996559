// The SVD filter's rotations (native/core/subspace.h, docs/MATH.md §9.1): projections onto
// pinned right singular vectors, the Gaussian log weight of those projections against the
// pinned path, and the pin that sets them; and the path term of its evidence correction
// (native/core/path_correction.h). Checked against float64 loops written here, for
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

  // The path term, written here run by run in the formula's order (the order the native sum
  // keeps, so the same bits): Σ_i [log N(Y_{S,i}; 0, 1) − Σ_{k > k0_i} log N(Y_{k,i}; α_k Y_{k−1,i}, σ²_k)].
  function pathTerm(path: Float32Array, starts: Int32Array, alpha: Float64Array, sigma2: Float64Array, runs: number): Float64Array {
    const S = alpha.length - 1, r = starts.length, stride = runs * r;
    const logN = (x: number, m: number, v: number) => -0.5 * (Math.log(2 * Math.PI * v) + ((x - m) * (x - m)) / v);
    return Float64Array.from({ length: runs }, (_, q) => {
      let c = 0;
      for (let i = 0; i < r; i++) {
        if (starts[i] > S) continue;
        c += logN(path[S * stride + q * r + i], 0, 1);
        for (let k = starts[i] + 1; k <= S; k++) c -= logN(path[k * stride + q * r + i], alpha[k] * path[(k - 1) * stride + q * r + i], sigma2[k]);
      }
      return c;
    });
  }
  function pathProblem(S: number, runs: number, r: number, seed: number) {
    const u = uniform(seed);
    const alpha = Float64Array.from({ length: S + 1 }, (_, k) => (k === 0 ? 0 : 0.5 + 0.5 * u()));
    const sigma2 = Float64Array.from({ length: S + 1 }, (_, k) => (k === 0 ? 0 : 0.05 + u()));
    const log2piSigma2 = sigma2.map((v, k) => (k === 0 ? 0 : Math.log(2 * Math.PI * v)));
    // Every start: 0, inside the grid, S (only the T term) and S + 1 (never pinned).
    const starts = Int32Array.from({ length: r }, (_, i) => [0, Math.floor(S / 2), S, S + 1][i % 4]);
    const path = Float32Array.from({ length: (S + 1) * runs * r }, () => 4 * (u() - 0.5));
    return { alpha, sigma2, log2piSigma2, starts, path };
  }

  test('svdPathCorrection: the path term of every run, the bits of the same sum in TypeScript, on 1 and 2 threads', async () => {
    // 150 runs: past one pass of 64 runs, and not a multiple of it.
    for (const [S, runs, r, seed] of [[1, 1, 1, 1], [12, 150, 7, 2], [40, 64, 4, 3], [5, 3, 9, 4]]) {
      const { alpha, sigma2, log2piSigma2, starts, path } = pathProblem(S, runs, r, seed);
      const expected = pathTerm(path, starts, alpha, sigma2, runs);
      for (const threads of [1, 2]) {
        const out = new Float64Array(runs).fill(NaN);
        await native.svdPathCorrection(path, starts, alpha, sigma2, log2piSigma2, Math.log(2 * Math.PI), out, threads);
        expect(bytes(out).equals(bytes(expected))).toBe(true);
      }
    }
    // No direction: zero for every run.
    const out = new Float64Array(3).fill(NaN);
    await native.svdPathCorrection(new Float32Array(0), new Int32Array(0), new Float64Array(5), new Float64Array(5).fill(1), new Float64Array(5), 1.8, out, 1);
    expect(Array.from(out)).toEqual([0, 0, 0]);
  });

  test('svdPathCorrection: bad arguments are errors naming the argument, before any work', () => {
    const { alpha, sigma2, log2piSigma2, starts, path } = pathProblem(6, 5, 4, 9);
    const out = new Float64Array(5);
    const call = (over: Partial<Record<'path' | 'starts' | 'alpha' | 'sigma2' | 'log2piSigma2' | 'log2pi' | 'out', unknown>>) => () =>
      raw.svdPathCorrection(over.path ?? path, over.starts ?? starts, over.alpha ?? alpha, over.sigma2 ?? sigma2, over.log2piSigma2 ?? log2piSigma2, over.log2pi ?? 1.8, over.out ?? out, 1);
    throwsWith(call({ path: new Float64Array(path.length) }), 'TypeError', /^path must be a Float32Array, got a Float64Array$/);
    throwsWith(call({ path: path.subarray(1) }), 'RangeError', /^path must hold \(S \+ 1\) x runs x rank = 7 x 5 x 4 values, got 139$/);
    throwsWith(call({ alpha: new Float64Array(0) }), 'RangeError', /^alpha must hold S \+ 1 values/);
    throwsWith(call({ sigma2: sigma2.subarray(1) }), 'RangeError', /^sigma2 must have length 7/);
    throwsWith(call({ log2piSigma2: log2piSigma2.subarray(1) }), 'RangeError', /^log2piSigma2 must have length 7/);
    throwsWith(call({ starts: Int32Array.of(0, 8, 0, 0) }), 'RangeError', /^starts\[1\] must be in \[0, 8\), got 8$/);
    throwsWith(call({ starts: Int32Array.of(0, -1, 0, 0) }), 'RangeError', /^starts\[1\] must be in \[0, 8\), got -1$/);
    throwsWith(call({ sigma2: sigma2.map((v, k) => (k === 3 ? 0 : v)) }), 'RangeError', /^sigma2\[3\] must be positive and finite, got 0/);
    throwsWith(call({ alpha: alpha.map((v, k) => (k === 2 ? NaN : v)) }), 'RangeError', /^alpha\[2\] must be finite/);
    throwsWith(call({ log2piSigma2: log2piSigma2.map((v, k) => (k === 6 ? Infinity : v)) }), 'RangeError', /^log2piSigma2\[6\] must be finite/);
    throwsWith(call({ log2pi: NaN }), 'RangeError', /^log2pi must be finite/);
    const tables = new Float64Array(7 * 3);
    throwsWith(call({ alpha: tables.subarray(0, 7).fill(1), sigma2: tables.subarray(7, 14).fill(1), log2piSigma2: tables.subarray(14), out: tables.subarray(16, 21) }), 'RangeError', /^out must not share memory with log2piSigma2/);
    const shared = new ArrayBuffer(path.byteLength + 64);
    const onPath = new Float32Array(shared, 0, path.length).fill(0.5);
    throwsWith(call({ path: onPath, out: new Float64Array(shared, 8, 5) }), 'RangeError', /^out must not share memory with path/);
  });
});
