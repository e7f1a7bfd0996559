// `tds`: the twisted diffusion sampler (docs/MATH.md §10) on the shared driver, for
// observations of the state itself, exact or noisy: y = x₀[M] + σ_y ε.
import { typeError, rangeError, finiteNumber, oneOf, abortError } from './errors';
import { requireSizes } from './sizes';
import { prepare, cpuUnlessNamed, weightedRunShape, runModel, problemWarnings, drawByWeight, finishWeighted, SmcResult, CommonOptions } from './samplers';
import { ResamplingScheme } from './driver';
import { GaussianMixture } from './mixture';
import { normalizeLinearObservation, noiseOf, ObservationInput } from './observation';
import { twistedModel, twistedScoreEvaluations, TwistGradient, ScoreVjp, LogLikelihood } from './models/twisted';
import { checkOptionKeys, COMMON_OPTION_NAMES } from './options';
import type { CfgScore } from './guidance';

export type { TwistGradient, ScoreVjp, LogLikelihood, LikelihoodContext } from './models/twisted';

export interface TdsOptions extends Omit<CommonOptions, 'observed'> {
  /** Observed coordinates, their values, and the observation noise σ_y (default 0: exact). Give this or `likelihood`. */
  /** A coordinate mask (exact or noisy), or a matrix or operator observation with noiseStd > 0 (docs/MATH.md §8, §10). */
  observed?: ObservationInput;
  /**
   * A general observation model instead: log p(y | x) and its gradient for rows of x (e.g. a
   * classifier's log p(c | x)). The twist is the likelihood at Tweedie's x̂₀(x_t), the final
   * weight the likelihood at x₀ (docs/MATH.md §10).
   */
  likelihood?: LogLikelihood;
  /** Particles N per run. */
  particles: number;
  /** Independent runs K; each contributes one draw (or all its particles with output 'all'). */
  samples: number;
  /** Default 'systematic'. */
  resampling?: ResamplingScheme;
  /** Resample when ESS < essThreshold * N (default 1: after every weight at t > 0). */
  essThreshold?: number;
  /** τ² of the twist's variance ρ_t = λ_t τ² / (λ_t + τ²) and of the identity gradient (default 1). */
  twistTau2?: number;
  /**
   * Where the twist's gradient comes from (default 'auto': 'exact' for a GaussianMixture,
   * 'vjp' for a score model with a vjp method, else 'identity'). Every choice is consistent;
   * they differ in cost and in how even the weights stay (README, "Twisted SMC").
   */
  gradient?: 'auto' | TwistGradient;
  /** 'one' (default): one particle per run drawn by its final weight. 'all': every particle with its log-weight. */
  output?: 'one' | 'all';
}

export interface TdsResult extends Omit<SmcResult, 'contextPath'> {
  /** The gradient source that ran. */
  gradient: TwistGradient;
  /** Score evaluations per particle of a run (the first at x_T, one per proposal, two more per step for finite differences). */
  scoreEvaluations: number;
}

const TDS_OPTIONS = [...COMMON_OPTION_NAMES, 'particles', 'samples', 'resampling', 'essThreshold', 'twistTau2', 'gradient', 'output', 'likelihood'];

