// The bootstrap particle filter (MATH.md §3, Algorithm 3) against the Kalman oracle
// (test/support/kalman-oracle.ts) on every schedule × kernel pair, non-uniform grids,
// essThreshold τ ∈ {1, 0.5, 0.3}; the statistics of test/numerics/kalman.test.ts.
import { smc, SmcResult } from '../../lib/samplers';
import { GaussianMixture } from '../../lib/mixture';
import { Check, StatCase, abs, upper, holds } from './checks';
import { KernelConfig, KERNEL_CONFIGS, PRIOR, PRIOR_JSON, OBSERVED, Y0, D, libSchedule } from './kalman-problems';
import { chainFor, kalmanPerRun, compareRuns, summarize, ComparisonSummary, LinearGaussianChain, KalmanResult, zScore } from './kalman-oracle';
import { outputChoice, ChoiceStatistics } from './output-choice';

/**
 * Particles per run (N) and independent runs (K, each with its own context path). The DDPM
 * kernel's chain finds the forward path less likely than Euler's (its variance leaves out
 * Cov[x0 | z_t], MATH.md §2), so it gets twice the particles for the same Var log Ẑ.
 */
export const RUNS = 1000;
export function particlesFor(cfg: KernelConfig): number {
  return cfg.kernel === 'ddpm' ? 200 : 100;
}

// Bounds (calibration: test/numerics/kalman.test.ts header and tools/calibrate.ts).
export const Z_EXACT = 6;
export const Z_JENSEN = 6.5;
export const MAX_VAR_LOG_Z = 1;
/** Pooled self-normalised whitened mean and second moment: O(1/N) bias plus noise. */
export const POOLED_TOL = 0.25;

export const TAUS = [1, 0.5, 0.3] as const;

const model = GaussianMixture.fromJSON(PRIOR_JSON);

export function runFilter(cfg: KernelConfig, tau: number, seed: number, sizes = { particles: particlesFor(cfg), runs: RUNS }): Promise<SmcResult> {
  return smc({
    score: model,
    schedule: libSchedule(cfg.spec),
    kernel: cfg.kernel,
    grid: cfg.grid,
    observed: { indices: OBSERVED, values: Y0 },
    particles: sizes.particles,
    samples: sizes.runs,
    resampling: 'systematic',
    essThreshold: tau,
    seed,
    output: 'all',
  });
}

export function exactChain(cfg: KernelConfig): LinearGaussianChain {
  return chainFor(PRIOR, cfg.spec, cfg.kernel, cfg.grid, OBSERVED);
}

export interface FilterAnalysis {
  /** The particles (output 'all') against the Kalman answer. */
  all: ComparisonSummary;
  /** The one draw per run (output 'one'): z of E[R e] = 0 and E[R (e eᵀ − I)] = 0. */
  oneMean: number[];
  oneSecond: number[][];
  choice: ChoiceStatistics;
  answers: KalmanResult[];
}

export function analyse(res: SmcResult, chain: LinearGaussianChain, answers?: KalmanResult[]): FilterAnalysis {
  const runs = res.logEvidence.length, n = res.particles!.length / (runs * D);
  const k = answers ?? kalmanPerRun(chain, res.contextPath, runs);
  const all = summarize(compareRuns({ logEvidence: res.logEvidence, contextPath: res.contextPath, draws: res.particles!, logWeights: res.logWeights!, perRun: n }, chain, k, D));
  const one = compareRuns({ logEvidence: res.logEvidence, contextPath: res.contextPath, draws: res.samples, logWeights: null, perRun: 1 }, chain, k, D);
  const dX = chain.latent.length;
  const oneMean = Array.from({ length: dX }, (_, j) => zScore(one.mean.map((e, r) => one.ratio[r] * e[j])));
  const oneSecond = Array.from({ length: dX }, (_, j) =>
    Array.from({ length: dX }, (__, l) => zScore(one.second.map((s, r) => one.ratio[r] * (s[j][l] - (j === l ? 1 : 0))))),
  );
  return { all, oneMean, oneSecond, choice: outputChoice(res.samples, res.particles!, res.logWeights!, runs, n, D, chain.latent), answers: k };
}

