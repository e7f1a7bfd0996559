// Arrays and objects the addon holds while work is in flight (native/binding/job.h): a
// detached array passed in is refused by name, one detached while a call is in flight makes
// it reject naming it, and garbage collection while work is pending frees nothing in use.
import { describe, expect, test } from '@jest/globals';
import { resample, resampleAsync, gatherRows, gatherRowsAsync, gatherRowsInPlaceAsync, GaussianMixture, replacement, schedules } from '../../lib/index';
import { native } from '../../lib/native';
import { rejection, rejectsWith, throwsWith, expectError, detach, getGc } from '../support/errors';
import { mixtureSpec } from '../support/problems';

describe('detached buffers', () => {
  test('a detached array passed in is a TypeError naming it', async () => {
    const z = new Float32Array(8);
    const keep = detach(z.buffer);
    expect(z.length).toBe(0);
    throwsWith(() => native.kernelMean(z, new Float32Array(8), 1, 1, new Float32Array(8), 1), 'TypeError', /^z must be a Float32Array with a live buffer, got a detached one$/);
    const lw = new Float64Array(4);
    const keep2 = detach(lw.buffer);
    throwsWith(() => resample(lw, 'systematic', { seed: 0, counter: 0 }), 'TypeError', /^logWeights must be a Float64Array with a live buffer, got a detached one$/);
    const out = new Float32Array(4);
    const keep3 = detach(out.buffer);
    throwsWith(() => gatherRows(Float32Array.of(1, 2), 2, Int32Array.of(0, 0), out), 'TypeError', /^out must be a Float32Array with a live buffer, got a detached one$/);
    const gm = GaussianMixture.fromJSON(mixtureSpec());
    const zz = new Float32Array(6);
    const keep4 = detach(zz.buffer);
    await rejectsWith(gm.score(zz, 1, { t: 1, alpha: 0.5, sigma: 0.8, rows: 2, dim: 3 }), 'TypeError', /^z must be a Float32Array with a live buffer, got a detached one$/);
    expect([keep, keep2, keep3, keep4].every((b) => b.byteLength > 0)).toBe(true);
  });

  test('detached while kernelMean is in flight: rejects mentioning "detached", the moved data is untouched', async () => {
    const n = 1 << 22;
    const z = new Float32Array(n).fill(1), score = new Float32Array(n).fill(2), mu = new Float32Array(n).fill(-1);
    const pending = native.kernelMean(z, score, 1, 1, mu, 1);
    const moved = detach(mu.buffer); // synchronously, right after the call returned
    const err = await rejectsWith(pending, 'TypeError', /detached \(transferred\) while the call was in flight/);
    expect(err.message).toMatch(/detached/);
    // The call worked on its own copy: the memory that moved was never written.
    const m = new Float32Array(moved);
    expect(m[0]).toBe(-1);
    expect(m[n - 1]).toBe(-1);
  });

  test('the direct exports (the driver\'s) use arrays in place; the public ones write results when they settle', async () => {
    const n = 1 << 20;
    const z = new Float32Array(n).fill(1), score = new Float32Array(n).fill(2);
    const mu = new Float32Array(n), mu2 = new Float32Array(n);
    const direct = native.direct.kernelMean(z, score, 1, 1, mu, 1);
    const copied = native.kernelMean(z, score, 1, 1, mu2, 1);
    await Promise.all([direct, copied]);
    expect([mu[0], mu[n - 1], mu2[0], mu2[n - 1]]).toEqual([3, 3, 3, 3]);
    // A result is written only when the call succeeds: a failed call leaves `out` as it was.
    const out = new Int32Array(n).fill(-7);
    await rejectsWith(resampleAsync(new Float64Array(n).fill(-Infinity), 'systematic', { seed: 0, counter: 0 }, out), 'RangeError', /logWeights must contain a finite value/);
    expect(out[0]).toBe(-7);
  });

  test('detached while the mixture score, resampleAsync, gatherRowsAsync are in flight', async () => {
    const gm = new native.GaussianMixture(3, 2, Float64Array.of(1, 2), Float64Array.of(0, 0, 0, 1, 1, 1), Float64Array.of(1, 1, 1, 2, 2, 2), true);
    const z = new Float32Array(3 * 100000).fill(0.3), out = new Float32Array(z.length);
    const p1 = gm.score(z, 0.5, 0.75, out, 1);
    const keep1 = detach(z.buffer);
    const lw = new Float64Array(100000), anc = new Int32Array(100000);
    const p2 = resampleAsync(lw, 'stratified', { seed: 0, counter: 0 }, anc);
    const keep2 = detach(anc.buffer);
    // Large enough to run off the event loop (small work runs inline and cannot be detached mid-call).
    const rows = new Float32Array(4 * 100000).fill(1), ga = new Int32Array(100000), gout = new Float32Array(4 * 100000);
    const p3 = gatherRowsAsync(rows, 4, ga, gout);
    const keep3 = detach(ga.buffer);
    // Handlers on all three before any settles (no unhandled rejection).
    const errs = await Promise.all([p1, p2, p3].map(rejection));
    for (const err of errs) expectError(err, 'TypeError', /detached \(transferred\) while the call was in flight/);
    expect([keep1, keep2, keep3].every((b) => b.byteLength > 0)).toBe(true);
  });

  test('the in-flight detach error names the argument that was detached', async () => {
    const n = 1 << 16;
    const z = new Float32Array(n), score = new Float32Array(n), mu = new Float32Array(n);
    const pending = native.kernelMean(z, score, 1, 1, mu, 1);
    const keep = detach(mu.buffer);
    const err = await rejection(pending);
    expect(keep.byteLength).toBe(4 * n);
    expect(err.message).toMatch(/^mu /);
  });

  test('moveStep and forwardContextSegment: an array detached in flight is named, the moved data untouched', async () => {
    const runs = 4096, dim = 16, rows = runs;
    const batch = { runs, particles: 1, dim, runOffset: 0 };
    const latent = Int32Array.from({ length: dim - 1 }, (_, i) => i + 1), observed = Int32Array.of(0);
    const z = new Float32Array(rows * dim).fill(0.5), score = new Float32Array(rows * dim), mu = new Float32Array(rows * dim);
    const pending = native.moveStep(batch, latent, observed, z, score, 1, 0.1, mu, new Float32Array(runs), 0.2, { seed: 1, step: 1, purpose: native.purposes.kernelNoise }, 2);
    const keep = detach(z.buffer);
    expect(await rejection(pending)).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/^z was detached \(transferred\) while the call was in flight/) });
    expect(new Float32Array(keep).every((v) => v === 0.5)).toBe(true);
    const out = new Float32Array(8 * runs * 2);
    const segment = native.forwardContextSegment(new Float32Array(runs * 2), runs, 0, 0, new Float64Array(8).fill(0.9), new Float64Array(8).fill(0.19), { seed: 1, step: 0, purpose: native.purposes.contextPath }, out, 2);
    detach(out.buffer);
    expect(await rejection(segment)).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/^out was detached \(transferred\) while the call was in flight/) });
  });
});

