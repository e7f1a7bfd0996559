// The forward context path kept in part (lib/context-path.ts, native forwardContextSegment):
// every slice must be the whole path's slice, byte for byte, whatever the order the steps ask
// for them in, and replacement must draw the same samples with either path.
import { describe, expect, jest, test } from '@jest/globals';
import { CheckpointedContextPath } from '../../lib/context-path';
import { GaussianMixture } from '../../lib/mixture';
import { native } from '../../lib/native';
import { contextPathPolicy, replacement, ReplacementOptions } from '../../lib/samplers';
import { schedules } from '../../lib/schedules';
import { throwsWith } from '../support/errors';

const bytes = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const stream = { seed: 3, step: 0, purpose: native.purposes.contextPath };

function transitions(steps: number): { alphaTs: Float64Array; sigma2Ts: Float64Array } {
  const alphaTs = Float64Array.from({ length: steps }, (_, i) => 0.9 + 0.09 * Math.sin(i));
  return { alphaTs, sigma2Ts: alphaTs.map((a) => 1 - a * a) };
}

async function wholePath(y0: Float32Array, runs: number, runOffset: number, steps: number, threads = 2): Promise<Float32Array> {
  const { alphaTs, sigma2Ts } = transitions(steps);
  const path = new Float32Array((steps + 1) * runs * y0.length);
  await native.forwardContextPath(y0, runs, runOffset, alphaTs, sigma2Ts, stream, path, threads);
  return path;
}

describe('forwardContextSegment', () => {
  test('segments from any slice continue the whole path bit for bit (runs in lanes and with run keys, 1 and 2 threads)', async () => {
    const runs = 37, dY = 3, steps = 12, y0 = Float32Array.of(0.5, -1, 2);
    const path = await wholePath(y0, runs, 9, steps);
    const { alphaTs, sigma2Ts } = transitions(steps);
    const L = runs * dY;
    for (const threads of [1, 2]) {
      for (const [first, count] of [[0, 12], [0, 1], [4, 3], [11, 1], [5, 7]]) {
        const out = new Float32Array(count * L);
        await native.forwardContextSegment(path.slice(first * L, (first + 1) * L), runs, 9, first, alphaTs, sigma2Ts, stream, out, threads);
        expect(bytes(out).equals(bytes(path.subarray((first + 1) * L, (first + 1 + count) * L)))).toBe(true);
      }
    }
    // Run keys equal to (seed, runOffset + r) draw what the run words do.
    const keys = new Uint32Array(3 * runs);
    for (let r = 0; r < runs; r++) keys.set([3, 0, 9 + r], 3 * r);
    const out = new Float32Array(5 * L);
    await native.forwardContextSegment(path.slice(2 * L, 3 * L), runs, 0, 2, alphaTs, sigma2Ts, stream, out, 2, keys);
    expect(bytes(out).equals(bytes(path.subarray(3 * L, 8 * L)))).toBe(true);
  });

  test('its arguments are checked before any work', () => {
    const { alphaTs, sigma2Ts } = transitions(4);
    const call = (edit: (a: unknown[]) => void) => () => {
      const a: unknown[] = [new Float32Array(6), 3, 0, 1, alphaTs, sigma2Ts, stream, new Float32Array(12), 1];
      edit(a);
      return (native.forwardContextSegment as (...x: unknown[]) => unknown)(...a);
    };
    throwsWith(call((a) => (a[0] = new Float32Array(7))), 'RangeError', /^start must hold runs x observed values \(a positive multiple of runs = 3\), got 7$/);
    throwsWith(call((a) => (a[3] = 4)), 'RangeError', /^first must be an integer in \[0, 3\], got 4$/);
    throwsWith(call((a) => (a[7] = new Float32Array(10))), 'RangeError', /^out must hold whole slices of runs x observed = 6 values, got 10$/);
    throwsWith(call((a) => (a[7] = new Float32Array(24))), 'RangeError', /^out must hold at most steps - first = 3 slices \(first 1, 4 steps\), got 4$/);
    throwsWith(call((a) => (a[4] = new Float64Array(0))), 'RangeError', /^alphaTs must hold at least one step, got none$/);
    throwsWith(call((a) => (a[5] = Float64Array.of(0.1, -1, 0.1, 0.1))), 'RangeError', /^alphaTs\/sigma2Ts\[1\] must be finite with sigma2 >= 0$/);
    throwsWith(call((a) => (a[7] = a[0])), 'RangeError', /overlap/);
  });
});

