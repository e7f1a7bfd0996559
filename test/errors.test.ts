// Error handling (the "clear error, process survives, nothing half-written" requirement):
// every bad input gets "<name> must be <expected>, got <received>" (or a message naming
// the argument and, for score problems, the step), as a TypeError / RangeError /
// AbortError. Addon errors come from another realm, so errors are compared by `name`
// and message, never with instanceof / toThrow(TypeError).
import { describe, expect, test } from '@jest/globals';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import {
  replacement,
  smc,
  schedules,
  GaussianMixture,
  fromPrediction,
  resample,
  resampleAsync,
  gatherRows,
  gatherRowsAsync,
} from '../lib/index';
import type { ReplacementOptions, SmcOptions, ScoreFunction, ScoreContext } from '../lib/index';
import { native } from '../lib/native';
import type { BatchArgs } from '../lib/native';

// ---------------------------------------------------------------- helpers

type ErrorName = 'TypeError' | 'RangeError' | 'Error' | 'AbortError';

function caught(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the call to throw, but it returned normally');
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

function expectError(err: Error, name: ErrorName, message: RegExp): void {
  expect({ name: err.name, message: err.message }).toEqual({ name, message: expect.stringMatching(message) });
}

function throwsWith(f: () => unknown, name: ErrorName, message: RegExp): Error {
  const err = caught(f);
  expectError(err, name, message);
  return err;
}

async function rejectsWith(p: Promise<unknown>, name: ErrorName, message: RegExp): Promise<Error> {
  const err = await rejection(p);
  expectError(err, name, message);
  return err;
}

/** Calls an addon function with arguments its declared type forbids. */
type Loose = (...args: unknown[]) => unknown;
const raw = native as unknown as Record<string, Loose>;

function detach(buffer: ArrayBufferLike): ArrayBuffer {
  // Transfers the backing store to a new owner: the old views become detached (length 0).
  return structuredClone(buffer as ArrayBuffer, { transfer: [buffer as ArrayBuffer] });
}

function getGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    const f = vm.runInNewContext('gc') as unknown;
    return typeof f === 'function' ? (f as () => void) : undefined;
  } catch {
    return undefined;
  }
}

const D = 3;
const ou = schedules.ou();
const zeroScore: ScoreFunction = (z) => new Float32Array(z.length);
/** The exact score of N(0, I) under OU (alpha^2 + sigma^2 = 1): s = -z. */
const gaussScore: ScoreFunction = (z) => z.map((x) => -x);

function replOptions(over: Record<string, unknown> = {}): ReplacementOptions {
  return {
    score: gaussScore,
    dim: D,
    schedule: ou,
    steps: 4,
    samples: 2,
    observed: { indices: [0], values: [0.5] },
    seed: 1,
    threads: 2,
    ...over,
  } as unknown as ReplacementOptions;
}
function smcOptions(over: Record<string, unknown> = {}): SmcOptions {
  return {
    score: gaussScore,
    dim: D,
    schedule: ou,
    steps: 4,
    samples: 2,
    particles: 4,
    observed: { indices: [0], values: [0.5] },
    seed: 1,
    threads: 2,
    ...over,
  } as unknown as SmcOptions;
}

const samplers = [
  ['replacement', (over: Record<string, unknown> = {}) => replacement(replOptions(over))],
  ['smc', (over: Record<string, unknown> = {}) => smc(smcOptions(over))],
] as const;

const mixtureSpec = () => ({
  weights: [0.3, 0.7],
  means: [
    [-1, 0, 1],
    [1, 0.5, -1],
  ],
  covariances: [
    [
      [1, 0.2, 0],
      [0.2, 1, 0.1],
      [0, 0.1, 0.5],
    ],
    [
      [0.5, 0, 0],
      [0, 0.5, 0],
      [0, 0, 0.5],
    ],
  ],
});

// ---------------------------------------------------------------- sampler options