// ---------------------------------------------------------------- transfer, then drop the clone

// An array transferred during an async call, whose new owner is then dropped and
// collected: its memory goes back to the allocator and is handed to the next arrays. A
// call still using it would corrupt them, or fault (it did, with arrays of 4 MB or more).
// Each round checks that the call rejects naming the array, and that arrays allocated
// after the collection keep exactly what was written into them.
const gcNow = getGc();
(gcNow ? describe : describe.skip)('transferred during the call, the new owner collected', () => {
  const rounds = 8;
  const n = 1 << 18; // rows and out of 4 MB: large enough to be mmapped (freed memory is unmapped or reused)
  const ancestors = Int32Array.from({ length: n }, (_, k) => (k * 7919) % n);

  async function round(start: (rows: Float32Array, out: Float32Array, lw: Float64Array, anc: Int32Array) => { pending: Promise<unknown>; moved: ArrayBufferLike[] }, name: RegExp) {
    const rows = new Float32Array(4 * n).fill(1.5), out = new Float32Array(4 * n).fill(-2), lw = new Float64Array(n), anc = new Int32Array(n);
    const { pending, moved } = start(rows, out, lw, anc);
    let clones: ArrayBuffer[] | null = moved.map((b) => detach(b));
    clones = null;
    void clones;
    gcNow!();
    const victims = Array.from({ length: 4 }, (_, k) => new Float32Array(4 * n).fill(k + 10));
    const err = await rejection(pending);
    expectError(err, 'TypeError', name);
    victims.forEach((v, k) => {
      let wrong = 0;
      for (let i = 0; i < v.length; i += 1021) if (v[i] !== k + 10) wrong++;
      expect(wrong).toBe(0);
    });
  }

  test('gatherRowsAsync: out transferred', async () => {
    for (let i = 0; i < rounds; i++) {
      await round((rows, out) => ({ pending: gatherRowsAsync(rows, 4, ancestors, out), moved: [out.buffer] }), /^out was detached \(transferred\) while the call was in flight/);
    }
  });

  test('gatherRowsAsync: rows (an input) transferred', async () => {
    for (let i = 0; i < rounds; i++) {
      await round((rows, out) => ({ pending: gatherRowsAsync(rows, 4, ancestors, out), moved: [rows.buffer] }), /^rows was detached \(transferred\)/);
    }
  });

  test('resampleAsync and gatherRowsInPlaceAsync: every array transferred', async () => {
    for (let i = 0; i < rounds; i++) {
      await round((_rows, _out, lw, anc) => ({ pending: resampleAsync(lw, 'multinomial', { seed: i, counter: 0 }, anc), moved: [lw.buffer, anc.buffer] }), /^logWeights was detached/);
      await round((rows) => ({ pending: gatherRowsInPlaceAsync(rows, 4, ancestors), moved: [rows.buffer] }), /^rows was detached/);
    }
  });
});

