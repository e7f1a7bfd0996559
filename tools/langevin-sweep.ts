// Langevin correction is not monotone in L: a sweep on a 6-D three-component Gaussian
// mixture (the measurement behind the README's Langevin paragraph).
//
//   node -r ./tools/register-ts.js tools/langevin-sweep.ts [--seeds 3]
//
// Prints, per (L, gamma), the sliced Wasserstein-2 distance of K = 1000 replacement +
// Langevin draws to K exact posterior draws (mean and range over seeds), beside the filter's
// and the exact-vs-exact noise floor (MATH.md §7). OU schedule, S = 100 steps.
import { GaussianMixture } from '../lib/mixture';
import { schedules } from '../lib/schedules';
import { replacement, smc } from '../lib/samplers';
import { slicedWasserstein, noiseFloor } from '../lib/metrics';

/**
 * A D = 6 mixture of three full-covariance components from a fixed LCG: means spread over
 * [−4, 4]^6, covariances A Aᵀ + 0.05 I with A's entries in [−0.3, 0.3] (narrow, correlated).
 */
export function sixDimensional() {
  let s = 2024;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const D = 6;
  const means: number[][] = [], covariances: number[][][] = [];
  for (let j = 0; j < 3; j++) {
    means.push(Array.from({ length: D }, () => 8 * rnd()));
    const a = Array.from({ length: D }, () => Array.from({ length: D }, () => 0.6 * rnd()));
    covariances.push(
      Array.from({ length: D }, (_, p) =>
        Array.from({ length: D }, (_, q) => {
          let v = p === q ? 0.05 : 0;
          for (let k = 0; k < D; k++) v += a[p][k] * a[q][k];
          return v;
        }),
      ),
    );
  }
  return { weights: [0.3, 0.3, 0.4], means, covariances };
}

async function main() {
  const i = process.argv.indexOf('--seeds');
  const seeds = i >= 0 ? Number(process.argv[i + 1]) : 3;
  const spec = sixDimensional();
  const model = GaussianMixture.fromJSON(spec);
  const indices = [0, 2, 4];
  // y between the three components' means (0.4, 0.3, 0.3)
  const observed = { indices, values: indices.map((k) => 0.4 * spec.means[0][k] + 0.3 * spec.means[1][k] + 0.3 * spec.means[2][k]) };
  const latent = [1, 3, 5];
  const post = model.posterior(observed);
  console.log(`posterior mode weights: ${Array.from(post.weights).map((w) => w.toFixed(3)).join(', ')}`);
  const K = 1000, S = 100;
  const floor = await noiseFloor(model, observed, K, { coordinates: latent, replicates: 50, seed: 3 });
  console.log(`noise floor (95th percentile of 50 exact-vs-exact): ${floor.floor.toFixed(3)}`);
  const settings: [number, number][] = [[0, 0.1], [1, 0.1], [5, 0.1], [20, 0.1], [100, 0.1], [1000, 0.1], [1000, 0.02]];
  const rows: string[] = [];
  const measure = async (label: string, draw: (seed: number) => Promise<Float32Array>) => {
    const d: number[] = [];
    for (let seed = 1; seed <= seeds; seed++) {
      const exact = await model.sampleExact(observed, K, { seed: 500 + seed });
      d.push(await slicedWasserstein(await draw(seed), exact, 6, { coordinates: latent, seed: 3 }));
    }
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    rows.push(`${label.padEnd(26)} SW ${mean.toFixed(3)} (${Math.min(...d).toFixed(3)}–${Math.max(...d).toFixed(3)})`);
    console.log(rows[rows.length - 1]);
  };
  for (const [L, gamma] of settings) {
    await measure(`Langevin L = ${L}, gamma = ${gamma}`, async (seed) =>
      (await replacement({ score: model, schedule: schedules.ou(), steps: S, observed, samples: K, seed, corrector: L === 0 ? undefined : { kind: 'langevin', steps: L, gamma } })).samples,
    );
  }
  await measure('smc N = 128', async (seed) => (await smc({ score: model, schedule: schedules.ou(), steps: S, observed, particles: 128, samples: K, seed })).samples);
}

if (require.main === module) main();
