// Every backward kernel (MATH.md §2) and the forward context path (MATH.md §3) against its
// exact law, one step at a time, on every schedule × kernel pair with a non-uniform grid; and
// replacement's whole output against its exact Gaussian law (test/support/transition-cases.ts).
// A recording score callback sees the state before each step, and on a Gaussian prior the
// kernel mean of that state is exact, so each step's noise can be recovered and tested:
// a wrong coefficient anywhere (a, b, v; alpha_s for alpha_t; a transition of the wrong step)
// shows in that step's residuals, whatever the other steps do.
//
// Each pair: 2000 samples, ≈ 86 z-scores (means per coordinate and a pooled chi-square per
// step and per path step; the output's whitened mean and second moments), |z| ≤ 6; the last
// step is checked exactly (float32 mean within 2e-5 relative). False-failure rate: see
// CALIBRATION (tools/calibrate.ts).
import { describe, expect, test } from '@jest/globals';
import { replacement } from '../../lib/samplers';
import { GaussianMixture } from '../../lib/mixture';
import { failures, worstExcess, gaussianMomentChecks } from '../support/checks';
import { KERNEL_CONFIGS, PRIOR, OBSERVED, LATENT, Y0, D, libSchedule } from '../support/kalman-problems';
import { TRANSITION_CASES, TRANSITION_SEED, runRecorded, checksOfRecording, transitionChecks, SAMPLES, Z_LAW } from '../support/transition-cases';
import { exactSchedule, exactSteps, ExactStep } from '../support/exact-schedules';
import { gaussianScore } from '../support/gaussian-model';
import { chainFor, replacementLaw } from '../support/kalman-oracle';
import { cholesky } from '../support/matrix';

describe.each(KERNEL_CONFIGS.map((cfg, i) => [cfg.name, cfg, TRANSITION_CASES[i]] as const))('%s', (_name, cfg, c) => {
  test('X_T, every kernel step, the last step, the context path and the output have their exact laws', async () => {
    expect(c.name).toContain(cfg.name);
    expect(failures(await transitionChecks(cfg, TRANSITION_SEED))).toEqual([]);
  });
});

test("the 'fixed' context keeps Y_t = Y_0 at every step, and the output has the exact fixed-context law", async () => {
  const cfg = KERNEL_CONFIGS[2];
  const { calls, samples } = await runRecorded(cfg, TRANSITION_SEED + 1, 'fixed');
  let moved = 0;
  for (const call of calls) for (let r = 0; r < SAMPLES; r++) OBSERVED.forEach((k, j) => (moved += call.z[r * D + k] === Math.fround(Y0[j]) ? 0 : 1));
  expect(moved).toBe(0);
  const law = replacementLaw(chainFor(PRIOR, cfg.spec, cfg.kernel, cfg.grid, OBSERVED), exactSchedule(cfg.spec), cfg.grid, Y0, 'fixed');
  const draws = Array.from({ length: SAMPLES }, (_, r) => LATENT.map((k) => samples[r * D + k]));
  expect(failures(gaussianMomentChecks('fixed-context output', draws, law.mean, cholesky(law.cov), Z_LAW))).toEqual([]);
});

test('replacement with the library mixture gives the same law as with the exact score callback', async () => {
  // The same pair with the built-in GaussianMixture (native score) instead of the callback.
  const cfg = KERNEL_CONFIGS[4];
  const res = await replacement({ score: GaussianMixture.fromJSON({ weights: [1], means: [PRIOR.mean], covariances: [PRIOR.cov] }), schedule: libSchedule(cfg.spec), grid: cfg.grid, observed: { indices: OBSERVED, values: Y0 }, samples: SAMPLES, seed: 99 });
  const law = replacementLaw(chainFor(PRIOR, cfg.spec, cfg.kernel, cfg.grid, OBSERVED), exactSchedule(cfg.spec), cfg.grid, Y0, 'forward');
  const draws = Array.from({ length: SAMPLES }, (_, r) => LATENT.map((k) => res.samples[r * D + k]));
  expect(failures(gaussianMomentChecks('mixture-score output', draws, law.mean, cholesky(law.cov), Z_LAW))).toEqual([]);
});

// Power: on the same recording, steps with one plausible error must fail (worst ≥ 1.5 × bound).
test('power: one wrong coefficient in the oracle is seen (DDPM alpha_t for alpha_s; Euler v = g h)', async () => {
  const lines: string[] = [];
  const check = (name: string, cfg: (typeof KERNEL_CONFIGS)[number], rec: Awaited<ReturnType<typeof runRecorded>>, steps: ExactStep[]) => {
    const e = worstExcess(checksOfRecording(cfg, rec, steps));
    lines.push(`${cfg.name}, ${name}: worst ${e.toPrecision(3)} × bound`);
    expect({ name, fails: e >= 1.5 }).toEqual({ name, fails: true });
  };
  const ddpm = KERNEL_CONFIGS[5];
  const q = exactSchedule(ddpm.spec);
  const rec = await runRecorded(ddpm, TRANSITION_SEED);
  const alphaT = exactSteps(q, 'ddpm', ddpm.grid).map((st) => {
    const c0 = (q.alpha(st.t) * st.sigma2Ts) / q.sigma2(st.t), c1 = (st.alphaTs * q.sigma2(st.s)) / q.sigma2(st.t);
    return { ...st, cz: c0 / q.alpha(st.t) + c1, cs: (c0 * q.sigma2(st.t)) / q.alpha(st.t) };
  });
  check('x̂0 coefficient with alpha_t', ddpm, rec, alphaT);
  const vp = KERNEL_CONFIGS[2];
  const qv = exactSchedule(vp.spec);
  const recVp = await runRecorded(vp, TRANSITION_SEED);
  check('Euler v = g h', vp, recVp, exactSteps(qv, 'euler', vp.grid).map((st) => ({ ...st, v: Math.sqrt(qv.diffusion2(st.t)) * (st.t - st.s) })));
  if (process.env.KALMAN_VERBOSE) console.log(lines.join('\n'));
  // the score callback is the exact score (a sanity check of the recording set-up)
  const g = gaussianScore(PRIOR, q)(rec.calls[0].z.subarray(0, D), ddpm.grid[ddpm.grid.length - 1]);
  expect(Array.from(g)).toEqual(Array.from(rec.calls[0].score.subarray(0, D)));
});
