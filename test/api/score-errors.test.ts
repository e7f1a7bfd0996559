// Score model errors: a score callback that returns the wrong type or length, throws,
// rejects, returns a non-finite value or detaches the state it was given is named by the
// step (MATH.md §4); fromPrediction validates its arguments; the Langevin corrector's
// steps are named too.
import { describe, expect, test } from '@jest/globals';
import { replacement, smc, GaussianMixture, fromPrediction } from '../../lib/index';
import type { ScoreFunction, ScoreContext } from '../../lib/index';
import { rejectsWith, throwsWith, detach } from '../support/errors';
import { D, zeroScore, replOptions, smcOptions, samplers, mixtureSpec, scoreFailingAt } from '../support/problems';

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

describe('a score callback that detaches its input', () => {
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
