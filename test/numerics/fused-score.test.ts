// The built-in mixture scored inside the fused filter step (native smcStep with a mixture,
// lib/models/bootstrap.ts): each run's rows are scored where they are used, and the answer
// must be the bytes of scoring first (GaussianMixture.scoreInto into the work buffer) and
// stepping after. The unfused run is forced with a model whose scoreInto is its own.
import { describe, expect, test } from '@jest/globals';
import { GaussianMixture, GaussianMixtureSpec } from '../../lib/mixture';
import { smc } from '../../lib/samplers';
import { schedules } from '../../lib/schedules';

/** The same model, scored by the driver before the step (scoreInto is not the prototype's). */
function unfused(gm: GaussianMixture): GaussianMixture {
  const m = Object.create(gm) as GaussianMixture;
  m.scoreInto = (z, context, out, threads) => gm.scoreInto(z, context, out, threads);
  return m;
}

function spec(kind: 'isotropic' | 'diagonal' | 'dense', D: number): GaussianMixtureSpec {
  const J = 4;
  const means = Array.from({ length: J }, (_, j) => Array.from({ length: D }, (_, k) => ((j * 7 + k * 3) % 11) / 3 - 1.5));
  if (kind === 'dense') {
    return {
      weights: [1, 2, 3, 1],
      means,
      covariances: means.map((_, j) => Array.from({ length: D }, (_, a) => Array.from({ length: D }, (_, b) => (a === b ? 1 + j / 4 : 0.2 / (1 + Math.abs(a - b)))))),
    };
  }
  return { weights: [1, 2, 3, 1], means, variances: means.map((_, j) => Array.from({ length: D }, (_, k) => (kind === 'isotropic' ? 0.5 + j / 4 : 0.5 + ((j + k) % 4) / 3))) };
}

const bytes = (r: { samples: Float32Array; logEvidence: ArrayLike<number> }) =>
  Buffer.concat([Buffer.from(r.samples.buffer), Buffer.from(Float64Array.from(r.logEvidence).buffer)]);

describe('the mixture scored inside the fused step', () => {
  // Shapes on both of the step's paths: run by run (a run's means fit a worker's buffer) and
  // stage by stage (2 runs of 20000 x D = 8: past that buffer).
  const cases: Array<[string, 'isotropic' | 'diagonal' | 'dense', number, number, number]> = [
    ['isotropic, run by run', 'isotropic', 24, 16, 60],
    // Runs smaller than 32 rows are scored several at a time (native/core/smc_step.cc
    // kScoreGroupRows): four runs of 8, pairs of runs of 16, the last group short.
    ['isotropic, runs of 8 scored four at a time', 'isotropic', 40, 8, 30],
    ['diagonal, runs of 16 scored in pairs', 'diagonal', 20, 16, 31],
    ['isotropic, stage by stage', 'isotropic', 8, 20000, 2],
    ['diagonal, run by run', 'diagonal', 12, 64, 30],
    ['dense, run by run', 'dense', 6, 64, 40],
    ['dense, stage by stage', 'dense', 6, 30000, 1],
  ];
  test.each(cases)('%s: the same bytes as scoring first, on 1 and 2 threads', async (_, kind, D, particles, samples) => {
    const gm = GaussianMixture.fromJSON(spec(kind, D));
    const common = { schedule: schedules.ou({ T: 4 }), observed: { indices: [0, 2], values: [0.3, -0.7] }, steps: 10, particles, samples, seed: 5 };
    const fused = await smc({ ...common, score: gm, threads: 2 });
    expect(bytes(await smc({ ...common, score: unfused(gm), threads: 2 })).equals(bytes(fused))).toBe(true);
    expect(bytes(await smc({ ...common, score: gm, threads: 1 })).equals(bytes(fused))).toBe(true);
  });

  test('a score that is not finite is the same error, naming the same step, row and coordinate', async () => {
    // A component mean near float32's largest value: the score is NaN from the first step.
    const gm = GaussianMixture.fromJSON({ weights: [1, 1], means: [[0, 0, 3e37], [0, 0, 0]], variances: [[1, 1, 1], [1, 1, 1]] });
    const run = (score: GaussianMixture) =>
      smc({ score, schedule: schedules.ou({ T: 3 }), observed: { indices: [2], values: [0] }, steps: 8, particles: 16, samples: 20, threads: 2, seed: 1 });
    const message = async (score: GaussianMixture) => {
      try {
        await run(score);
      } catch (e) {
        return `${(e as Error).name}: ${(e as Error).message}`;
      }
      return 'no error';
    };
    const fused = await message(gm);
    expect(fused).toMatch(/^RangeError: the score must be finite at step 1 of 8 \(t = 3\), got NaN at row 0, coordinate 0$/);
    expect(await message(unfused(gm))).toBe(fused);
  });
});