test('an array on a resizable ArrayBuffer shrunk during the call: rejects, nothing is written', async () => {
  const n = 1 << 20;
  const buffer = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(16 * n, { maxByteLength: 16 * n });
  const out = new Float32Array(buffer); // length-tracking
  const pending = gatherRowsAsync(new Float32Array(4 * n).fill(1), 4, new Int32Array(n), out);
  buffer.resize(8);
  await rejectsWith(pending, 'TypeError', /^out was resized while the call was in flight/);
  expect(Array.from(out)).toEqual([0, 0]);
});

type Resizable = ArrayBuffer & { resize(n: number): void };
const resizable = (bytes: number) => new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable)(bytes, { maxByteLength: bytes });

test('GaussianMixture.scoreInto takes a caller\'s arrays: out shrunk or z transferred in flight rejects naming it, the memory untouched', async () => {
  const gm = GaussianMixture.fromJSON(mixtureSpec());
  const rows = 200000, ctx = { t: 1, alpha: 0.5, sigma: 0.8, rows, dim: 3 };
  const buffer = resizable(12 * rows);
  const out = new Float32Array(buffer);
  const pending = gm.scoreInto(new Float32Array(3 * rows).fill(0.3), ctx, out, 2);
  buffer.resize(8);
  await rejectsWith(pending, 'TypeError', /^out was resized while the call was in flight/);
  expect(Array.from(out)).toEqual([0, 0]);
  const z = new Float32Array(3 * rows).fill(0.3);
  const pending2 = gm.scoreInto(z, ctx, new Float32Array(3 * rows), 2);
  const moved = new Float32Array(detach(z.buffer));
  await rejectsWith(pending2, 'TypeError', /^z was detached \(transferred\) while the call was in flight/);
  expect([moved[0], moved[moved.length - 1]]).toEqual([Math.fround(0.3), Math.fround(0.3)]);
});

test('a score callback\'s result is the caller\'s: shrinking or transferring its buffer after it returns leaves the run as it was', async () => {
  const dim = 3, spec = mixtureSpec(), gm = GaussianMixture.fromJSON(spec);
  const common = { dim, schedule: schedules.ou(), steps: 8, observed: { indices: [0], values: [0.5] }, samples: 60000, threads: 2, seed: 4 };
  const plain = await replacement({ ...common, score: (z: Float32Array, t: number, c) => gm.score(z, t, c) });
  for (const spoil of ['shrink', 'transfer'] as const) {
    const r = await replacement({
      ...common,
      score: async (z: Float32Array, t: number, c) => {
        const s = await gm.score(z, t, c);
        const buffer = resizable(s.byteLength);
        const result = new Float32Array(buffer);
        result.set(s);
        // After the callback has returned, while the step's native work runs.
        setImmediate(() => (spoil === 'shrink' ? buffer.resize(0) : detach(buffer)));
        return result;
      },
    });
    expect(Buffer.from(r.samples.buffer).equals(Buffer.from(plain.samples.buffer))).toBe(true);
  }
});

// ---------------------------------------------------------------- GC while work is pending

const gc = getGc();
(gc ? test : test.skip)('garbage collection while work is pending: the mixture and the inputs stay alive', async () => {
  const rows = 50000;
  const expected = new Float32Array(3 * rows);
  const make = () => new native.GaussianMixture(3, 2, Float64Array.of(1, 2), Float64Array.of(0, 0, 0, 1, 1, 1), Float64Array.of(1, 1, 1, 2, 2, 2), true);
  await make().score(new Float32Array(3 * rows).fill(0.3), 0.5, 0.75, expected, 2);

  const out = new Float32Array(3 * rows);
  // Neither the mixture wrapper nor z is referenced from JS after this returns.
  const pending = (() => make().score(new Float32Array(3 * rows).fill(0.3), 0.5, 0.75, out, 1))();
  const pending2 = (() => {
    const n = 1 << 20;
    return native.kernelMean(new Float32Array(n).fill(1), new Float32Array(n).fill(2), 1, 1, new Float32Array(n), 1);
  })();
  gc!();
  gc!();
  await expect(pending).resolves.toBe(-1); // no non-finite score
  await expect(pending2).resolves.toBe(-1); // every mean finite
  gc!();
  expect(out).toEqual(expected);
});
