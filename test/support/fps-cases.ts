// fps (docs/MATH.md §9.3) on the D = 8 Gaussian-mixture problems of svd-filter-cases.ts (random
// A, d_y ∈ {1, 2}): with σ_y = 0 it reaches the noise floor; with σ_y > 0 it is biased, which
// shows as the variance of the observed functional a_1^T x (a_1 the first row of A) far below
// the exact posterior's (measured 0.04 of it at σ_y = 0.1 and 0.5, where smc is at 1.0).
import { fps } from '../../lib/fps';
import { slicedWasserstein, noiseFloor } from '../../lib/metrics';
import { StatCase, upper } from './checks';
import { libSchedule } from './kalman-problems';
import { mixtureProblem } from './svd-filter-cases';

/** SW ≤ 3 × the 95% exact-vs-exact floor with σ_y = 0, as for smc. */
export const FPS_FLOOR_FACTOR = 3;
/** Var(a_1^T x) under fps / under the exact posterior, σ_y = 0.1: at most 0.5 (measured 0.04). */
export const FPS_BIAS_RATIO = 0.5;

function variance(x: Float32Array, a: number[], D: number): number {
  const K = x.length / D;
  const v = Array.from({ length: K }, (_, k) => a.reduce((acc, c, j) => acc + c * x[k * D + j], 0));
  const m = v.reduce((acc, u) => acc + u, 0) / K;
  return v.reduce((acc, u) => acc + (u - m) ** 2, 0) / (K - 1);
}

export const FPS_MIXTURE_CASES: StatCase[] = [1, 2].map((dy) => ({
  name: `fps: mixture D = 8, random A ${dy}x8: at the noise floor with σ_y = 0, biased with σ_y = 0.1`,
  seed: 20261207 + dy,
  async run(seed) {
    const { model, observed } = mixtureProblem(dy);
    const K = 1000, D = 8;
    const common = { score: model, schedule: libSchedule({ kind: 'ou', T: 4 }), steps: 200, samples: K, particles: 100, seed };
    const exact0 = { ...observed, noiseStd: 0 };
    const ref0 = await model.sampleExact(exact0, K, { seed, run: 1_000_000 });
    const floor = await noiseFloor(model, exact0, K, { replicates: 50, exactSeed: seed + 1 });
    const noiseless = await fps({ ...common, observed: exact0 });
    const ref = await model.sampleExact(observed, K, { seed, run: 2_000_000 });
    const noisy = await fps({ ...common, observed });
    return [
      upper('σ_y = 0: fps SW / floor', (await slicedWasserstein(noiseless.samples, ref0, D)) / floor.floor, FPS_FLOOR_FACTOR),
      upper('σ_y = 0.1: Var(a_1^T x) fps / exact', variance(noisy.samples, observed.A[0], D) / variance(ref, observed.A[0], D), FPS_BIAS_RATIO),
    ];
  },
}));
