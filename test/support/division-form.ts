// The public MCGdiff code's division form (docs/MATH.md §9.2, "What the public code does
// differently", 1), built here around the library's model to show that the Kalman checks reject
// it: at the step t → s that releases coordinate i (s < τ_i = t) its pinning factor
// N(x̄_{τ_i,i}; ỹ_i, κ) is divided out of the weight, and the run ends with p(ȳ | x₀) as the final
// weight (the pinning factors are gone, so nothing else is divided at the end).
import type { FeynmanKacModel, DriverRun, Step, ModelRun } from '../../lib/driver';
import { runFeynmanKac } from '../../lib/driver';
import { selectBackend } from '../../lib/backend';
import { normalizeLinearObservation } from '../../lib/observation';
import { matchingTimes, observationGrid, pinStarts } from '../../lib/matching';
import { mcgdiffModel } from '../../lib/models/mcgdiff';
import { GaussianMixture } from '../../lib/mixture';
import type { McgdiffResult } from '../../lib/mcgdiff';
import { libSchedule } from './kalman-problems';
import { exactSchedule } from './exact-schedules';
import { McgdiffConfig, mcgdiffConversion } from './mcgdiff-cases';
import { mcgdiffKalman, McgdiffTarget } from './mcgdiff-kalman';
import { SVD_PRIOR, SVD_D, yFor, rotatedObservation, startsFor } from './svd-filter-cases';

const logNormal = (x: number, m: number, v: number) => -0.5 * (Math.log(2 * Math.PI * v) + ((x - m) * (x - m)) / v);

/** The exact x₀ law and normaliser of p_θ(x_{0:T}) p(ȳ | x₀) on `grid`: no soft pins, p(ȳ | x₀) as the final factor. */
export function divisionFormTarget(cfg: McgdiffConfig, grid: ArrayLike<number>): McgdiffTarget {
  const { obs } = rotatedObservation(cfg);
  const never = obs.s.map(() => grid.length);
  return mcgdiffKalman(SVD_PRIOR, exactSchedule(cfg.spec), cfg.kernel, grid, obs, never, cfg.kappa, { finalWeight: true });
}

export async function runDivisionForm(cfg: McgdiffConfig, seed: number, runs: number, particles: number): Promise<McgdiffResult> {
  const schedule = libSchedule(cfg.spec);
  const lin = normalizeLinearObservation({ A: cfg.A, y: yFor(cfg.A), noiseStd: cfg.noiseStd }, SVD_D);
  const grid = observationGrid(schedule, cfg.steps, matchingTimes(schedule, lin.svd!, cfg.noiseStd));
  const inner = mcgdiffModel({ kernel: cfg.kernel, finalNoise: false, observation: lin, levels: pinStarts(schedule, grid, lin.svd!, cfg.noiseStd), kappa: cfg.kappa, finalWeight: false });
  // The oracle side's view of the problem: rotated rows, ỹ_i and τ_i's grid index, from the exact schedule.
  const { obs } = rotatedObservation(cfg);
  const q = exactSchedule(cfg.spec);
  const levels = startsFor(cfg, grid, obs);
  const ytilde = obs.ybar.map((y, i) => (q.alpha(grid[levels[i]]) * y) / obs.s[i]);
  const rotated = (z: Float32Array, row: number, i: number) => obs.vt[i].reduce((a, v, c) => a + v * z[row * SVD_D + c], 0);
  const model: FeynmanKacModel = {
    name: 'mcgdiff (division form)',
    weighted: true,
    async start(run: DriverRun): Promise<ModelRun> {
      const m = await inner.start(run);
      const z = run.z as Float32Array, inc = run.increment as Float64Array;
      return {
        ...m,
        async weigh(step: Step) {
          await m.weigh!(step);
          for (let i = 0; i < obs.s.length; i++) {
            if (levels[i] !== step.index) continue;
            for (let row = 0; row < run.rows; row++) inc[row] -= logNormal(rotated(z, row, i), ytilde[i], cfg.kappa);
          }
        },
        async finalWeight() {
          for (let row = 0; row < run.rows; row++) {
            let lw = 0;
            for (let i = 0; i < obs.s.length; i++) lw += logNormal(obs.ybar[i], obs.s[i] * rotated(z, row, i), cfg.noiseStd ** 2);
            inc[row] = lw;
          }
        },
      };
    },
  };
  const score = GaussianMixture.fromJSON({ weights: [1], means: [SVD_PRIOR.mean], covariances: [SVD_PRIOR.cov] });
  const r = await runFeynmanKac({ backend: selectBackend('cpu'), model, score, schedule, grid, dim: SVD_D, runs, particles, runOffset: 0, seed, threads: 2, essThreshold: 1, scheme: 'systematic' });
  const conv = mcgdiffConversion({ ...cfg, finalWeight: true }, grid, levels);
  const particlesOut = r.particles as Float32Array;
  return {
    samples: new Float32Array(0), shape: [runs, SVD_D], method: model.name, seconds: 0, threads: 2, backend: 'cpu', warnings: [],
    logEvidence: r.logEvidence, logPy: r.logEvidence.map((l) => l + conv), grid: r.grid, ess: r.ess, resampled: r.resampled,
    particles: particlesOut, logWeights: r.logWeights, kappa: cfg.kappa, finalWeight: true, matchingTimes: new Float64Array(0),
  };
}
