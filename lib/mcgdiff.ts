// `mcgdiff`: MCGdiff (Cardoso et al. 2023) in the corrected form of docs/MATH.md §9.2, for any
// observation with an SVD (a mask, exact or noisy; a dense A; an operator with its SVD
// callbacks), on the grid of §9.1 (matching times as nodes).
import { rangeError, finiteNumber, oneOf, abortError, typeError } from './errors';
import { prepare, cpuUnlessNamed, weightedRunShape, runModel, problemWarnings, drawByWeight, finishWeighted, requireSvd, SmcResult, CommonOptions } from './samplers';
import { ResamplingScheme } from './driver';
import { normalizeLinearObservation } from './observation';
import { matchingTimes, observationGrid, pinStarts } from './matching';
import { mcgdiffModel, mcgdiffEvidenceCorrection } from './models/mcgdiff';
import { checkOptionKeys, COMMON_OPTION_NAMES } from './options';

export interface McgdiffOptions extends CommonOptions {
  /** Particles N per run. */
  particles: number;
  /** Independent runs K; each contributes one draw (or all its particles with output 'all'). */
  samples: number;
  /** Default 'systematic'. */
  resampling?: ResamplingScheme;
  /** Resample when ESS < essThreshold * N (default 1: every step). */
  essThreshold?: number;
  /** κ > 0, the variance of the pinning factor N(x̄_{τ_i,i}; ỹ_i, κ) (default 1e-4). */
  kappa?: number;
  /**
   * The bounded final weight w₀ (docs/MATH.md §9.2), which makes the target the posterior for
   * any κ and grid. Default: on when noiseStd > 0. Required (and on by default) when some
   * coordinate's matching level lies beyond T; not available with noiseStd = 0.
   */
  finalWeight?: boolean;
  /** 'one' (default): one particle per run drawn by its final weight. 'all': every particle with its log-weight. */
  output?: 'one' | 'all';
}

export interface McgdiffResult extends Omit<SmcResult, 'contextPath'> {
  kappa: number;
  /** Whether w₀ was applied. */
  finalWeight: boolean;
  /** τ_i per rotated coordinate (a grid node; Infinity: beyond T, seen only through w₀). */
  matchingTimes: Float64Array;
}

/** κ's default: the public code's `gaussian_var` (gabrielvc/mcg_diff). */
export const DEFAULT_KAPPA = 1e-4;

const MCGDIFF_OPTIONS = [...COMMON_OPTION_NAMES, 'particles', 'samples', 'resampling', 'essThreshold', 'kappa', 'finalWeight', 'output'];

export async function mcgdiff(options: McgdiffOptions): Promise<McgdiffResult> {
  const started = performance.now();
  checkOptionKeys('mcgdiff', options, MCGDIFF_OPTIONS);
  // The per-particle arithmetic runs on the host: 'auto' means the CPU here.
  const p = prepare({ ...options, backend: cpuUnlessNamed(options?.backend) });
  const { particles, runs, scheme, tau } = weightedRunShape(options);
  const kappa = finiteNumber('kappa', options.kappa ?? DEFAULT_KAPPA);
  if (!(kappa > 0)) throw rangeError('kappa', 'a positive number', options.kappa);
  if (options.finalWeight !== undefined && typeof options.finalWeight !== 'boolean') throw typeError('finalWeight', 'a boolean', options.finalWeight);
  const output = oneOf('output', options.output ?? 'one', ['one', 'all'] as const);
  const lin = p.linear ?? normalizeLinearObservation(options.observed, p.dim);
  const svd = requireSvd('mcgdiff', lin);
  if (p.backend.name !== 'cpu') throw new RangeError(`mcgdiff runs on the 'cpu' backend only, got backend '${p.backend.name}'`);
  const taus = matchingTimes(p.schedule, svd, lin.noiseStd);
  const grid = p.stepsGiven ? observationGrid(p.schedule, p.steps, taus) : p.grid;
  const q = { ...p, grid, steps: grid.length - 1 };
  const levels = pinStarts(p.schedule, grid, svd, lin.noiseStd);
  const beyond = Array.from(levels).some((k) => k > q.steps);
  if (lin.noiseStd === 0 && options.finalWeight === true) {
    throw new RangeError('finalWeight must be false (or left out) with noiseStd = 0: w₀ is a ratio of densities of the noisy observation (docs/MATH.md §9.2)');
  }
  if (beyond && options.finalWeight === false) {
    throw new RangeError(`finalWeight must be true: ${Array.from(levels).filter((k) => k > q.steps).length} rotated coordinate(s) have σ_y/s_i beyond the schedule's noise at T (λ_T < σ_y²/s_i²) and are seen only through w₀ (docs/MATH.md §9.2)`);
  }
  const finalWeight = lin.noiseStd > 0 && (options.finalWeight ?? true);
  if (options.signal?.aborted) throw abortError(options.signal);
  const model = mcgdiffModel({ kernel: q.kernel, finalNoise: q.finalNoise, observation: lin, levels, kappa, finalWeight });
  const result = await runModel(q, options, model, { runs, particles, essThreshold: tau, scheme });
  const logAlpha = Array.from(levels, (k) => (k <= q.steps ? q.schedule.logAlpha(grid[k]) : 0));
  const correction = mcgdiffEvidenceCorrection(lin, { logAlpha }, finalWeight);
  const samples = await drawByWeight(p, result, runs, particles);
  const out: McgdiffResult = {
    samples,
    shape: [runs, p.dim],
    method: 'mcgdiff',
    seconds: 0,
    threads: p.threads,
    backend: p.backend.name,
    warnings: problemWarnings(q),
    logEvidence: result.logEvidence,
    logPy: result.logEvidence.map((z) => z + correction),
    grid: result.grid,
    ess: result.ess,
    resampled: result.resampled,
    kappa,
    finalWeight,
    matchingTimes: Float64Array.from(levels, (k) => (k <= q.steps ? grid[k] : Infinity)),
  };
  return finishWeighted(p, out, result, q.steps, output, started);
}