describe('CheckpointedContextPath', () => {
  test('walking back draws each stretch again once, except the last, which the first pass left in place', async () => {
    const steps = 17, runs = 5, y0 = Float32Array.of(1, 0.5);
    const { alphaTs, sigma2Ts } = transitions(steps);
    const kept = await CheckpointedContextPath.create({ y0, runs, runOffset: 0, alphaTs, sigma2Ts, stream, threads: 1 });
    const path = await wholePath(y0, runs, 0, steps, 1);
    const spy = jest.spyOn(native.direct, 'forwardContextSegment');
    try {
      const L = runs * 2;
      for (let i = steps; i >= 0; i--) expect(bytes(await kept.at(i)).equals(bytes(path.subarray(i * L, (i + 1) * L)))).toBe(true);
      // Stride 5: stretches from grid indices 0, 5, 10 and 15; the last (slice 16) is not drawn again.
      expect(spy.mock.calls.map((c) => c[3])).toEqual([10, 5, 0]);
    } finally {
      spy.mockRestore();
    }
  });

  test.each([0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 50])('S = %i: every slice is the whole path\'s, walked back as the steps do, with RePaint\'s look at i, and out of order', async (steps) => {
    const runs = 21, y0 = Float32Array.of(0.25, -0.75), L = runs * 2;
    const path = await wholePath(y0, runs, 4, steps);
    const { alphaTs, sigma2Ts } = transitions(steps);
    const kept = await CheckpointedContextPath.create({ y0, runs, runOffset: 4, alphaTs, sigma2Ts, stream, threads: 2 });
    const same = (a: Float32Array, i: number) => bytes(a).equals(bytes(path.subarray(i * L, (i + 1) * L)));
    expect(same(await kept.at(steps), steps)).toBe(true);
    for (let i = steps; i >= 1; i--) {
      const y = await kept.at(i); // RePaint's context at t, then the move's at s
      const before = await kept.at(i - 1);
      expect(same(y, i) && same(before, i - 1)).toBe(true);
    }
    for (const i of [0, steps, Math.floor(steps / 2), 1, steps - 1].filter((i) => i >= 0 && i <= steps)) expect(same(await kept.at(i), i)).toBe(true);
    await expect(kept.at(steps + 1)).rejects.toThrow(new RangeError(`the grid index must be an integer in [0, ${steps}], got ${steps + 1}`));
    // Memory: what it holds is what the size check counted before allocating, and at most
    // ⌈S / K⌉ + 1 + K slices, K = ⌈√(S + 1)⌉.
    const K = Math.ceil(Math.sqrt(steps + 1));
    expect(kept.heldFloats).toBe(CheckpointedContextPath.floats(steps, L));
    expect(kept.heldFloats).toBeLessThanOrEqual((Math.ceil(steps / K) + 1 + K) * L);
  });
});

test("the README's figure: 64000 samples x 20 observed coordinates x 70 steps hold 92 MB instead of the whole path's 364 MB", () => {
  const slice = 64000 * 20;
  expect(Math.round((CheckpointedContextPath.floats(70, slice) * 4) / 1e6)).toBe(92);
  expect(Math.round((71 * slice * 4) / 1e6)).toBe(364);
});

describe('replacement with the context path kept in part', () => {
  test('the same samples as with the whole path (correctors, 1 and 2 threads, a run offset)', async () => {
    const gm = GaussianMixture.fromJSON({ weights: [1, 2], means: [[1, 0, -1, 0.5], [-1, 1, 0, 0]], variances: [[1, 0.5, 1, 1], [0.7, 1, 1, 0.4]] });
    const base: ReplacementOptions = { score: gm, schedule: schedules.ou({ T: 3 }), observed: { indices: [1, 3], values: [0.2, -0.4] }, steps: 23, samples: 300, seed: 8, firstRun: 17 };
    for (const extra of [{ threads: 2 }, { threads: 1 }, { corrector: { kind: 'repaint' as const, jumps: 2 } }, { corrector: { kind: 'langevin' as const, steps: 1, snr: 0.1 } }]) {
      const options = { ...base, ...extra };
      const whole = await replacement(options);
      const saved = contextPathPolicy.checkpointAboveBytes;
      contextPathPolicy.checkpointAboveBytes = 0;
      let kept;
      try {
        kept = await replacement(options);
      } finally {
        contextPathPolicy.checkpointAboveBytes = saved;
      }
      expect(bytes(kept.samples).equals(bytes(whole.samples))).toBe(true);
    }
  });
});
