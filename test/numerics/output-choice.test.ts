// The filter's output draw is chosen by the final weights (MATH.md §3), never uniformly: with
// essThreshold 0 the filter never resamples, so the final weights are far from equal, and the
// draw's weight and coordinates are tested against their exact conditional means given the
// particles (test/support/output-choice.ts). The Kalman tests make the same check at
// τ = 0.5 and 0.3 on every schedule × kernel pair.
import { expect, test } from '@jest/globals';
import { failures, worstExcess } from '../support/checks';
import { CHOICE_CASE, CHOICE_RUNS, CHOICE_PARTICLES, runChoice, outputChoice, choiceChecks } from '../support/output-choice';
import { LATENT, D } from '../support/kalman-problems';

test('the returned draw is distributed as the weighted particles; a uniform choice fails the same checks', async () => {
  const res = await runChoice(CHOICE_CASE.seed);
  const st = outputChoice(res.samples, res.particles!, res.logWeights!, CHOICE_RUNS, CHOICE_PARTICLES, D, LATENT);
  expect(failures(choiceChecks(st))).toEqual([]);
  // Power: the same particles with a draw chosen uniformly (a fixed LCG on the test's side).
  let s = 12345;
  const uniform = new Float32Array(CHOICE_RUNS * D);
  for (let r = 0; r < CHOICE_RUNS; r++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const k = Math.floor((s / 2 ** 32) * CHOICE_PARTICLES);
    uniform.set(res.particles!.subarray((r * CHOICE_PARTICLES + k) * D, (r * CHOICE_PARTICLES + k + 1) * D), r * D);
  }
  const wrong = outputChoice(uniform, res.particles!, res.logWeights!, CHOICE_RUNS, CHOICE_PARTICLES, D, LATENT);
  expect(worstExcess(choiceChecks(wrong))).toBeGreaterThan(3); // measured 8.6 × bound (z ≈ −47)
  if (process.env.KALMAN_VERBOSE) console.log(`weight z ${st.zWeight.toFixed(2)} (uniform: ${wrong.zWeight.toFixed(1)}), informative runs ${st.informative}`);
});
