// The output choice of the filter (MATH.md §3: "the output draw is chosen by weight, never
// uniformly"): given a run's final particles x_k and normalised weights W_k, the returned
// draw must be x_k with probability W_k. Conditionally on the particles this gives two exact
// z-tests over independent runs:
//   W(draw):  E = Σ_g W_g²,  Var = Σ_g W_g³ − (Σ_g W_g²)²      (g: groups of identical rows)
//   x(draw):  E = Σ_k W_k x_k, Var = Σ_k W_k x_k² − (Σ_k W_k x_k)²
// A uniform choice has E[W(draw)] = Σ_g (n_g / N) W_g < Σ_g W_g² whenever the weights differ.

import { smc } from '../../lib/samplers';
import { GaussianMixture } from '../../lib/mixture';
import { Check, StatCase, abs, holds } from './checks';
import { KERNEL_CONFIGS, PRIOR_JSON, OBSERVED, LATENT, Y0, D, libSchedule } from './kalman-problems';

export interface ChoiceStatistics {
  /** z of Σ_r (W(draw_r) − E_r) against its exact sd (0 when every run has equal weights). */
  zWeight: number;
  /** Per latent coordinate, z of Σ_r (x(draw_r) − E_r). */
  zCoordinate: number[];
  /** Runs whose draw is none of its particles (must be 0). */
  unmatched: number;
  /** Runs whose weights were not all equal (where the choice matters). */
  informative: number;
}

export function outputChoice(
  samples: Float32Array,
  particles: Float32Array,
  logWeights: Float64Array,
  runs: number,
  n: number,
  dim: number,
  latent: number[],
): ChoiceStatistics {
  let sumW = 0, varW = 0, unmatched = 0, informative = 0;
  const sumX = new Array<number>(latent.length).fill(0), varX = new Array<number>(latent.length).fill(0);
  const same = (a: number, b: number, arr: Float32Array, brr: Float32Array) => latent.every((j) => arr[a * dim + j] === brr[b * dim + j]);
  for (let r = 0; r < runs; r++) {
    // Groups of identical rows (copies made by a resampling at the noise-free last step),
    // found through their first latent coordinate.
    const byFirst = new Map<number, number[]>();
    const groupOf = new Int32Array(n), groupWeight: number[] = [];
    const m1 = new Array<number>(latent.length).fill(0), m2 = new Array<number>(latent.length).fill(0);
    for (let k = 0; k < n; k++) {
      const row = r * n + k, w = Math.exp(logWeights[row]);
      const first = particles[row * dim + latent[0]];
      let list = byFirst.get(first);
      if (list === undefined) byFirst.set(first, (list = []));
      const g = list.find((q) => same(r * n + q, row, particles, particles));
      if (g === undefined) {
        list.push(k);
        groupOf[k] = groupWeight.length;
        groupWeight.push(w);
      } else {
        groupOf[k] = groupOf[g];
        groupWeight[groupOf[g]] += w;
      }
      latent.forEach((j, a) => {
        const x = particles[row * dim + j];
        m1[a] += w * x;
        m2[a] += w * x * x;
      });
    }
    const candidates = byFirst.get(samples[r * dim + latent[0]]) ?? [];
    const match = candidates.find((q) => same(r * n + q, r, particles, samples));
    const chosen = match === undefined ? undefined : groupWeight[groupOf[match]];
    let s2 = 0, s3 = 0;
    for (const w of groupWeight) {
      s2 += w * w;
      s3 += w * w * w;
    }
    if (chosen === undefined) {
      unmatched++;
      continue;
    }
    const v = Math.max(s3 - s2 * s2, 0);
    if (v > 1e-15) informative++;
    sumW += chosen - s2;
    varW += v;
    latent.forEach((j, a) => {
      sumX[a] += samples[r * dim + j] - m1[a];
      varX[a] += Math.max(m2[a] - m1[a] * m1[a], 0);
    });
  }
  const z = (s: number, v: number) => (v > 0 ? s / Math.sqrt(v) : Math.abs(s) < 1e-9 ? 0 : Infinity);
  return { zWeight: z(sumW, varW), zCoordinate: sumX.map((s, a) => z(s, varX[a])), unmatched, informative };
}

// ---- the dedicated case: no resampling, so the final weights are far from equal ---------------

export const CHOICE_RUNS = 2000;
export const CHOICE_PARTICLES = 50;
export const Z_CHOICE = 5.5;

/** smc with essThreshold 0 (never resample) on ou × euler; output 'all' also returns the chosen draw. */
export async function runChoice(seed: number) {
  const cfg = KERNEL_CONFIGS[0];
  return smc({
    score: GaussianMixture.fromJSON(PRIOR_JSON),
    schedule: libSchedule(cfg.spec),
    grid: cfg.grid,
    observed: { indices: OBSERVED, values: Y0 },
    particles: CHOICE_PARTICLES,
    samples: CHOICE_RUNS,
    essThreshold: 0,
    seed,
    output: 'all',
  });
}

export function choiceChecks(st: ChoiceStatistics): Check[] {
  return [
    holds('every draw is one of its run\'s particles', st.unmatched === 0),
    { name: 'runs where the choice matters', value: st.informative, bound: CHOICE_RUNS / 2, side: 'lower' },
    abs('z(E[W of the draw] = Σ W²)', st.zWeight, Z_CHOICE),
    ...st.zCoordinate.map((z, j) => abs(`z(E[x_${j} of the draw] = Σ W x_${j})`, z, Z_CHOICE)),
  ];
}

export const CHOICE_CASE: StatCase = {
  name: 'output choice: τ = 0, N = 50, K = 2000',
  seed: 31337,
  async run(seed) {
    const res = await runChoice(seed);
    return choiceChecks(outputChoice(res.samples, res.particles!, res.logWeights!, CHOICE_RUNS, CHOICE_PARTICLES, D, LATENT));
  },
};