describe.each(samplers)('%s: option validation', (_name, run) => {
  test.each([
    [0, 'RangeError', /^steps must be a positive integer \(at most 1000000\), got 0$/],
    [1.5, 'RangeError', /^steps must be a positive integer .*got 1\.5$/],
    [-1, 'RangeError', /^steps must be a positive integer .*got -1$/],
    [NaN, 'RangeError', /^steps must be a positive integer .*got NaN$/],
    [Infinity, 'RangeError', /^steps must be a positive integer .*got Infinity$/],
    ['10', 'TypeError', /^steps must be a positive integer, got "10"$/],
    [undefined, 'TypeError', /^steps must be a positive integer, got undefined$/],
  ] as const)('steps %p', async (steps, name, message) => {
    await rejectsWith(run({ steps }), name, message);
  });

  test.each([
    [0, 'RangeError', /^samples must be a positive integer .*got 0$/],
    [2.5, 'RangeError', /^samples must be a positive integer .*got 2\.5$/],
    [-3, 'RangeError', /^samples must be a positive integer .*got -3$/],
    ['2', 'TypeError', /^samples must be a positive integer, got "2"$/],
  ] as const)('samples %p', async (samples, name, message) => {
    await rejectsWith(run({ samples }), name, message);
  });

  test.each([
    ['out of range', { indices: [5], values: [0] }, 'RangeError', /^observed\.indices\[0\] must be an integer in \[0, 3\), got 5$/],
    ['negative', { indices: [1, -1], values: [0, 0] }, 'RangeError', /^observed\.indices\[1\] must be an integer in \[0, 3\), got -1$/],
    ['non-integer', { indices: [0.5], values: [0] }, 'RangeError', /^observed\.indices\[0\] must be an integer in \[0, 3\), got 0\.5$/],
    ['not a number', { indices: ['0'], values: [0] }, 'RangeError', /^observed\.indices\[0\] must be an integer in \[0, 3\), got "0"$/],
    ['repeated', { indices: [1, 1], values: [0, 0] }, 'RangeError', /^observed\.indices must be distinct, got index 1 twice$/],
    ['values too short', { indices: [0, 1], values: [0] }, 'RangeError', /^observed\.values must have one value per index \(2\), got 1$/],
    ['values too long', { indices: [0], values: [0, 1] }, 'RangeError', /^observed\.values must have one value per index \(1\), got 2$/],
    ['value NaN', { indices: [0, 2], values: [0, NaN] }, 'RangeError', /^observed\.values\[1\] must be a finite float32 number, got NaN$/],
    ['value Infinity', { indices: [0], values: [Infinity] }, 'RangeError', /^observed\.values\[0\] must be a finite float32 number, got Infinity$/],
    ['value -Infinity', { indices: [0], values: [-Infinity] }, 'RangeError', /^observed\.values\[0\] must be a finite float32 number, got -Infinity$/],
    ['all observed', { indices: [0, 1, 2], values: [0, 0, 0] }, 'RangeError', /^observed\.indices must be fewer than D = 3 indices .*got an Array of length 3$/],
    ['indices missing', { values: [0] }, 'TypeError', /^observed\.indices must be an array of integers, got undefined$/],
    ['values missing', { indices: [0] }, 'TypeError', /^observed\.values must be an array of numbers, got undefined$/],
    ['not an object', 7, 'TypeError', /^observed must be an object \{ indices, values \}, got 7$/],
  ] as const)('observed: %s', async (_label, observed, name, message) => {
    await rejectsWith(run({ observed }), name, message);
  });

  test('dim option vs the model dim, and a missing dim', async () => {
    const gm = GaussianMixture.fromJSON(mixtureSpec());
    await rejectsWith(run({ score: gm, dim: 2 }), 'RangeError', /^dim must be the score model's dim 3, got 2$/);
    await rejectsWith(run({ dim: undefined }), 'TypeError', /^dim must be given when the score model does not declare one, got undefined$/);
    await rejectsWith(run({ dim: 0 }), 'RangeError', /^dim must be a positive integer .*got 0$/);
    await rejectsWith(run({ dim: '3' }), 'TypeError', /^dim must be a positive integer, got "3"$/);
  });

  test.each([
    [42, /got 42$/],
    [null, /got null$/],
    [{}, /got an object$/],
    [{ score: 'not a function' }, /got an object$/],
    [undefined, /got undefined$/],
  ] as const)('score %p is rejected', async (score, got) => {
    const err = await rejectsWith(run({ score }), 'TypeError', /^score must be a score function or an object with a score\(z, t, context\) method, /);
    expect(err.message).toMatch(got);
  });

  test('unknown parameterization, unknown kernel, euler with a discrete schedule, bad schedule', async () => {
    await rejectsWith(
      run({ score: { dim: D, parameterization: 'logits', score: zeroScore }, dim: undefined }),
      'RangeError',
      /^score\.parameterization must be one of 'score', 'epsilon', 'x0', got "logits"$/,
    );
    await rejectsWith(run({ kernel: 'heun' }), 'RangeError', /^kernel must be one of 'euler', 'ddpm', got "heun"$/);
    await rejectsWith(run({ kernel: 3 }), 'TypeError', /^kernel must be one of 'euler', 'ddpm', got 3$/);
    await rejectsWith(
      run({ schedule: schedules.ddpm(), kernel: 'euler' }),
      'RangeError',
      /^kernel must be 'ddpm' for the discrete 'ddpm' schedule, got 'euler'$/,
    );
    await rejectsWith(run({ schedule: schedules.ddpm({ K: 10 }), steps: 11 }), 'RangeError', /^steps must be at most the schedule's K = 10, got 11$/);
    await rejectsWith(run({ schedule: {} }), 'TypeError', /^schedule must be a schedule .*got an object$/);
  });

  test.each([
    ['seed', -1, 'RangeError', /^seed must be a non-negative integer .*got -1$/],
    ['seed', 1.5, 'RangeError', /^seed must be a non-negative integer .*got 1\.5$/],
    ['seed', '7', 'TypeError', /^seed must be a non-negative integer, got "7"$/],
    ['threads', 0, 'RangeError', /^threads must be a positive integer \(at most 1024\), got 0$/],
    ['threads', 2.5, 'RangeError', /^threads must be a positive integer .*got 2\.5$/],
    ['threads', 5000, 'RangeError', /^threads must be a positive integer \(at most 1024\), got 5000$/],
    ['finalNoise', 'yes', 'TypeError', /^finalNoise must be a boolean, got "yes"$/],
    ['onStep', 5, 'TypeError', /^onStep must be a function, got 5$/],
    ['signal', { aborted: true }, 'TypeError', /^signal must be an AbortSignal, got an object$/],
  ] as const)('%s = %p', async (key, value, name, message) => {
    await rejectsWith(run({ [key]: value }), name, message);
  });

  test('options not an object', async () => {
    const f = _name === 'smc' ? (smc as unknown as Loose) : (replacement as unknown as Loose);
    await rejectsWith(f(null) as Promise<unknown>, 'TypeError', /^options must be an object, got null$/);
  });
});

describe('smc: filter-specific options', () => {
  test.each([
    ['particles', 0, 'RangeError', /^particles must be a positive integer .*got 0$/],
    ['particles', 3.5, 'RangeError', /^particles must be a positive integer .*got 3\.5$/],
    ['particles', undefined, 'TypeError', /^particles must be a positive integer, got undefined$/],
    ['resampling', 'bogus', 'RangeError', /^resampling must be one of 'systematic', 'stratified', 'multinomial', 'residual', got "bogus"$/],
    ['essThreshold', 1.5, 'RangeError', /^essThreshold must be a number in \[0, 1\], got 1\.5$/],
    ['essThreshold', -0.1, 'RangeError', /^essThreshold must be a number in \[0, 1\], got -0\.1$/],
    ['essThreshold', NaN, 'RangeError', /^essThreshold must be a finite number, got NaN$/],
    ['context', 'fixed', 'RangeError', /^context must be 'forward' for smc.*got 'fixed'$/],
    ['context', 'sideways', 'RangeError', /^context must be one of 'fixed', 'forward', got "sideways"$/],
    ['corrector', { kind: 'langevin', steps: 1 }, 'TypeError', /^corrector is not supported by smc/],
    ['output', 'some', 'RangeError', /^output must be one of 'one', 'all', got "some"$/],
  ] as const)('%s = %p', async (key, value, name, message) => {
    await rejectsWith(smc(smcOptions({ [key]: value })), name, message);
  });

  test('particles * samples beyond 2^31 - 1', async () => {
    await rejectsWith(smc(smcOptions({ particles: 2 ** 20, samples: 2 ** 12 })), 'RangeError', /^particles \* samples must be at most 2\^31 - 1, got 4294967296$/);
  });
});

describe('replacement: corrector options', () => {
  test.each([
    ['not an object', 'langevin', 'TypeError', /^corrector must be an object .*got "langevin"$/],
    ['unknown kind', { kind: 'heun' }, 'RangeError', /^corrector\.kind must be one of 'langevin', 'repaint', got "heun"$/],
    ['negative steps', { kind: 'langevin', steps: -1 }, 'RangeError', /^corrector\.steps must be a non-negative integer .*got -1$/],
    ['gamma and snr', { kind: 'langevin', steps: 1, gamma: 0.1, snr: 0.16 }, 'TypeError', /^corrector must give gamma or snr, not both$/],
    ['gamma 0', { kind: 'langevin', steps: 1, gamma: 0 }, 'RangeError', /^corrector\.gamma must be a positive number, got 0$/],
    ['snr NaN', { kind: 'langevin', steps: 1, snr: NaN }, 'RangeError', /^corrector\.snr must be a finite number, got NaN$/],
    ['jumps 1.5', { kind: 'repaint', jumps: 1.5 }, 'RangeError', /^corrector\.jumps must be a non-negative integer .*got 1\.5$/],
  ] as const)('%s', async (_label, corrector, name, message) => {
    await rejectsWith(replacement(replOptions({ corrector })), name, message);
  });
});

// ---------------------------------------------------------------- score callbacks

/** A score that misbehaves on its `at`-th call (1-based), otherwise the N(0, I) score. */
function scoreFailingAt(at: number, bad: (z: Float32Array) => unknown): ScoreFunction {
  let calls = 0;
  return ((z: Float32Array, t: number, c: ScoreContext) => {
    calls++;
    return calls === at ? bad(z) : gaussScore(z, t, c);
  }) as ScoreFunction;
}

describe.each(samplers)('%s: score callback failures name the step', (_name, run) => {
  const rows = _name === 'smc' ? 8 : 2;

  test('wrong length: says rows x D and the step', async () => {
    const err = await rejectsWith(
      run({ score: scoreFailingAt(2, (z) => new Float32Array(z.length - 1)) }),
      'RangeError',
      new RegExp(`^the score model must return ${rows} x 3 = ${rows * 3} values at step 2 of 4 \\(t = [0-9.]+\\), got ${rows * 3 - 1}$`),
    );
    expect(err.message).toContain('step 2 of 4');
  });

  test.each([
    ['a plain Array', (z: Float32Array) => Array.from(z), /got an Array$/],
    ['a Float64Array', (z: Float32Array) => new Float64Array(z.length), /got a Float64Array$/],
    ['undefined', () => undefined, /got undefined$/],
    ['a number', () => 0, /got number$/],
  ] as const)('returns %s', async (_label, bad, got) => {
    const err = await rejectsWith(
      run({ score: scoreFailingAt(1, bad) }),
      'TypeError',
      /^the score model must return a Float32Array at step 1 of 4 \(t = 5\), got /,
    );
    expect(err.message).toMatch(got);
  });

  test('throws: the step and the original message, original error as cause', async () => {
    const original = new Error('model exploded');
    const err = await rejectsWith(
      run({
        score: scoreFailingAt(3, () => {
          throw original;
        }),
      }),
      'Error',
      /^the score model failed at step 3 of 4 \(t = [0-9.]+\): model exploded$/,
    );
    expect((err as Error & { cause?: unknown }).cause).toBe(original);
  });

  test('throws a non-Error value', async () => {
    const err = await rejectsWith(
      run({
        score: scoreFailingAt(1, () => {
          throw 'plain string';
        }),
      }),
      'Error',
      /^the score model failed at step 1 of 4 \(t = 5\): plain string$/,
    );
    expect((err as Error & { cause?: unknown }).cause).toBe('plain string');
  });

  test('rejects asynchronously', async () => {
    const original = new TypeError('network down');
    let calls = 0;
    const score = async (z: Float32Array) => {
      calls++;
      await new Promise((r) => setTimeout(r, 1));
      if (calls === 2) throw original;
      return new Float32Array(z.length);
    };
    const err = await rejectsWith(run({ score }), 'Error', /^the score model failed at step 2 of 4 \(t = [0-9.]+\): network down$/);
    expect((err as Error & { cause?: unknown }).cause).toBe(original);
  });

  test.each([
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [-Infinity, '-Infinity'],
  ])('returns %p at step 3', async (value, shown) => {
    const score = scoreFailingAt(3, (z) => {
      const o = new Float32Array(z.length);
      o[1 * D + 2] = value; // row 1, coordinate 2
      return o;
    });
    await rejectsWith(
      run({ score }),
      'RangeError',
      new RegExp(`^the score must be finite at step 3 of 4 \\(t = [0-9.]+\\), got ${shown} at row 1, coordinate 2$`),
    );
  });

  test('the native mixture checks its own output: a NaN row at step 3 is named by step, row and coordinate', async () => {
    // The mixture's score reports its first non-finite value itself (no separate pass);
    // a NaN in row 1 of the state makes every coordinate of score row 1 NaN.
    const gm = GaussianMixture.fromJSON(mixtureSpec());
    let calls = 0;
    const poisoned = Object.create(gm) as GaussianMixture;
    poisoned.scoreInto = (z: Float32Array, context: ScoreContext, out: Float32Array, threads: number) => {
      calls++;
      if (calls !== 3) return gm.scoreInto(z, context, out, threads);
      const bad = z.slice();
      bad[1 * D + 2] = NaN;
      return gm.scoreInto(bad, context, out, threads);
    };
    await rejectsWith(run({ score: poisoned }), 'RangeError', /^the score must be finite at step 3 of 4 \(t = [0-9.]+\), got NaN at row 1, coordinate 0$/);
  });

  test('a value that is finite in float64 but not in float32 is caught too', async () => {
    // Array-free: the callback can only return Float32Array, so 1e39 is already Infinity.
    const score = scoreFailingAt(1, (z) => new Float32Array(z.length).fill(1e39));
    await rejectsWith(run({ score }), 'RangeError', /^the score must be finite at step 1 of 4 \(t = 5\), got Infinity at row 0, coordinate 0$/);
  });

  test('epsilon and x0 parameterizations are accepted and give finite samples', async () => {
    const eps = { parameterization: 'epsilon' as const, dim: D, score: (z: Float32Array) => z.map((x) => x * 0.5) };
    const x0 = { parameterization: 'x0' as const, dim: D, score: (z: Float32Array) => new Float32Array(z.length) };
    for (const score of [eps, x0, fromPrediction((z) => new Float32Array(z.length), 'epsilon', D)]) {
      const r = await run({ score, dim: undefined });
      expect(r.samples.every(Number.isFinite)).toBe(true);
      expect(r.shape).toEqual([2, D]);
    }
    // A bad prediction still names the step.
    const badEps = { parameterization: 'epsilon' as const, dim: D, score: scoreFailingAt(2, (z) => new Float32Array(z.length).fill(NaN)) };
    await rejectsWith(run({ score: badEps, dim: undefined }), 'RangeError', /^the score must be finite at step 2 of 4 /);
    const shortX0 = { parameterization: 'x0' as const, dim: D, score: () => new Float32Array(1) };
    await rejectsWith(run({ score: shortX0, dim: undefined }), 'RangeError', /^the score model must return .* values at step 1 of 4 /);
  });

  test('a score that returns its input (aliasing z) is copied, not corrupted', async () => {
    // s(z) = z for one call vs an identical fresh copy: same samples.
    const aliasing = await run({ score: (z: Float32Array) => z, seed: 3 });
    const copying = await run({ score: (z: Float32Array) => z.slice(), seed: 3 });
    expect(Array.from(aliasing.samples)).toEqual(Array.from(copying.samples));
  });
});

describe('fromPrediction and Langevin corrector steps', () => {
  test('fromPrediction validates its arguments', () => {
    throwsWith(() => fromPrediction('f' as unknown as ScoreFunction, 'epsilon'), 'TypeError', /^predict must be a function, got "f"$/);
    throwsWith(() => fromPrediction(zeroScore, 'v' as unknown as 'epsilon'), 'RangeError', /^parameterization must be one of 'score', 'epsilon', 'x0', got "v"$/);
  });

  test('a non-finite score inside the Langevin corrector names the corrector step', async () => {
    // Calls: step 1 (1), Langevin (2, 3), step 2 (4), Langevin (5 = bad).
    const score = scoreFailingAt(5, (z) => new Float32Array(z.length).fill(NaN));
    await rejectsWith(
      replacement(replOptions({ score, corrector: { kind: 'langevin', steps: 2, gamma: 0.1 } })),
      'RangeError',
      /^the score must be finite at step 2 of 4 \(t = [0-9.]+\), Langevin step 1, got NaN/,
    );
  });
});

// ---------------------------------------------------------------- all log-weights -Infinity

describe('all log-weights -Infinity is an error naming the step, never a uniform draw', () => {
  test('a huge (finite) score that overflows the kernel mean is named before any weight is formed', async () => {
    // OU, 3 steps of h = 5/3: mu = (1 + h) z + 2h s overflows float32 for s = 3e38. With
    // finite float32 means and observations every Gaussian log-weight is finite in float64,
    // so the overflow is the only way a sampler could meet all -Infinity weights.
    const huge = () => scoreFailingAt(2, (z) => new Float32Array(z.length).fill(3e38));
    const message = /^the kernel mean must be finite at step 2 of 3 \(t = [0-9.]+\), got -?Infinity at row \d+/;
    await rejectsWith(smc(smcOptions({ steps: 3, score: huge() })), 'RangeError', message);
    await rejectsWith(replacement(replOptions({ steps: 3, score: huge() })), 'RangeError', message);
  });

  test('resample: all -Infinity / all NaN / empty; out is left untouched', async () => {
    const out = new Int32Array(4).fill(-7);
    for (const lw of [new Float64Array(4).fill(-Infinity), new Float64Array(4).fill(NaN), Float64Array.of(-Infinity, NaN, -Infinity, NaN)]) {
      throwsWith(() => resample(lw, 'systematic', { seed: 1, counter: 0 }, out), 'RangeError', /^logWeights must contain a finite value/);
      await rejectsWith(resampleAsync(lw, 'multinomial', { seed: 1, counter: 0 }, out), 'RangeError', /^logWeights must contain a finite value/);
    }
    expect(Array.from(out)).toEqual([-7, -7, -7, -7]);
    throwsWith(() => resample(new Float64Array(0), 'systematic', { seed: 1, counter: 0 }), 'RangeError', /^logWeights must have at least one element, got 0$/);
  });

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

// ---------------------------------------------------------------- GaussianMixture.fromJSON

describe('GaussianMixture.fromJSON', () => {
  const cases: [string, unknown, ErrorName, RegExp][] = [
    ['not an object', null, 'TypeError', /^model must be an object with weights, means and covariances or variances, got null$/],
    ['an array', [1], 'TypeError', /^model must be an object .*got an Array of length 1$/],
    ['a JSON string', '{"weights":[1]}', 'TypeError', /^model must be an object .*got "/],
    ['missing weights', { means: [[0]], variances: [[1]] }, 'TypeError', /^weights must be an array of numbers, got undefined$/],
    ['empty weights', { weights: [], means: [], variances: [] }, 'RangeError', /^weights must be a non-empty array, got an Array of length 0$/],
    ['missing means', { weights: [1], variances: [[1]] }, 'TypeError', /^means must be an array of arrays, got undefined$/],
    ['missing covariances and variances', { weights: [1], means: [[0, 0]] }, 'TypeError', /^model must have exactly one of "covariances" or "variances", got neither$/],
    ['both covariances and variances', { weights: [1], means: [[0]], variances: [[1]], covariances: [[[1]]] }, 'TypeError', /got both$/],
    ['means not nested', { weights: [0.5, 0.5], means: [0, 1], variances: [[1], [1]] }, 'TypeError', /^means\[0\] must be an array of numbers, got 0$/],
    ['one mean too few', { weights: [0.5, 0.5], means: [[0, 1]], variances: [[1, 1]] }, 'RangeError', /^means must be an array of 2 means \(one per weight\), got an Array of length 1$/],
    ['ragged means', { weights: [0.5, 0.5], means: [[0, 1], [0, 1, 2]], variances: [[1, 1], [1, 1]] }, 'RangeError', /^means\[1\] must be an array of length 2, got an Array of length 3$/],
    ['empty mean', { weights: [1], means: [[]], variances: [[]] }, 'RangeError', /^means\[0\] must be a non-empty array, got an Array of length 0$/],
    ['covariance missing a level', { weights: [1], means: [[0, 0]], covariances: [[1, 0], [0, 1]] }, 'TypeError', /^covariances must be an array of 1 matrices, got an Array of length 2$/],
    ['covariance row not an array', { weights: [0.5, 0.5], means: [[0, 0], [1, 1]], covariances: [[1, 0], [0, 1]] }, 'TypeError', /^covariances\[0\]\[0\] must be an array of numbers, got 1$/],
    ['covariance wrong size', { weights: [1], means: [[0, 0]], covariances: [[[1]]] }, 'TypeError', /^covariances\[0\] must be a 2 x 2 matrix, got an Array of length 1$/],
    ['variances wrong count', { weights: [1], means: [[0, 0]], variances: [[1, 1], [1, 1]] }, 'TypeError', /^variances must be an array of 1 arrays, got an Array of length 2$/],
    ['variance row wrong length', { weights: [1], means: [[0, 0]], variances: [[1]] }, 'RangeError', /^variances\[0\] must be an array of length 2, got an Array of length 1$/],
    ['weight a string', { weights: ['1'], means: [[0]], variances: [[1]] }, 'TypeError', /^weights\[0\] must be a finite number, got "1"$/],
    ['weight NaN', { weights: [NaN], means: [[0]], variances: [[1]] }, 'TypeError', /^weights\[0\] must be a finite number, got NaN$/],
    ['mean null', { weights: [1], means: [[0, null]], variances: [[1, 1]] }, 'TypeError', /^means\[0\]\[1\] must be a finite number, got null$/],
    ['mean Infinity', { weights: [1], means: [[Infinity]], variances: [[1]] }, 'TypeError', /^means\[0\]\[0\] must be a finite number, got Infinity$/],
    ['covariance NaN', { weights: [1], means: [[0, 0]], covariances: [[[1, NaN], [NaN, 1]]] }, 'TypeError', /^covariances\[0\]\[0\]\[1\] must be a finite number, got NaN$/],
    ['negative weight', { weights: [-0.5, 1], means: [[0], [1]], variances: [[1], [1]] }, 'RangeError', /^weights\[0\] must be a positive finite number, got -0\.5/],
    ['zero weight', { weights: [1, 0], means: [[0], [1]], variances: [[1], [1]] }, 'RangeError', /^weights\[1\] must be a positive finite number, got 0/],
    ['not symmetric', { weights: [1], means: [[0, 0]], covariances: [[[1, 0.5], [0, 1]]] }, 'RangeError', /^covariances\[0\] must be symmetric, got entry \[0\]\[1\] = 0\.5 but \[1\]\[0\] = 0$/],
    ['not positive definite', { weights: [1], means: [[0, 0]], covariances: [[[1, 2], [2, 1]]] }, 'RangeError', /^covariances\[0\] must be positive definite, got smallest eigenvalue -(1|0\.99999999999999\d*)$/],
    ['singular', { weights: [0.5, 0.5], means: [[0, 0], [0, 0]], covariances: [[[1, 0], [0, 1]], [[1, 1], [1, 1]]] }, 'RangeError', /^covariances\[1\] must be positive definite/],
    ['zero variance', { weights: [1], means: [[0, 0]], variances: [[1, 0]] }, 'RangeError', /^variances\[0\]\[1\] must be positive and finite .*got 0/],
    ['negative variance', { weights: [1], means: [[0, 0]], variances: [[-1, 1]] }, 'RangeError', /^variances\[0\]\[0\] must be positive and finite .*got -1/],
  ];
  test.each(cases)('%s', (_label, spec, name, message) => {
    const before = JSON.stringify(spec);
    throwsWith(() => GaussianMixture.fromJSON(spec), name, message);
    expect(JSON.stringify(spec)).toBe(before); // the input is never written to
  });

  test('a valid spec still loads, and its methods validate their arguments', async () => {
    const gm = GaussianMixture.fromJSON(JSON.parse(JSON.stringify(mixtureSpec())));
    expect(gm.dim).toBe(3);
    expect(gm.components).toBe(2);
    throwsWith(() => gm.posterior({ indices: [3], values: [0] }), 'RangeError', /^observed\.indices\[0\] must be an integer in \[0, 3\), got 3$/);
    await rejectsWith(gm.sampleExact({ indices: [0], values: [0] }, 0), 'RangeError', /^n must be a positive integer .*got 0$/);
    await rejectsWith(gm.sampleExact({ indices: [0], values: [0] }, 4, { seed: -2 }), 'RangeError', /^seed must be a non-negative integer .*got -2$/);
    // The score at t = 0 is undefined (sigma = 0): the addon says so.
    await rejectsWith(
      gm.score(new Float32Array(3), 0, { t: 0, alpha: 1, sigma: 0, rows: 1, dim: 3 }),
      'RangeError',
      /^sigma2 must be positive \(the score at t = 0 is not defined\), got 0$/,
    );
    await rejectsWith(
      gm.score(new Float32Array(4), 1, { t: 1, alpha: 0.5, sigma: 0.8, rows: 1, dim: 3 }),
      'RangeError',
      /^z must have a length divisible by the mixture's dim 3, got 4$/,
    );
  });
});

// ---------------------------------------------------------------- binding: types, lengths, batch

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
});

// ---------------------------------------------------------------- aliasing and byteOffset

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

// ---------------------------------------------------------------- detached buffers

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

  test('detached while kernelMean is in flight: rejects mentioning "detached", the moved data is intact', async () => {
    const n = 1 << 22;
    const z = new Float32Array(n).fill(1), score = new Float32Array(n).fill(2), mu = new Float32Array(n);
    const pending = native.kernelMean(z, score, 1, 1, mu, 1);
    const moved = detach(mu.buffer); // synchronously, right after the call returned
    const err = await rejectsWith(pending, 'TypeError', /detached \(transferred\) while the call was in flight/);
    expect(err.message).toMatch(/detached/);
    // The worker wrote into the moved backing store, which we kept alive.
    const m = new Float32Array(moved);
    expect(m[0]).toBe(3);
    expect(m[n - 1]).toBe(3);
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

  test('a score callback that detaches the state it was given: the run rejects, naming z', async () => {
    const kept: ArrayBuffer[] = [];
    const score = (z: Float32Array) => {
      const out = new Float32Array(z.length);
      kept.push(detach(z.buffer));
      return out;
    };
    await rejectsWith(replacement(replOptions({ score })), 'TypeError', /^z must be a Float32Array with a live buffer, got a detached one$/);
    await rejectsWith(smc(smcOptions({ score })), 'TypeError', /detached/);
    expect(kept.length).toBe(2);
  });
});

// ---------------------------------------------------------------- AbortSignal

describe.each(samplers)('%s: AbortSignal', (_name, run) => {
  test('aborting mid-run (from onStep) rejects with an AbortError and stops stepping', async () => {
    const c = new AbortController();
    const seen: number[] = [];
    let scoreCalls = 0;
    const score: ScoreFunction = (z, t, ctx) => {
      scoreCalls++;
      return gaussScore(z, t, ctx);
    };
    const err = await rejection(
      run({
        steps: 6,
        score,
        signal: c.signal,
        onStep: (info: { step: number }) => {
          seen.push(info.step);
          if (info.step === 2) c.abort();
        },
      }),
    );
    expect(err.name).toBe('AbortError');
    expect(err.message).toMatch(/aborted/);
    expect(seen).toEqual([1, 2]);
    expect(scoreCalls).toBe(2);
  });

  test('aborting from inside the score callback, with a reason', async () => {
    const c = new AbortController();
    const reason = new Error('user cancelled');
    reason.name = 'AbortError';
    const score = scoreFailingAt(1, (z) => {
      c.abort(reason);
      return new Float32Array(z.length);
    });
    const err = await rejection(run({ score, signal: c.signal }));
    expect(err).toBe(reason);
  });

  test('a non-Error reason is kept in the message', async () => {
    const c = new AbortController();
    c.abort('stop please');
    await rejectsWith(run({ signal: c.signal }), 'AbortError', /^the operation was aborted: stop please$/);
  });

  test('an already-aborted signal rejects before any work', async () => {
    const c = new AbortController();
    c.abort();
    let called = false;
    const err = await rejection(
      run({
        signal: c.signal,
        score: (z: Float32Array) => {
          called = true;
          return new Float32Array(z.length);
        },
      }),
    );
    expect(err.name).toBe('AbortError');
    expect(called).toBe(false);
  });
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

// ---------------------------------------------------------------- the process survived

describe('after all of the above, normal runs still work', () => {
  test('replacement and smc on the exact mixture, with and without a corrector', async () => {
    const gm = GaussianMixture.fromJSON(mixtureSpec());
    const observed = { indices: [1], values: [0.25] };
    const a = await replacement({ score: gm, schedule: ou, steps: 20, samples: 64, observed, seed: 5 });
    expect(a.shape).toEqual([64, 3]);
    expect(a.samples.every(Number.isFinite)).toBe(true);
    for (let i = 0; i < 64; i++) expect(a.samples[i * 3 + 1]).toBeCloseTo(0.25, 6);
    const b = await replacement({ score: gm, schedule: ou, steps: 10, samples: 16, observed, seed: 5, corrector: { kind: 'langevin', steps: 1 } });
    expect(b.samples.every(Number.isFinite)).toBe(true);
    const c = await smc({ score: gm, schedule: ou, steps: 20, samples: 8, particles: 32, observed, seed: 5, output: 'all' });
    expect(c.shape).toEqual([8, 3]);
    expect(c.samples.every(Number.isFinite)).toBe(true);
    expect(c.logEvidence.every(Number.isFinite)).toBe(true);
    expect(c.particles?.length).toBe(8 * 32 * 3);
    // Same seed, same result: nothing left over from the failures above.
    const a2 = await replacement({ score: gm, schedule: ou, steps: 20, samples: 64, observed, seed: 5 });
    expect(Array.from(a2.samples)).toEqual(Array.from(a.samples));
  });
});

// ---------------------------------------------------------------- edge cases once missed

describe('edge cases of the samplers', () => {
  test('an observed value that is finite in float64 but overflows float32 (1e39) is rejected by name', async () => {
    // 1e39 would become Infinity in the Float32Array the samplers use.
    await rejectsWith(replacement(replOptions({ score: zeroScore, observed: { indices: [0], values: [1e39] } })), 'RangeError', /^observed\.values\[0\] must be/);
  });

  test("a score model's own dim is validated: { dim: 2.5 } names score.dim", async () => {
    await rejectsWith(replacement(replOptions({ dim: undefined, score: { dim: 2.5, score: zeroScore } })), 'RangeError', /^score\.dim must be a positive integer/);
  });
});
