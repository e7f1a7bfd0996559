// Sizes past what a typed array or the machine can hold are refused before anything is
// allocated, naming the arguments that set them (lib/sizes.ts); arrays on a
// SharedArrayBuffer are accepted wherever a typed array is. Nothing here allocates a large
// array: the limits are reached by the request's arithmetic or by a small memory budget.
import { describe, expect, test } from '@jest/globals';
import { runFeynmanKac, DriverProblem } from '../../lib/driver';
import { selectBackend } from '../../lib/backend';
import { schedules } from '../../lib/schedules';
import { GaussianMixture } from '../../lib/mixture';
import { smc, replacement } from '../../lib/samplers';
import { resample, gatherRows, gatherRowsAsync } from '../../lib/blocks';
import { bootstrapModel } from '../../lib/models/bootstrap';
import { requireSizes, allocating, MAX_TYPED_ARRAY_LENGTH } from '../../lib/sizes';

const mixture = () => GaussianMixture.fromJSON({ weights: [1], means: [[0, 0, 0, 0, 0, 0, 0, 0]], variances: [[1, 1, 1, 1, 1, 1, 1, 1]] });
const observed = { indices: [0], values: [0.5] };

describe('requests past a typed array', () => {
  test('smc with particles x samples x dimension past 2^32 names them', async () => {
    // 2^20 particles x 2^10 samples x 8 coordinates = 2^33 floats.
    await expect(smc({ score: mixture(), schedule: schedules.ou(), observed, particles: 2 ** 20, samples: 2 ** 10, steps: 2 }))
      .rejects.toThrow(/particles 1048576 x samples 1024 x dimension 8, 2 steps: the particles \(particles x samples x dimension\) would have 8589934592 elements \(32\.0 GiB\), more than a typed array can hold/);
  });

  test('replacement with samples x dimension past 2^32 names them', async () => {
    await expect(replacement({ score: mixture(), schedule: schedules.ou(), observed, samples: 2 ** 30, steps: 2 }))
      .rejects.toThrow(/samples 1073741824 x dimension 8.*more than a typed array can hold/);
  });

  test('the context path past 2^32 names steps, samples and observed coordinates', async () => {
    await expect(replacement({ score: mixture(), schedule: schedules.ou(), observed, samples: 2 ** 22, steps: 2 ** 10 }))
      .rejects.toThrow(/samples 4194304 x dimension 8, 1024 steps: the context path \(\(steps \+ 1\) x samples x observed coordinates\) would have 4299161600 elements.*more than a typed array can hold/);
  });

  test('sampleExact past 2^32 names n and the dimension', async () => {
    await expect(mixture().sampleExact(observed, 2 ** 30)).rejects.toThrow(/sampleExact \(n 1073741824 x dimension 8\).*more than a typed array can hold/);
  });

  test('the limit is the one this Node reports', () => {
    expect(MAX_TYPED_ARRAY_LENGTH).toBeGreaterThanOrEqual(2 ** 31 - 1);
    expect(() => requireSizes('here', [{ what: 'x', elements: MAX_TYPED_ARRAY_LENGTH, bytesPerElement: 1 }], Infinity)).not.toThrow();
    expect(() => requireSizes('here', [{ what: 'x', elements: MAX_TYPED_ARRAY_LENGTH + 1, bytesPerElement: 1 }], Infinity)).toThrow(RangeError);
  });
});

describe('requests past the memory budget', () => {
  function problem(over: Partial<DriverProblem>): DriverProblem {
    const s = schedules.ou();
    return {
      backend: selectBackend('cpu'), model: bootstrapModel({ kernel: 'euler', latent: Int32Array.from([1, 2, 3, 4, 5, 6, 7]), observed: Int32Array.from([0]), context: { kind: 'path', path: new Float32Array(9 * 4) }, finalNoise: false }),
      score: mixture(), schedule: s, grid: s.grid(8), dim: 8, runs: 4, particles: 1000, runOffset: 0, seed: 1, threads: 1, essThreshold: 1, scheme: 'systematic', ...over,
    };
  }

  test('a run that needs more than the machine has is refused with each array and its size', async () => {
    // 4000 rows x 8 floats: particles and score 125 KiB each, weights 3 x 4000 doubles, ancestors 4000 ints.
    await expect(runFeynmanKac(problem({ totalMemory: 100_000 })))
      .rejects.toThrow(/the run needs 3\d\d KiB of memory \(the particles \(particles x samples x dimension\) 125 KiB, the score buffer .* 125 KiB, the weights \(particles x samples\) 93\.8 KiB, the ancestors \(particles x samples\) 15\.6 KiB, the ESS trace \(steps x samples\) 288 B\), more than this machine's 97\.7 KiB/);
  });

  test('the same run within the budget runs', async () => {
    const r = await runFeynmanKac(problem({ totalMemory: 1_000_000 }));
    expect(r.logEvidence).toHaveLength(4);
  });

  test("V8's allocation failures are rewritten to name what was being allocated", () => {
    expect(() => allocating('here', 'the samples', 2 ** 40, () => { throw new RangeError('Array buffer allocation failed'); }))
      .toThrow(/here: cannot allocate 1\.00 TiB for the samples \(Array buffer allocation failed\)/);
    expect(() => allocating('here', 'x', 1, () => { throw new TypeError('other'); })).toThrow(TypeError);
  });
});

describe('typed arrays on a SharedArrayBuffer', () => {
  const shared = <T extends Float32Array | Float64Array | Int32Array>(make: (b: SharedArrayBuffer) => T, values: number[]): T => {
    const a = make(new SharedArrayBuffer(values.length * (make(new SharedArrayBuffer(8)).BYTES_PER_ELEMENT)));
    a.set(values);
    return a;
  };

  test('resample and gatherRows take them as inputs and outputs and give the same bytes', async () => {
    const logW = [0, -1, -2, -0.5, -3, -1.5];
    const rng = { seed: 3, run: 0, counter: 0 };
    const plain = resample(Float64Array.from(logW), 'systematic', rng);
    const out = shared((b) => new Int32Array(b), [0, 0, 0, 0, 0, 0]);
    resample(shared((b) => new Float64Array(b), logW), 'systematic', rng, out);
    expect(Array.from(out)).toEqual(Array.from(plain));

    const rows = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    const expected = gatherRows(Float32Array.from(rows), 2, plain);
    const target = shared((b) => new Float32Array(b), new Array(12).fill(0));
    gatherRows(shared((b) => new Float32Array(b), rows), 2, out, target);
    expect(Array.from(target)).toEqual(Array.from(expected));
    const target2 = shared((b) => new Float32Array(b), new Array(12).fill(0));
    await gatherRowsAsync(shared((b) => new Float32Array(b), rows), 2, out, target2);
    expect(Array.from(target2)).toEqual(Array.from(expected));
  });

  test('a score model writes into and reads from them', async () => {
    const m = mixture();
    const z = shared((b) => new Float32Array(b), [0.5, -1, 0, 2, 0, 0, 0, 1]);
    const plain = await m.score(Float32Array.from(z), 1, { t: 1, alpha: Math.exp(-1), sigma: Math.sqrt(1 - Math.exp(-2)), rows: 1, dim: 8, rowOffset: 0 });
    const sharedOut = await m.score(z, 1, { t: 1, alpha: Math.exp(-1), sigma: Math.sqrt(1 - Math.exp(-2)), rows: 1, dim: 8, rowOffset: 0 });
    expect(Array.from(sharedOut)).toEqual(Array.from(plain));
  });
});
