// Sampler errors (replacement, smc): every bad option gets "<name> must be <expected>, got
// <received>" as a TypeError / RangeError; a kernel mean that overflows names its step; an
// AbortSignal stops a run with an AbortError; and after all of these the process still
// samples correctly.
import { describe, expect, test } from '@jest/globals';
import { replacement, smc, schedules, GaussianMixture } from '../../lib/index';
import type { ScoreFunction } from '../../lib/index';
import { rejection, rejectsWith, Loose } from '../support/errors';
import { D, ou, zeroScore, gaussScore, replOptions, smcOptions, samplers, mixtureSpec, scoreFailingAt } from '../support/problems';

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
    ['repeated, as many as D', { indices: [1, 1, 2], values: [0, 0, 0] }, 'RangeError', /^observed\.indices must be distinct, got index 1 twice$/],
    ['values too short', { indices: [0, 1], values: [0] }, 'RangeError', /^observed\.values must have one value per index \(2\), got 1$/],
    ['values too long', { indices: [0], values: [0, 1] }, 'RangeError', /^observed\.values must have one value per index \(1\), got 2$/],
    ['value NaN', { indices: [0, 2], values: [0, NaN] }, 'RangeError', /^observed\.values\[1\] must be a finite float32 number, got NaN$/],
    ['value Infinity', { indices: [0], values: [Infinity] }, 'RangeError', /^observed\.values\[0\] must be a finite float32 number, got Infinity$/],
    ['value -Infinity', { indices: [0], values: [-Infinity] }, 'RangeError', /^observed\.values\[0\] must be a finite float32 number, got -Infinity$/],
    ['all observed', { indices: [0, 1, 2], values: [0, 0, 0] }, 'RangeError', /^observed\.indices must be fewer than D = 3 indices .*got an Array of length 3$/],
    ['indices missing', { values: [0] }, 'TypeError', /^observed\.indices must be an array of integers, got undefined$/],
    ['values missing', { indices: [0] }, 'TypeError', /^observed\.values must be an array of numbers, got undefined$/],
    ['not an object', 7, 'TypeError', /^observed must be an object \{ indices, values, noiseStd\? \}, \{ A, y, noiseStd\? \} or \{ operator, y, noiseStd\? \}, got 7$/],
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