/** Every check of one filter output against the oracle. */
export function filterChecks(a: FilterAnalysis): Check[] {
  const s = a.all;
  const out: Check[] = [
    upper('Var log Ẑ', s.varEll, MAX_VAR_LOG_Z),
    abs('z(E[Ẑ/Z] = 1)', s.zRatio, Z_EXACT),
    abs('z(E[log Ẑ − log Z] = −Var/2)', s.jensenGap / s.jensenSe, Z_JENSEN),
  ];
  const dX = s.zMean.length;
  for (let j = 0; j < dX; j++) {
    out.push(abs(`all: z(E[R e_${j}] = 0)`, s.zMean[j], Z_EXACT));
    out.push(abs(`all: pooled e_${j}`, s.pooledMean[j], POOLED_TOL));
    out.push(abs(`one: z(E[R e_${j}] = 0)`, a.oneMean[j], Z_EXACT));
  }
  for (let j = 0; j < dX; j++) {
    for (let l = j; l < dX; l++) {
      out.push(abs(`all: z(E[R (M_${j}${l} − I)] = 0)`, s.zSecond[j][l], Z_EXACT));
      out.push(abs(`all: pooled M_${j}${l} − I`, s.pooledSecond[j][l] - (j === l ? 1 : 0), POOLED_TOL));
      out.push(abs(`one: z(E[R (e e' − I)_${j}${l}] = 0)`, a.oneSecond[j][l], Z_EXACT));
    }
  }
  out.push(holds('one: every draw is one of its run\'s particles', a.choice.unmatched === 0));
  out.push(abs('choice: z(E[W of the draw] = Σ W²)', a.choice.zWeight, Z_EXACT));
  a.choice.zCoordinate.forEach((z, j) => out.push(abs(`choice: z(E[x_${j} of the draw] = Σ W x_${j})`, z, Z_EXACT)));
  return out;
}

/** What τ says about resampling: every step at τ = 1, some steps and unequal final weights below. */
export function resamplingChecks(res: SmcResult, tau: number): Check[] {
  let resampled = 0;
  for (const f of res.resampled) resampled += f;
  const fraction = resampled / res.resampled.length;
  if (tau === 1) return [holds('τ = 1 resamples at every step', fraction === 1)];
  const runs = res.logEvidence.length, n = res.logWeights!.length / runs;
  let unequal = 0;
  for (let r = 0; r < runs; r++) {
    const lw = res.logWeights!.subarray(r * n, (r + 1) * n);
    if (lw.some((x) => Math.abs(x - lw[0]) > 1e-9)) unequal++;
  }
  // the rule itself, at every run-step: resample exactly when ESS < τN (MATH.md §3)
  let disagree = 0;
  for (let k = 0; k < res.resampled.length; k++) if ((res.ess[k] < tau * n ? 1 : 0) !== res.resampled[k]) disagree++;
  return [
    holds('resampled exactly where ESS < τN', disagree === 0),
    { name: 'resampled fraction of run-steps', value: fraction, bound: 0.02, side: 'lower' },
    upper('resampled fraction of run-steps (at most)', fraction, 0.8),
    { name: 'runs ending with unequal weights / runs', value: unequal / runs, bound: 0.1, side: 'lower' },
  ];
}

export const KALMAN_SEED = 20250101;

export function kalmanCase(cfg: KernelConfig, tau: number): StatCase {
  return {
    name: `kalman: ${cfg.name}, τ = ${tau}`,
    seed: KALMAN_SEED + Math.round(10 * tau),
    async run(seed) {
      const res = await runFilter(cfg, tau, seed);
      return [...filterChecks(analyse(res, exactChain(cfg))), ...resamplingChecks(res, tau)];
    },
  };
}

export const KALMAN_CASES: StatCase[] = KERNEL_CONFIGS.flatMap((cfg) => TAUS.map((tau) => kalmanCase(cfg, tau)));
