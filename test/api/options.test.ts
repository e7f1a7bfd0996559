// Option names (lib/options.ts): a misspelt sampler option is a TypeError naming it and the
// nearest valid name, never silently left at its default; and the types: smc with output
// 'all' returns particles and logWeights that TypeScript knows are there.
import { describe, expect, test } from '@jest/globals';
import { replacement, smc, GaussianMixture, schedules } from '../../lib/index';
import type { SmcAllResult, SmcResult } from '../../lib/index';
import { nearest } from '../../lib/options';
import { cpuUnlessNamed } from '../../lib/samplers';
import { rejectsWith } from '../support/errors';
import { replOptions, smcOptions, mixtureSpec } from '../support/problems';

describe('unknown option names', () => {
  test.each([
    ['smc', 'essTreshold', /^unknown option "essTreshold" for smc \(did you mean "essThreshold"\?\)$/],
    ['smc', 'treads', /^unknown option "treads" for smc \(did you mean "threads"\?\)$/],
    ['smc', 'particle', /^unknown option "particle" for smc \(did you mean "particles"\?\)$/],
    ['smc', 'Seed', /^unknown option "Seed" for smc \(did you mean "seed"\?\)$/],
    ['replacement', 'corector', /^unknown option "corector" for replacement \(did you mean "corrector"\?\)$/],
    ['replacement', 'particles', /^unknown option "particles" for replacement \(the options are score, schedule, .*, corrector, firstRun\)$/],
    ['replacement', 'essThreshold', /^unknown option "essThreshold" for replacement \(the options are /],
  ] as const)('%s: %s', async (sampler, key, message) => {
    const options = sampler === 'smc' ? smcOptions({ [key]: 0.5 }) : replOptions({ [key]: 0.5 });
    await rejectsWith(sampler === 'smc' ? smc(options as Parameters<typeof smc>[0]) : replacement(options), 'TypeError', message);
  });

  test('a misspelt key is an error even when its value is undefined', async () => {
    await rejectsWith(smc(smcOptions({ seeed: undefined })), 'TypeError', /^unknown option "seeed" for smc \(did you mean "seed"\?\)$/);
  });

  test("smc's corrector keeps its own message; corrector options are checked by kind", async () => {
    await rejectsWith(smc(smcOptions({ corrector: { kind: 'langevin', steps: 1 } })), 'TypeError', /^corrector is not supported by smc/);
    await rejectsWith(
      replacement(replOptions({ corrector: { kind: 'langevin', steps: 1, gama: 0.2 } })),
      'TypeError',
      /^unknown corrector option "gama" for kind 'langevin' \(did you mean "gamma"\?\)$/,
    );
    await rejectsWith(
      replacement(replOptions({ corrector: { kind: 'repaint', jumps: 1, steps: 2 } })),
      'TypeError',
      /^unknown corrector option "steps" for kind 'repaint' \(the corrector options are kind, jumps\)$/,
    );
    // An unknown kind is the corrector check's own error.
    await rejectsWith(replacement(replOptions({ corrector: { kind: 'heun', x: 1 } })), 'RangeError', /^corrector\.kind must be one of/);
  });

  test('options that are not an object keep their message', async () => {
    await rejectsWith(smc(null as never), 'TypeError', /^options must be an object, got null$/);
  });

  test('nearest: a slip, not another word', () => {
    const known = ['threads', 'essThreshold', 'seed', 'steps'];
    expect(nearest('treads', known)).toBe('threads');
    expect(nearest('stpes', known)).toBe('steps');
    expect(nearest('ESSTHRESHOLD', known)).toBe('essThreshold');
    expect(nearest('colour', known)).toBeUndefined();
  });
});

describe("smc output 'all': the result's type", () => {
  test('particles and logWeights are present (no non-null assertion needed)', async () => {
    const model = GaussianMixture.fromJSON(mixtureSpec());
    const observed = { indices: [0], values: [0.5] };
    const all: SmcAllResult = await smc({ score: model, schedule: schedules.ou(), steps: 3, observed, particles: 4, samples: 2, output: 'all' });
    // Compiles only because of the overload: particles is Float32Array, not Float32Array | undefined.
    const rows: number = all.particles.length / model.dim;
    const weights: Float64Array = all.logWeights;
    expect(rows).toBe(8);
    expect(weights.length).toBe(8);
    const one: SmcResult = await smc({ score: model, schedule: schedules.ou(), steps: 3, observed, particles: 4, samples: 2 });
    expect(one.particles).toBeUndefined();
    // @ts-expect-error without output 'all', particles may be undefined
    const maybe: Float32Array = one.particles;
    expect(maybe).toBeUndefined();
  });
});

describe('the backend of the CPU-only methods (tds, dps, mcgdiff, fps, the SVD filter, weighted CFG)', () => {
  test("'auto' or none is the CPU, not a device another method would take; a named backend stays, for the method to refuse", () => {
    expect(cpuUnlessNamed(undefined)).toBe('cpu');
    expect(cpuUnlessNamed('auto')).toBe('cpu');
    expect(cpuUnlessNamed('cpu')).toBe('cpu');
    expect(cpuUnlessNamed('cuda')).toBe('cuda');
  });
});
