// User callbacks beside the score: a likelihood or vjp that never settles cannot keep a run
// from being cancelled, and an async onStep / onSweep is awaited, so its rejection fails the
// run instead of going unhandled (which ends a Node process).
import { describe, expect, test } from '@jest/globals';
import { GaussianMixture, dps, particleGibbs, replacement, schedules, smc, tds } from '../../lib/index';
import type { ScoreContext } from '../../lib/index';
import { rejection } from '../support/errors';

const model = GaussianMixture.fromJSON({ weights: [0.5, 0.5], means: [[-2, -2, 0], [2, 2, 1]], variances: [[1, 1, 1], [1, 2, 1]] });
const base = { score: model, schedule: schedules.ou(), steps: 10, observed: { indices: [1], values: [1] }, seed: 5 };
const never = () => new Promise<never>(() => undefined);
const asModel = { dim: 3, score: (z: Float32Array, t: number, c: ScoreContext) => model.score(z, t, c), vjp: never };

describe('a callback that never settles: the run is still cancelled', () => {
  const cases: [string, (signal: AbortSignal) => Promise<unknown>][] = [
    ['tds, likelihood', (signal) => tds({ ...base, observed: undefined, likelihood: never, particles: 4, samples: 2, signal })],
    ['tds, vjp', (signal) => tds({ ...base, observed: { indices: [1], values: [1], noiseStd: 0.1 }, particles: 4, samples: 2, gradient: 'vjp', score: asModel, signal })],
    ['dps, vjp', (signal) => dps({ ...base, observed: { A: [[1, 0, 0]], y: [1] }, samples: 2, zeta: 0.1, jacobian: 'vjp', score: asModel, signal })],
  ];
  test.each(cases)('%s', async (_name, run) => {
    const c = new AbortController();
    setTimeout(() => c.abort(), 30);
    const err = await rejection(run(c.signal));
    expect(err.name).toBe('AbortError');
  }, 10000); // a run that ignores the signal hangs: fail in seconds, not at the suite's timeout
});

describe('an async progress callback is awaited', () => {
  test.each([
    ['smc', (onStep: (i: { step: number }) => unknown) => smc({ ...base, particles: 8, samples: 2, onStep })],
    ['replacement', (onStep: (i: { step: number }) => unknown) => replacement({ ...base, samples: 2, onStep })],
  ] as const)('%s: the next step waits for onStep, and its rejection is the run\'s', async (_name, run) => {
    const events: string[] = [];
    await run(async (i) => {
      events.push(`start ${i.step}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
      events.push(`end ${i.step}`);
    });
    expect(events).toEqual(Array.from({ length: 10 }, (_, k) => [`start ${k + 1}`, `end ${k + 1}`]).flat());
    const boom = new Error('onStep failed');
    const err = await rejection(run(async (i) => {
      if (i.step === 2) throw boom;
    }));
    expect(err).toBe(boom);
  });

  test('particleGibbs: a rejected onSweep fails the run', async () => {
    const boom = new Error('onSweep failed');
    const sweeps: number[] = [];
    const err = await rejection(particleGibbs({ ...base, particles: 4, samples: 2, sweeps: 3, onSweep: async (i) => {
      sweeps.push(i.sweep);
      throw boom;
    } }));
    expect(err).toBe(boom);
    expect(sweeps).toEqual([1]);
  });
});
