// Diagnostics (lib/diagnostics.ts, README "Diagnostics"): runs that finish but answer badly
// say so in `warnings`; a healthy run says nothing.
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GaussianMixture } from '../../lib/mixture';
import { schedules } from '../../lib/schedules';
import { smc, replacement } from '../../lib/samplers';
import { mcgdiff } from '../../lib/mcgdiff';
import { collapseWarning, horizonWarning, stepWarning } from '../../lib/diagnostics';

const root = path.join(__dirname, '..', '..');
const demoModel = GaussianMixture.fromJSON(JSON.parse(fs.readFileSync(path.join(root, 'examples/model.json'), 'utf8')));
const demoObserved = JSON.parse(fs.readFileSync(path.join(root, 'examples/observe.json'), 'utf8'));

describe('warnings', () => {
  test('a healthy run (the demo problem, N = 64, 100 steps) has none, and replacement none either', async () => {
    const r = await smc({ score: demoModel, schedule: schedules.ou(), steps: 100, observed: demoObserved, particles: 64, samples: 200, seed: 1 });
    expect(r.warnings).toEqual([]);
    const q = await replacement({ score: demoModel, schedule: schedules.ou(), steps: 100, observed: demoObserved, samples: 50, seed: 1 });
    expect(q.warnings).toEqual([]);
  });

  test('an observation far in the tails collapses the weights, and says so', async () => {
    // Exact posterior mean 0.9 × 30 = 27; the filter's mean is about 20.
    const one = GaussianMixture.fromJSON({ weights: [1], means: [[0, 0]], covariances: [[[1, 0.9], [0.9, 1]]] });
    const r = await smc({ score: one, schedule: schedules.ou(), steps: 100, observed: { indices: [1], values: [30] }, particles: 64, samples: 50, seed: 1 });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/weights collapsed in \d+ of 50 runs: ESS below max\(2, N\/100\) = 2 at some step/);
  });

  test('a model whose scale does not match the schedule: the horizon rule, with the horizon that would do', async () => {
    const huge = GaussianMixture.fromJSON({ weights: [1], means: [[0, 0]], variances: [[1e12, 1]] });
    const r = await replacement({ score: huge, schedule: schedules.ou(), steps: 100, observed: { indices: [1], values: [0] }, samples: 4 });
    expect(r.warnings).toHaveLength(1);
    // alpha_T^2 v + sigma_T^2 with alpha_5 = e^-5: 4.54e7; T >= log(1e13) / 2 = 14.97 brings it within 10%.
    expect(r.warnings[0]).toMatch(/horizon T = 5 is too short .* variance of 4\.54e\+7 .* T ≥ 14\.97 would bring it within tolerance/);
  });

  test('the horizon rule on the mean alone, and on a discrete schedule', () => {
    const shifted = { mean: Float64Array.of(0, 10), variance: Float64Array.of(1, 1) };
    // alpha_T * 10 <= 0.3 needs T >= log(100 / 3) = 3.51 on OU.
    expect(horizonWarning(shifted, schedules.ou({ T: 2 }), 2)).toMatch(/\|mean\| up to 1\.35.* T ≥ 3\.5/);
    expect(horizonWarning(shifted, schedules.ou({ T: 5 }), 5)).toBeUndefined();
    expect(horizonWarning({ mean: Float64Array.of(0), variance: Float64Array.of(1e12) }, schedules.ddpm(), 1000)).toMatch(/no step of this 'ddpm' schedule/);
  });

  test('the step rule: Euler with h |f(t)| > 0.2', () => {
    const vp = schedules.vp();
    // f(1) = -beta(1)/2 = -10: 20 steps give h |f| = 0.5.
    expect(stepWarning(vp, 'euler', vp.grid(20))).toMatch(/h \|f\(t\)\| = 0\.5 at step 1 of 20 .* about 50 steps/);
    expect(stepWarning(vp, 'euler', vp.grid(50))).toBeUndefined();
    expect(stepWarning(vp, 'ddpm', vp.grid(5))).toBeUndefined();
  });

  test('the collapse rule: a run below max(2, N/100) at some step, in at least 10% of the runs', () => {
    const steps = 10, runs = 10, n = 1000;
    const ess = new Float64Array(steps * runs).fill(500);
    ess[3 * runs + 7] = 9.9;  // run 7 of 10 below N/100 = 10 at step 4: exactly 10% of the runs
    expect(collapseWarning(ess, steps, runs, n)).toMatch(/collapsed in 1 of 10 runs: ESS below max\(2, N\/100\) = 10 at some step \(run 7: ESS 9\.9 at step 4 of 10\)/);
    ess[3 * runs + 7] = 10;
    expect(collapseWarning(ess, steps, runs, n)).toBeUndefined();
    ess[3 * runs + 7] = 9.9;
    expect(collapseWarning(ess, steps, 11, n)).toBeUndefined();  // 1 of 11 runs: under 10%
    expect(collapseWarning(new Float64Array(10).fill(1.5), 10, 1, 64)).toMatch(/ESS below max\(2, N\/100\) = 2/);
    // The step named is the first at the run's lowest ESS.
    expect(collapseWarning(new Float64Array(10).fill(1.5), 10, 1, 64)).toMatch(/\(run 0: ESS 1\.5 at step 1 of 10\)/);
    ess[6 * runs + 7] = 9.9;
    expect(collapseWarning(ess, steps, runs, n)).toMatch(/\(run 7: ESS 9\.9 at step 4 of 10\)/);
  });

  test('the final weight counts as a step of its own', () => {
    const steps = 10, runs = 10, n = 1000;
    const ess = new Float64Array(steps * runs).fill(500), finalEss = new Float64Array(runs).fill(500);
    expect(collapseWarning(ess, steps, runs, n, 0, finalEss)).toBeUndefined();
    finalEss[2] = 1;
    expect(collapseWarning(ess, steps, runs, n, 0, finalEss)).toMatch(/collapsed in 1 of 10 runs: .*\(run 2: ESS 1 at the final weight\)/);
    ess[4 * runs + 2] = 1; // as low at step 5: the first is named
    expect(collapseWarning(ess, steps, runs, n, 0, finalEss)).toMatch(/\(run 2: ESS 1 at step 5 of 10\)/);
  });

  test('mcgdiff warns when its final weight w₀ collapses (a logPy off by thousands before)', async () => {
    const model = GaussianMixture.fromJSON({ weights: [0.5, 0.5], means: [[-2, -2, 0], [2, 2, 1]], variances: [[1, 1, 1], [1, 2, 1]] });
    const r = await mcgdiff({ score: model, schedule: schedules.ou(), steps: 100, observed: { indices: [1], values: [1], noiseStd: 1e-6 }, particles: 64, samples: 40, seed: 1 });
    expect(r.warnings.join('\n')).toMatch(/weights collapsed in \d+ of 40 runs: .* at the final weight\)/);
  });
});
