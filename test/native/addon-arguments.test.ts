// The addon's own argument checks (native/binding), called directly with arguments its
// declared type forbids: types, missing arguments, numbers, lengths, batch fields, index
// sets and stream fields, out arrays that share memory with an input, and the runs whose
// weights are all -Infinity.
import { describe, expect, test } from '@jest/globals';
import { native } from '../../lib/native';
import type { BatchArgs } from '../../lib/native';
import { throwsWith, Loose } from '../support/errors';

const raw = native as unknown as Record<string, Loose>;

describe('addon arguments: types, missing arguments, lengths, batch fields', () => {
  const f32 = (n: number) => new Float32Array(n);

  test('a Float64Array where a Float32Array is expected (and other wrong types) is a TypeError naming the argument', async () => {
    throwsWith(() => raw.kernelMean(new Float64Array(4), f32(4), 1, 1, f32(4), 1), 'TypeError', /^z must be a Float32Array, got a Float64Array$/);
    throwsWith(() => raw.kernelMean(f32(4), Array.from(f32(4)), 1, 1, f32(4), 1), 'TypeError', /^score must be a Float32Array, got an Array$/);
    throwsWith(() => raw.kernelMean(f32(4), f32(4), 1, 1, new Int8Array(4), 1), 'TypeError', /^mu must be a Float32Array, got a typed array of another type$/);
    throwsWith(() => raw.kernelMean(f32(4), f32(4), 1, 1, new DataView(new ArrayBuffer(16)), 1), 'TypeError', /^mu must be a Float32Array, got an object$/);
    throwsWith(() => raw.resample(new Float32Array(3), 0, { seed: 0, run: 0, step: 0, purpose: 0 }, new Int32Array(3), 1), 'TypeError', /^logWeights must be a Float64Array, got a Float32Array$/);
    throwsWith(() => raw.gatherRows(f32(4), 2, new Uint32Array(2), f32(4), 1), 'TypeError', /^ancestors must be an? Int32Array, got a Uint32Array$/);
    throwsWith(() => raw.philox4x32(new Int32Array(4), new Uint32Array(2), 10), 'TypeError', /^counter must be a Uint32Array, got an Int32Array$/);
    throwsWith(() => new (native.GaussianMixture as unknown as new (...a: unknown[]) => unknown)(1, 1, [1], new Float64Array(1), new Float64Array(1), true), 'TypeError', /^weights must be a Float64Array, got an Array$/);
    throwsWith(() => new (native.GaussianMixture as unknown as new (...a: unknown[]) => unknown)(1, 1, new Float64Array(1), new Float64Array(1), new Float64Array(1), 1), 'TypeError', /^diagonal must be a boolean, got 1$/);
  });

  test('smcStep (the fused filter step): every argument checked before any work, arrays that must not overlap', async () => {
    // 2 runs x 3 particles x D = 2, coordinate 1 observed.
    const batch = { runs: 2, particles: 3, dim: 2, runOffset: 0 };
    const stream = { seed: 1, run: 0, step: 1, purpose: native.purposes.resampling };
    const args = () => [
      batch, Int32Array.of(0), Int32Array.of(1), f32(12), f32(12), 1, 0.5, f32(12), f32(2), 0.3,
      new Float64Array(6), new Float64Array(6), 1, new Float64Array(2), new Float64Array(2), new Uint8Array(2), 0, stream,
      new Float64Array(6), new Int32Array(6), 0.1, stream, 1,
    ] as unknown[];
    const call = (edit: (a: unknown[]) => void) => {
      const a = args();
      edit(a);
      return () => (raw.smcStep as (...x: unknown[]) => unknown)(...a);
    };
    throwsWith(call((a) => (a[3] = new Float64Array(12))), 'TypeError', /^z must be a Float32Array, got a Float64Array$/);
    throwsWith(call((a) => (a[4] = f32(11))), 'RangeError', /^score must have length 12 \(runs x particles x dim\), got 11$/);
    throwsWith(call((a) => (a[9] = 0)), 'RangeError', /^variance must be positive, got 0$/);
    throwsWith(call((a) => (a[12] = 1.5)), 'RangeError', /^essThreshold must be in \[0, 1\], got 1\.5$/);
    throwsWith(call((a) => (a[16] = 9)), 'RangeError', /^scheme/);
    throwsWith(call((a) => (a[20] = -1)), 'RangeError', /^noiseScale must be >= 0, got -1$/);
    throwsWith(call((a) => (a[22] = 0)), 'RangeError', /^threads must be an integer in \[1, 1024\], got 0$/);
    throwsWith(call((a) => (a[2] = Int32Array.of(0))), 'RangeError', /latent|observed/);
    throwsWith(call((a) => (a[7] = a[3])), 'RangeError', /^mu must not share memory with z, but they overlap$/);
    throwsWith(call((a) => (a[11] = a[10])), 'RangeError', /^logWeights must not share memory with increment, but they overlap$/);
    throwsWith(call((a) => (a[19] = new Int32Array((a[18] as Float64Array).buffer, 0, 6))), 'RangeError', /^scratch must not share memory with ancestors, but they overlap$/);
    // mu may be the score buffer itself (the kernel mean in place), as for kernelMean.
    const ok = args();
    ok[7] = ok[4];
    await expect((raw.smcStep as (...x: unknown[]) => Promise<unknown>)(...ok)).resolves.toEqual({ status: 'ok', index: -1 });
    // With a mixture the step scores z itself: the model, its level, and score = mu are checked.
    const gm = (d: number) => new (native.GaussianMixture as unknown as new (...a: unknown[]) => unknown)(d, 1, Float64Array.of(1), new Float64Array(d), new Float64Array(d).fill(1), true);
    const scored = (edit: (a: unknown[]) => void) => call((a) => {
      a[7] = a[4];
      a.push(gm(2), 0.5, 0.75);
      edit(a);
    });
    throwsWith(scored((a) => (a[23] = {})), 'TypeError', /^mixture must be a GaussianMixture, got an object$/);
    throwsWith(scored((a) => (a[23] = gm(3))), 'RangeError', /^mixture must have the batch's dimension 2, got 3$/);
    throwsWith(scored((a) => (a[24] = 0)), 'RangeError', /^alpha must be positive, got 0$/);
    throwsWith(scored((a) => (a[25] = -1)), 'RangeError', /^sigma2 must be >= 0, got -1$/);
    throwsWith(scored((a) => (a[25] = undefined)), 'TypeError', /^sigma2 must be a number, got undefined$/);
    throwsWith(scored((a) => (a[7] = f32(12))), 'RangeError', /^score must be mu itself when the step scores with a mixture$/);
    const withMixture = args();
    withMixture[7] = withMixture[4];
    withMixture.push(gm(2), 0.5, 0.75);
    await expect((raw.smcStep as (...x: unknown[]) => Promise<unknown>)(...withMixture)).resolves.toEqual({ status: 'ok', index: -1 });
  });

  test('moveStep (replacement\'s fused step): every argument checked before any work, arrays that must not overlap', async () => {
    // 2 runs x 3 particles x D = 2, coordinate 1 observed.
    const batch = { runs: 2, particles: 3, dim: 2, runOffset: 0 };
    const stream = { seed: 1, run: 0, step: 1, purpose: native.purposes.kernelNoise };
    const args = () => [batch, Int32Array.of(0), Int32Array.of(1), f32(12), f32(12), 1, 0.5, f32(12), f32(2), 0.1, stream, 1] as unknown[];
    const call = (edit: (a: unknown[]) => void) => {
      const a = args();
      edit(a);
      return () => (raw.moveStep as (...x: unknown[]) => unknown)(...a);
    };
    throwsWith(call((a) => (a[3] = new Float64Array(12))), 'TypeError', /^z must be a Float32Array, got a Float64Array$/);
    throwsWith(call((a) => (a[4] = f32(11))), 'RangeError', /^score must have length 12 \(runs x particles x dim\), got 11$/);
    throwsWith(call((a) => (a[5] = NaN)), 'RangeError', /^a must be finite, got NaN$/);
    throwsWith(call((a) => (a[7] = f32(13))), 'RangeError', /^mu must have length 12 \(runs x particles x dim\), got 13$/);
    throwsWith(call((a) => (a[8] = f32(3))), 'RangeError', /^yPerRun must have length 2/);
    throwsWith(call((a) => (a[9] = -1)), 'RangeError', /^noiseScale must be >= 0, got -1$/);
    throwsWith(call((a) => (a[10] = 5)), 'TypeError', /^stream must be an object/);
    throwsWith(call((a) => (a[11] = 0)), 'RangeError', /^threads must be an integer in \[1, 1024\], got 0$/);
    throwsWith(call((a) => (a[2] = Int32Array.of(0))), 'RangeError', /latent|observed/);
    throwsWith(call((a) => (a[7] = a[3])), 'RangeError', /^mu must not share memory with z, but they overlap$/);
    throwsWith(call((a) => (a[4] = a[3])), 'RangeError', /^z must not share memory with score, but they overlap$/);
    throwsWith(call((a) => (a[8] = new Float32Array((a[7] as Float32Array).buffer, 0, 2))), 'RangeError', /^mu must not share memory with yPerRun, but they overlap$/);
    // mu may be the score buffer itself, as for kernelMean.
    const ok = args();
    ok[7] = ok[4];
    await expect((raw.moveStep as (...x: unknown[]) => Promise<unknown>)(...ok)).resolves.toEqual({ status: 'ok', index: -1 });
    // With a mixture the step scores z itself: the model, its level, and score = mu are checked.
    const gm = (d: number) => new (native.GaussianMixture as unknown as new (...a: unknown[]) => unknown)(d, 1, Float64Array.of(1), new Float64Array(d), new Float64Array(d).fill(1), true);
    const scored = (edit: (a: unknown[]) => void) => call((a) => {
      a[7] = a[4];
      a.push(gm(2), 0.5, 0.75);
      edit(a);
    });
    throwsWith(scored((a) => (a[12] = {})), 'TypeError', /^mixture must be a GaussianMixture, got an object$/);
    throwsWith(scored((a) => (a[12] = gm(3))), 'RangeError', /^mixture must have the batch's dimension 2, got 3$/);
    throwsWith(scored((a) => (a[13] = 0)), 'RangeError', /^alpha must be positive, got 0$/);
    throwsWith(scored((a) => (a[14] = -1)), 'RangeError', /^sigma2 must be >= 0, got -1$/);
    throwsWith(scored((a) => (a[7] = f32(12))), 'RangeError', /^score must be mu itself when the step scores with a mixture$/);
    const withMixture = args();
    withMixture[7] = withMixture[4];
    withMixture.push(gm(2), 0.5, 0.75);
    await expect((raw.moveStep as (...x: unknown[]) => Promise<unknown>)(...withMixture)).resolves.toEqual({ status: 'ok', index: -1 });
  });

  test('missing arguments', () => {
    throwsWith(() => raw.kernelMean(), 'TypeError', /^z must be a Float32Array, got undefined$/);
    throwsWith(() => raw.kernelMean(f32(4), f32(4)), 'TypeError', /^a must be a number, got undefined$/);
    throwsWith(() => raw.kernelMean(f32(4), f32(4), 1, 1, f32(4)), 'TypeError', /^threads must be an integer, got undefined$/);
    throwsWith(() => raw.reweight(), 'TypeError', /^batch must be an object, got undefined$/);
    throwsWith(() => raw.firstNonFinite(f32(2)), 'TypeError', /^threads must be an integer, got undefined$/);
  });

  test('numbers: non-finite, out of range, non-integer', () => {
    throwsWith(() => raw.kernelMean(f32(4), f32(4), NaN, 1, f32(4), 1), 'RangeError', /^a must be finite, got NaN$/);
    throwsWith(() => raw.kernelMean(f32(4), f32(4), 1, -Infinity, f32(4), 1), 'RangeError', /^b must be finite, got -Infinity$/);
    throwsWith(() => raw.kernelMean(f32(4), f32(4), 1, 1, f32(4), 0), 'RangeError', /^threads must be an integer in \[1, 1024\], got 0$/);
    throwsWith(() => raw.kernelMean(f32(4), f32(4), 1, 1, f32(4), 1.5), 'RangeError', /^threads must be an integer in \[1, 1024\], got 1\.5$/);
    throwsWith(() => raw.kernelMean(f32(4), f32(4), '1', 1, f32(4), 1), 'TypeError', /^a must be a number, got a string$/);
    throwsWith(() => raw.resample(new Float64Array(2), 9, { seed: 0, run: 0, step: 0, purpose: 0 }, new Int32Array(2), 1), 'RangeError', /^scheme must be an integer in \[0, 3\], got 9$/);
  });

  test('lengths must match', () => {
    throwsWith(() => raw.kernelMean(f32(4), f32(3), 1, 1, f32(4), 1), 'RangeError', /^score must have length 4 \(same as z\), got 3$/);
    throwsWith(() => raw.kernelMean(f32(4), f32(4), 1, 1, f32(5), 1), 'RangeError', /^mu must have length 4 \(same as z\), got 5$/);
    throwsWith(() => raw.philox4x32(new Uint32Array(3), new Uint32Array(2), 10), 'RangeError', /^counter must have length 4 \(four counter words\), got 3$/);
    throwsWith(() => new (native.GaussianMixture as unknown as new (...a: unknown[]) => unknown)(2, 1, new Float64Array(1), new Float64Array(1), new Float64Array(2), true), 'RangeError', /^means must have length 2 \(components x dim\), got 1$/);
  });

  test('batch fields are validated by name', () => {
    const ok = () => [new Float64Array(4), new Float64Array(4), 1, new Float64Array(1), new Float64Array(1), new Uint8Array(1), 1];
    const b = { runs: 1, particles: 4, dim: 2, runOffset: 0 };
    throwsWith(() => raw.reweight(null, ...ok()), 'TypeError', /^batch must be an object, got null$/);
    throwsWith(() => raw.reweight([1, 4, 2, 0], ...ok()), 'TypeError', /^batch must be an object, got an Array$/);
    throwsWith(() => raw.reweight({ ...b, runs: 0 }, ...ok()), 'RangeError', /^batch\.runs must be an integer in \[1, 2147483647\], got 0$/);
    throwsWith(() => raw.reweight({ ...b, particles: 1.5 }, ...ok()), 'RangeError', /^batch\.particles must be an integer in \[1, 2147483647\], got 1\.5$/);
    throwsWith(() => raw.reweight({ runs: 1, particles: 4, runOffset: 0 }, ...ok()), 'TypeError', /^batch\.dim must be an integer, got undefined$/);
    throwsWith(() => raw.reweight({ ...b, runOffset: -1 }, ...ok()), 'RangeError', /^batch\.runOffset must be an integer in \[0, 4294967295\], got -1$/);
    throwsWith(() => raw.reweight({ ...b, runOffset: 4294967295, runs: 2 }, new Float64Array(8), new Float64Array(8), 1, new Float64Array(2), new Float64Array(2), new Uint8Array(2), 1), 'RangeError', /^batch\.runOffset \+ batch\.runs must be at most 2\^32/);
    throwsWith(() => raw.reweight({ ...b, particles: 2 }, ...ok()), 'RangeError', /^logWeights must have length 2 \(runs x particles\), got 4$/);
    throwsWith(() => raw.reweight(b, new Float64Array(4), new Float64Array(4), 2, new Float64Array(1), new Float64Array(1), new Uint8Array(1), 1), 'RangeError', /^essThreshold must be in \[0, 1\], got 2/);
  });

  test('indices: out of range, repeated, not a partition; stream fields', () => {
    const b = { runs: 1, particles: 2, dim: 3, runOffset: 0 };
    const s = { seed: 0, step: 0, purpose: 0 };
    const args = (lat: number[], obs: number[]) => [b, Int32Array.from(lat), Int32Array.from(obs), f32(6), null, 0, f32(obs.length), s, f32(6), 1];
    throwsWith(() => raw.propagate(...args([0, 1], [5])), 'RangeError', /^observed\[0\] must be in \[0, 3\), got 5$/);
    throwsWith(() => raw.propagate(...args([0, 1], [-1])), 'RangeError', /^observed\[0\] must be in \[0, 3\), got -1$/);
    throwsWith(() => raw.propagate(...args([0, 0], [2])), 'RangeError', /^latent must not repeat an index, got 0 twice$/);
    throwsWith(() => raw.propagate(...args([0], [2])), 'RangeError', /^latent and observed must together cover all 3 coordinates, got 1 \+ 1$/);
    throwsWith(() => raw.propagate(...args([0, 1], [1])), 'RangeError', /^observed index 1 also appears in latent$/);
    const withAnc = [b, Int32Array.of(0, 1), Int32Array.of(2), f32(6), Int32Array.of(0, 2), 0, f32(1), s, f32(6), 1];
    throwsWith(() => raw.propagate(...withAnc), 'RangeError', /^ancestors\[1\] must be in \[0, 2\), got 2$/);
    throwsWith(() => raw.propagate(b, Int32Array.of(0, 1), Int32Array.of(2), f32(6), null, -1, f32(1), s, f32(6), 1), 'RangeError', /^noiseScale must be >= 0/);
    throwsWith(() => raw.propagate(b, Int32Array.of(0, 1), Int32Array.of(2), f32(6), null, 0, f32(1), { ...s, seed: -1 }, f32(6), 1), 'RangeError', /^stream\.seed must be an integer in \[0, 9007199254740991\], got -1$/);
    throwsWith(() => raw.propagate(b, Int32Array.of(0, 1), Int32Array.of(2), f32(6), null, 0, f32(1), { seed: 0, purpose: 0 }, f32(6), 1), 'TypeError', /^stream\.step must be an integer, got undefined$/);
    throwsWith(() => raw.gaussianYLogWeights(b, Int32Array.of(1, 1), f32(6), f32(2), 1, new Float64Array(2), 1), 'RangeError', /^observed must not repeat an index, got 1 twice$/);
    throwsWith(() => raw.gaussianYLogWeights(b, Int32Array.of(1), f32(6), f32(1), 0, new Float64Array(2), 1), 'RangeError', /^variance must be positive/);
  });
});

describe('all log-weights -Infinity', () => {
  test('native reweight reports the first run whose weights are all -Infinity', async () => {
    const batch: BatchArgs = { runs: 3, particles: 4, dim: 2, runOffset: 0 };
    const lw = new Float64Array(12).fill(-Math.log(4));
    const inc = new Float64Array(12);
    inc.fill(-Infinity, 4, 8); // run 1
    inc.fill(-Infinity, 8, 12); // run 2
    const failed = await native.reweight(batch, lw, inc, 1, new Float64Array(3), new Float64Array(3), new Uint8Array(3), 1);
    expect(failed).toBe(1);
    const out = new Int32Array(3);
    expect(native.chooseByWeight(batch, new Float64Array(12).fill(-Infinity), { seed: 0, step: 0, purpose: 0 }, out)).toEqual({ status: 'weights-degenerate', index: 0 });
  });
});

describe('aliasing: an out array sharing memory with an input', () => {
  test('kernelMean: mu equal to z, overlapping z, overlapping score -> RangeError; mu untouched', () => {
    const buf = new Float32Array(16).map((_, i) => i + 1);
    const before = Array.from(buf);
    const score = new Float32Array(8).fill(1);
    throwsWith(() => native.kernelMean(buf.subarray(0, 8), score, 1, 1, buf.subarray(0, 8), 1), 'RangeError', /^mu must not share memory with z, but they overlap$/);
    throwsWith(() => native.kernelMean(buf.subarray(0, 8), score, 1, 1, buf.subarray(4, 12), 1), 'RangeError', /^mu must not share memory with z, but they overlap$/);
    throwsWith(() => native.kernelMean(buf.subarray(8, 16), score, 1, 1, buf.subarray(1, 9), 1), 'RangeError', /^mu must not share memory with z, but they overlap$/);
    throwsWith(() => native.kernelMean(new Float32Array(8), buf.subarray(0, 8), 1, 1, buf.subarray(7, 15), 1), 'RangeError', /^mu must not share memory with score, but they overlap$/);
    expect(Array.from(buf)).toEqual(before);
  });

  test('kernelMean: adjacent non-overlapping views of one buffer are accepted and respect byteOffset', async () => {
    // z at byte offset 4 (not 0), mu right after it, score = z (two inputs may alias).
    const ab = new ArrayBuffer(4 * 17);
    const z = new Float32Array(ab, 4, 8).map((_, i) => i + 1);
    const mu = new Float32Array(ab, 4 + 32, 8).fill(-7);
    const head = new Float32Array(ab, 0, 1);
    head[0] = 42;
    await native.kernelMean(z, z, 2, 0.5, mu, 2);
    expect(Array.from(mu)).toEqual(Array.from(z, (x) => 2 * x + 0.5 * x));
    expect(head[0]).toBe(42);
    expect(Array.from(z)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test('mixture score: out aliasing z', async () => {
    const gm = new native.GaussianMixture(1, 1, Float64Array.of(1), Float64Array.of(0), Float64Array.of(1), true);
    const z = new Float32Array(4);
    throwsWith(() => gm.score(z, 0.5, 0.75, z, 1), 'RangeError', /^out must not share memory with z, but they overlap$/);
  });

  // Every (output, input) pair is checked; these two were once missed.
  test('predictionToScore: out overlapping prediction is a RangeError', () => {
    const buf = new Float32Array(12);
    const z = new Float32Array(8);
    throwsWith(() => native.predictionToScore(z, buf.subarray(0, 8), 1, 1, 1, buf.subarray(4, 12), 1), 'RangeError', /^out must not share memory with prediction/);
  });

  test('reweight: resampleFlags overlapping logWeights is a RangeError', () => {
    const ab = new ArrayBuffer(8 * 4);
    const lw = new Float64Array(ab);
    const flags = new Uint8Array(ab, 0, 1);
    throwsWith(
      () => native.reweight({ runs: 1, particles: 4, dim: 1, runOffset: 0 }, lw, new Float64Array(4), 1, new Float64Array(1), new Float64Array(1), flags, 1),
      'RangeError',
      /must not share memory with (logWeights|resampleFlags)/,
    );
  });
});
