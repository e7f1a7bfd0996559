// Small problems for the error tests: D = 3 under the OU schedule, the exact score of
// N(0, I) (or zero), sampler options with one field replaced, a two-component mixture, and
// a score callback that misbehaves on a chosen call.
import { replacement, smc, schedules } from '../../lib/index';
import type { ReplacementOptions, SmcOptions, ScoreFunction, ScoreContext } from '../../lib/index';

export const D = 3;
export const ou = schedules.ou();
export const zeroScore: ScoreFunction = (z) => new Float32Array(z.length);
/** The exact score of N(0, I) under OU (alpha^2 + sigma^2 = 1): s = -z. */
export const gaussScore: ScoreFunction = (z) => z.map((x) => -x);

/** replacement's options on the N(0, I) problem, with `over` replacing fields (any value, to test validation). */
export function replOptions(over: Record<string, unknown> = {}): ReplacementOptions {
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

/** smc's options on the same problem. */
export function smcOptions(over: Record<string, unknown> = {}): SmcOptions {
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

/** Each sampler with replOptions / smcOptions, for describe.each. */
export const samplers = [
  ['replacement', (over: Record<string, unknown> = {}) => replacement(replOptions(over))],
  ['smc', (over: Record<string, unknown> = {}) => smc(smcOptions(over))],
] as const;

export const mixtureSpec = () => ({
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

/** A score that misbehaves on its `at`-th call (1-based), otherwise the N(0, I) score. */
export function scoreFailingAt(at: number, bad: (z: Float32Array) => unknown): ScoreFunction {
  let calls = 0;
  return ((z: Float32Array, t: number, c: ScoreContext) => {
    calls++;
    return calls === at ? bad(z) : gaussScore(z, t, c);
  }) as ScoreFunction;
}