/** Twisted SMC (docs/MATH.md §10): particles steered towards the observation, corrected by their weights. */
export async function tds(options: TdsOptions): Promise<TdsResult> {
  const started = performance.now();
  checkOptionKeys('tds', options, TDS_OPTIONS);
  const likelihood = options?.likelihood;
  if (likelihood !== undefined && typeof likelihood !== 'function') throw typeError('likelihood', 'a function (x, context) => { value, gradient }', likelihood);
  if (likelihood !== undefined && options.observed !== undefined) {
    throw new TypeError('tds takes observed or likelihood, not both: put the observation into the likelihood');
  }
  if (likelihood === undefined && options?.observed === undefined) {
    throw typeError('observed', 'an object { indices, values, noiseStd? } (or give likelihood)', undefined);
  }
  const given = options.observed as Record<string, unknown> | undefined;
  if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given))) {
    throw typeError('observed', 'an object { indices, values, noiseStd? }, { A, y, noiseStd } or { operator, y, noiseStd }', given);
  }
  // A noisy mask of every coordinate leaves nothing to the mask path's latent block: it is the
  // same observation as those rows of I (what smc makes of it), so it takes the matrix path.
  const dim = (options.score as { dim?: unknown } | undefined)?.dim ?? options.dim;
  const everyCoordinate = given !== undefined && given.noiseStd !== undefined && given.noiseStd !== 0 && typeof dim === 'number' &&
    typeof (given.indices as ArrayLike<number> | undefined)?.length === 'number' && (given.indices as ArrayLike<number>).length >= dim;
  const matrixLike = given !== undefined && (given.A !== undefined || given.operator !== undefined || everyCoordinate);
  // The mask alone (its noise is the twist's and the final weight's, docs/MATH.md §10); a
  // matrix or operator observation is checked below, once the dimension is known.
  const common: CommonOptions = { ...options, backend: cpuUnlessNamed(options.backend), observed: given && !matrixLike ? { indices: given.indices as ArrayLike<number>, values: given.values as ArrayLike<number> } : { indices: [], values: [] } };
  const p = prepare(common, 'tds');
  let linear = matrixLike ? normalizeLinearObservation(given, p.dim) : undefined;
  if (linear && !linear.svd) {
    // The twist is evaluated in the basis of A's right singular vectors (docs/MATH.md §10): an
    // operator given with A and Aᵀ only is materialised once (D calls of apply) and decomposed
    // as a dense A is, with the same checks (rank, an infeasible noiseless y).
    requireSizes(`tds: the operator as a dense matrix (d_y ${linear.rows} x D ${p.dim})`, [{ what: 'A (d_y x D, float64)', elements: linear.rows * p.dim, bytesPerElement: 8 }]);
    linear = normalizeLinearObservation({ A: linear.dense(), rows: linear.rows, y: linear.y, noiseStd: linear.noiseStd }, p.dim);
  }
  if (p.backend.name !== 'cpu') throw new RangeError(`tds runs on the 'cpu' backend, got backend '${p.backend.name}'`);
  if (p.finalNoise) throw new RangeError('finalNoise must be false for tds: its last step is deterministic and weighed by the likelihood (docs/MATH.md §10)');
  const obs = (options.observed ?? {}) as { noiseStd?: unknown };
  const noiseStd = linear ? linear.noiseStd : noiseOf('observed.noiseStd', obs.noiseStd);
  const { particles, runs, scheme, tau } = weightedRunShape(options);
  const tau2 = finiteNumber('twistTau2', options.twistTau2 ?? 1);
  if (!(tau2 > 0)) throw rangeError('twistTau2', 'a positive number', options.twistTau2);
  const output = oneOf('output', options.output ?? 'one', ['one', 'all'] as const);
  const requested = oneOf('gradient', options.gradient ?? 'auto', ['auto', 'exact', 'vjp', 'finite-difference', 'identity', 'none'] as const);
  const vjp = typeof p.score === 'object' && p.score !== null && typeof (p.score as { vjp?: unknown }).vjp === 'function'
    ? ((p.score as unknown as { vjp: ScoreVjp }).vjp.bind(p.score) as ScoreVjp)
    : undefined;
  const mixture = p.score instanceof GaussianMixture ? p.score : undefined;
  const gradient: TwistGradient = requested === 'auto' ? (mixture ? 'exact' : vjp ? 'vjp' : 'identity') : requested;
  if (gradient === 'exact' && !mixture) {
    throw new TypeError("gradient 'exact' needs a GaussianMixture score model (its Jacobian is known); use 'vjp', 'finite-difference', 'identity' or 'none'");
  }
  if (gradient === 'vjp' && !vjp) {
    throw new TypeError("gradient 'vjp' needs a score model with a vjp(z, t, u, context) method returning (ds/dz)^T u");
  }
  if (gradient === 'vjp' && p.score && (p.score as { parameterization?: string }).parameterization && (p.score as { parameterization?: string }).parameterization !== 'score') {
    throw new TypeError("gradient 'vjp' needs a model parameterized as a score: its vjp is of the score");
  }
  if (options.signal?.aborted) throw abortError(options.signal);
  const model = twistedModel({
    kernel: p.kernel,
    observed: p.obs!.indices,
    values: p.obs!.values,
    noiseStd,
    tau2,
    gradient,
    mixture: gradient === 'exact' ? mixture!.nativeCore() : undefined,
    vjp,
    likelihood,
    linear,
    // Weighted CFG (docs/MATH.md §12): proposals from the guided score, target the conditional model.
    cfg: p.guidance?.kind === 'cfg' && p.guidance.weighted ? (p.score as CfgScore) : undefined,
    signal: options.signal,
  });
  const result = await runModel(p, common, model, { runs, particles, essThreshold: tau, scheme });
  const samples = await drawByWeight(p, result, runs, particles);
  const out: TdsResult = {
    samples,
    shape: [runs, p.dim],
    method: 'tds',
    seconds: 0,
    threads: p.threads,
    backend: p.backend.name,
    warnings: problemWarnings(p),
    logEvidence: result.logEvidence,
    // The telescoping weights make Ẑ unbiased for p_θ(y) itself (docs/MATH.md §10).
    logPy: result.logEvidence,
    grid: result.grid,
    ess: result.ess,
    resampled: result.resampled,
    gradient,
    scoreEvaluations: twistedScoreEvaluations(p.steps, gradient),
  };
  return finishWeighted(p, out, result, p.steps, output, started);
}
