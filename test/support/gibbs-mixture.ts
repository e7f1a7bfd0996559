// Particle Gibbs on a Gaussian mixture (docs/MATH.md §11, §7): the two-mode 2-D problem of
// test/support/mixture-cases.ts, where observing y = 1 leaves 2% of the mass in the minor
// mode. Thinned post-burn-in draws of K chains against exact samples of p(X | y): sliced
// Wasserstein against the exact-vs-exact noise floor, and batch-means z-scores (one batch per
// chain) of the posterior mean and variance. The chains target the discretised posterior
// (S = 200 Euler steps, v_nom at the last step), close to the exact one on this grid.
import { GaussianMixture } from '../../lib/mixture';
import { schedules } from '../../lib/schedules';
import { particleGibbs } from '../../lib/chains';
import { slicedWasserstein, noiseFloor } from '../../lib/metrics';
import { Check, StatCase, abs, upper } from './checks';
import { TWO_MODES, TWO_MODE_OBSERVED, twoModePosterior, FLOOR_FACTOR } from './mixture-cases';
import { zScore } from './kalman-oracle';

export const MIXTURE_CHAINS = { samples: 100, particles: 16, sweeps: 60, burnIn: 10, thin: 5 };
/**
 * 200 steps on a quadratic grid t_i = 5 (i/200)²: the last step is 1.25e-4, so the nominal
 * noise of the chains' last step (v_nom = 2.5e-4) is negligible; on the uniform grid it
 * (0.05) inflates the posterior variance by 4.4 sd of its estimate here.
 */
export const MIXTURE_GRID = Array.from({ length: 201 }, (_, i) => 5 * (i / 200) ** 2);
export const Z_MIXTURE = 6;

export async function mixtureChainChecks(seed: number): Promise<Check[]> {
  const model = GaussianMixture.fromJSON(TWO_MODES);
  const r = await particleGibbs({ score: model, schedule: schedules.ou(), grid: MIXTURE_GRID, observed: TWO_MODE_OBSERVED, seed, ...MIXTURE_CHAINS });
  const n = r.shape[0];
  const exact = await model.sampleExact(TWO_MODE_OBSERVED, n, { seed: 776 + seed });
  const floor = await noiseFloor(model, TWO_MODE_OBSERVED, n, { coordinates: [0], replicates: 50, seed: 3, exactSeed: 999 + seed });
  const sw = await slicedWasserstein(r.samples, exact, 2, { coordinates: [0], seed: 3 });
  const p = twoModePosterior();
  const K = MIXTURE_CHAINS.samples, kept = n / K;
  const means: number[] = [], seconds: number[] = [];
  for (let c = 0; c < K; c++) {
    let s1 = 0, s2 = 0;
    for (let k = 0; k < kept; k++) {
      const d = r.samples[(c * kept + k) * 2] - p.mean;
      s1 += d;
      s2 += d * d;
    }
    means.push(s1 / kept);
    seconds.push(s2 / kept - p.variance);
  }
  return [
    upper('particle Gibbs SW / (2 × floor)', sw / (FLOOR_FACTOR * floor.floor), 1),
    abs('particle Gibbs: batch-means z of the posterior mean of X', zScore(means), Z_MIXTURE),
    abs('particle Gibbs: batch-means z of the posterior variance of X', zScore(seconds), Z_MIXTURE),
  ];
}

export const MIXTURE_CHAIN_CASE: StatCase = {
  name: 'gibbs: two modes (2-D), particle Gibbs vs the exact posterior',
  seed: 1,
  run: mixtureChainChecks,
};
