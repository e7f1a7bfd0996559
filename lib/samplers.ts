// The samplers of the seed (MATH.md §3) as Feynman–Kac models run by the one driver:
// replacement (with optional Langevin or RePaint correctors) and the bootstrap
// particle filter (SMCDiff).
import { selectBackend, Backend, BackendName } from './backend';
import { Schedule, KernelName, isSchedule, customGrid } from './schedules';
import { ScoreInput, validateScoreInput, modelDim, ignoresCondition } from './score';
import { ObservationInput, normalizeObservation, NormalizedObservation, isExactMask, normalizeLinearObservation, LinearObservation, ObservationSvd } from './observation';
import { svdFilterModel, PinnedPath } from './models/svd-bootstrap';
import { matchingTimes, observationGrid, pinStarts, pinnedPath, evidenceCorrection } from './matching';
import { runFeynmanKac, ResamplingScheme, RESAMPLING_SCHEMES, StepInfo, FeynmanKacModel, DriverProblem, DriverResult } from './driver';
import { Corrector } from './models/correctors';
import { replacementModel } from './models/replacement';
import { bootstrapModel } from './models/bootstrap';
import { BackwardKernelSpec, Context } from './models/backward-kernel';
import { typeError, rangeError, positiveInteger, nonNegativeInteger, finiteNumber, oneOf, abortError } from './errors';
import { threadsOption } from './threads';
import { GaussianMixture } from './mixture';
import { horizonWarning, stepWarning, collapseWarning } from './diagnostics';
import { checkOptionNames } from './options';
import { requireSizes } from './sizes';
import { hostFloat32, recycleHost } from './host-memory';
import { CheckpointedContextPath } from './context-path';
import { native } from './native';
import { GuidanceOptions, Guidance, guidanceOption, guidedScore, conditionOption, CfgScore } from './guidance';
import { cfgWeightedModel } from './models/cfg-weighted';

export type ContextKind = 'fixed' | 'forward';

/** Options every sampler takes. */
export interface CommonOptions {
  /** The score model: a function (z, t, context) => Float32Array, an object with score(), or a GaussianMixture. */
  score: ScoreInput;
  /** The noise schedule (schedules.ou(), schedules.vp(), schedules.ddpm()). */
  schedule: Schedule;
  /**
   * Number of backward steps S on the schedule's own grid (uniform; DDPM respaced). Give steps or
   * grid. With a noisy observation S is the total of docs/MATH.md §9.1's grid (matching times as nodes).
   */
  steps?: number;
  /** A time grid 0 = t_0 < … < t_S <= T of your own (non-uniform allowed; integer steps on 'ddpm'); S = grid.length - 1. */
  grid?: ArrayLike<number>;
  /**
   * The observation y = A x_0 + noiseStd ε (docs/MATH.md §8): a mask { indices, values, noiseStd? },
   * a matrix { A, y, noiseStd? }, or an operator { operator: { apply, applyT, svd? }, y, noiseStd? }.
   */
  observed: ObservationInput;
  /** State dimension D (needed when the score model does not state one). */
  dim?: number;
  /** 'euler' (continuous schedules) or 'ddpm'; default: the schedule's. */
  kernel?: KernelName;
  /** Seed of every random number (MATH.md §6). Default 0. */
  seed?: number;
  /** Worker threads (default: all cores). Results do not depend on it. */
  threads?: number;
  /** Keep the kernel noise at the last step (default false: X moves to its mean). */
  finalNoise?: boolean;
  /** Cancels the run: the Promise rejects with an AbortError. */
  signal?: AbortSignal;
  /** Called after every step; a promise it returns is awaited (its rejection fails the run). */
  onStep?: (info: StepInfo) => unknown;
  /** 'auto' (default), 'cpu' or 'cuda': asking for one that is not available is an error. */
  backend?: BackendName;
  /**
   * The class to generate, for a conditional score model: one class for every sample, or one per
   * sample; null (or NULL_CLASS, -1) is unconditional. The model sees it per row as
   * context.condition (docs/MATH.md §12).
   */
  condition?: number | null | ArrayLike<number | null>;
  /**
   * Classifier-free guidance { kind: 'cfg', scale } (score form s̃ = (1 − scale) s_∅ + scale s_c;
   * scale 1 is the conditional model) or classifier guidance { kind: 'classifier', scale,
   * classifierGradient } (docs/MATH.md §12). Heuristics except cfg scale 0 or 1, and classifier
   * guidance with scale 1 and the exact noisy classifier: README, "Guidance".
   */
  guidance?: GuidanceOptions;
}

export interface LangevinCorrectorOptions {
  kind: 'langevin';
  /** Corrector steps L per backward step. */
  steps: number;
  /** delta = gamma * sigma_s^2 (MATH.md §3). Give gamma or snr, not both. */
  gamma?: number;
  /** Signal-to-noise rule (Song et al. 2021, Alg. 5): delta = 2 alpha (r ||xi|| / ||grad||)^2. */
  snr?: number;
}
export interface RepaintCorrectorOptions {
  kind: 'repaint';
  /** Re-noise/denoise jumps U per step. */
  jumps: number;
}
export type CorrectorOptions = LangevinCorrectorOptions | RepaintCorrectorOptions;

export interface ReplacementOptions extends CommonOptions {
  /** Number of independent samples. */
  samples: number;
  /** Y context path: 'fixed' (Y_t = Y_0) or 'forward' (a noising path per sample). Default 'forward'. */
  context?: ContextKind;
  corrector?: CorrectorOptions;
  /** See SmcOptions.firstRun. */
  firstRun?: number;
}

export interface SmcOptions extends CommonOptions {
  /** Particles N per run. */
  particles: number;
  /** Independent runs K; each contributes one draw (or all its particles with output 'all'). */
  samples: number;
  /** Default 'systematic'. */
  resampling?: ResamplingScheme;
  /** Resample when ESS < essThreshold * N (1: every step, as in the seed; 0: never). Default 1. */
  essThreshold?: number;
  /** The filter's weights assume the forward context; 'fixed' is rejected. */
  context?: ContextKind;
  /** 'one' (default): one particle per run drawn by its final weight. 'all': every particle with its log-weight. */
  output?: 'one' | 'all';
  /**
   * The global index of this call's first run (default 0): the call draws runs firstRun …
   * firstRun + samples - 1 of a larger job, each exactly as one call of all the job's runs
   * draws it, since every random number is keyed by its run (docs/MATH.md §6). This is what
   * lets a job's runs be split into chunks anywhere (lib/queue/).
   */
  firstRun?: number;
}

export interface SampleResult {
  /** samples x D, observed coordinates filled in. */
  samples: Float32Array;
  shape: [number, number];
  method: string;
  seconds: number;
  threads: number;
  /** The backend that ran it. */
  backend: 'cpu' | 'cuda';
  /** Why the answer may be wrong although the run finished (lib/diagnostics.ts, README "Diagnostics"); empty when healthy. */
  warnings: string[];
}

export interface SmcResult extends SampleResult {
  /** log Ẑ per run: an unbiased (in Ẑ) estimate of the pinned path's normaliser, p(Y_{t_0:t_{S-1}} | Y_T) for an exact mask (MATH.md §3, §9.1). */
  logEvidence: Float64Array;
  /**
   * log p̂(y) per run: log Ẑ converted by the pinned path's forward density (docs/MATH.md §9.1); it
   * converges to log p(y) as the grid is refined. With noiseStd = 0 a density of ȳ = U^T y.
   */
  logPy: Float64Array;
  /** The time grid the run used (docs/MATH.md §9.1 builds it for a noisy observation). */
  grid: Float64Array;
  /** ESS after each step's reweighting, steps x runs (first step first). */
  ess: Float64Array;
  /** 1 where a run was resampled, steps x runs. */
  resampled: Uint8Array;
  /**
   * The Y context path each run used: (steps + 1) x runs x d_Y (grid index 0 = data); for a noisy or
   * dense observation the pinned path of the r rotated coordinates (entries before a coordinate's pin are 0).
   */
  contextPath: Float32Array;
  /** With output 'all': every particle, runs x particles x D, and its normalised log-weight. */
  particles?: Float32Array;
  logWeights?: Float64Array;
}

/** What smc returns with output 'all': particles and logWeights are always there. */
export type SmcAllResult = SmcResult & Required<Pick<SmcResult, 'particles' | 'logWeights'>>;

/** The options every sampler shares, validated (lib/chains.ts uses it too). */
export interface Prepared {
  score: ScoreInput;
  schedule: Schedule;
  kernel: KernelName;
  steps: number;
  grid: Float64Array;
  dim: number;
  /** The exact mask, for the seed's samplers. */
  obs?: NormalizedObservation;
  /** Any other observation: the SVD filter's (docs/MATH.md §9.1). */
  linear?: LinearObservation;
  /** Whether the grid came from `steps` (so §9.1 may build its own). */
  stepsGiven: boolean;
  seed: number;
  threads: number;
  finalNoise: boolean;
  backend: Backend;
  /** The option `condition` as given (one class per run once the run count is known: runModel). */
  condition: unknown;
  guidance?: Guidance;
}

/**
 * The backend of a method that runs on the CPU only: 'auto' (or none) means the CPU, not the
 * CUDA device another method would take; an explicit 'cuda' stays, for the method to refuse.
 */
export function cpuUnlessNamed(backend: BackendName | undefined): BackendName {
  return (backend ?? 'auto') === 'auto' ? 'cpu' : backend!;
}

export function prepare(o: CommonOptions, sampler = 'this sampler'): Prepared {
  if (typeof o !== 'object' || o === null) throw typeError('options', 'an object', o);
  const guidance = guidanceOption(o.guidance);
  if (guidance !== undefined && o.condition === undefined) {
    throw new TypeError(`guidance of kind '${guidance.kind}' needs condition: the class to generate (one, or one per sample)`);
  }
  if (guidance?.kind === 'cfg' && guidance.weighted && sampler !== 'smc' && sampler !== 'tds') {
    throw new TypeError(`guidance.weighted (classifier-free guidance corrected by weights) is an option of smc and tds only, not of ${sampler}`);
  }
  const given = validateScoreInput(o.score);
  // A class the model never sees would be a silent unconditional answer. Classifier guidance
  // takes its class through the classifier, so an unconditional model is right there.
  if (o.condition !== undefined && guidance?.kind !== 'classifier' && ignoresCondition(given)) {
    throw new TypeError(
      `condition needs a class-conditional score model (a ConditionalGaussianMixture, an OnnxScore with a class input, or a score callback that reads context.condition); ${String(given)} takes no class` +
        (guidance?.kind === 'cfg' ? ' (classifier-free guidance needs its conditional and unconditional predictions)' : ''),
    );
  }
  const score = guidedScore(given, guidance);
  if (!isSchedule(o.schedule)) throw typeError('schedule', 'a schedule (schedules.ou(), schedules.vp() or schedules.ddpm())', o.schedule);
  let steps: number, grid: Float64Array;
  if (o.grid !== undefined) {
    grid = customGrid(o.schedule, o.grid);
    steps = grid.length - 1;
    if (o.steps !== undefined && o.steps !== steps) throw rangeError('steps', `grid.length - 1 = ${steps} when a grid is given (or left out)`, o.steps);
  } else {
    steps = positiveInteger('steps', o.steps, 1_000_000);
    grid = o.schedule.grid(steps);  // validates steps against a discrete schedule
  }
  const declared = modelDim(score);
  let dim: number;
  if (o.dim !== undefined) {
    dim = positiveInteger('dim', o.dim);
    if (declared !== undefined && declared !== dim) throw rangeError('dim', `the score model's dim ${declared}`, o.dim);
  } else if (declared !== undefined) {
    dim = positiveInteger('score.dim', declared);
  } else {
    throw new TypeError('dim must be given when the score model does not declare one, got undefined');
  }
  const kernel = oneOf('kernel', o.kernel ?? o.schedule.defaultKernel, ['euler', 'ddpm'] as const);
  if (kernel === 'euler' && !o.schedule.continuous) {
    throw new RangeError(`kernel must be 'ddpm' for the discrete '${o.schedule.name}' schedule, got 'euler'`);
  }
  if (o.finalNoise !== undefined && typeof o.finalNoise !== 'boolean') throw typeError('finalNoise', 'a boolean', o.finalNoise);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw typeError('signal', 'an AbortSignal', o.signal);
  if (o.onStep !== undefined && typeof o.onStep !== 'function') throw typeError('onStep', 'a function', o.onStep);
  return {
    score,
    schedule: o.schedule,
    kernel,
    steps,
    grid,
    dim,
    obs: isExactMask(o.observed) ? normalizeObservation(o.observed, dim) : undefined,
    linear: isExactMask(o.observed) ? undefined : normalizeLinearObservation(o.observed, dim),
    stepsGiven: o.grid === undefined,
    seed: nonNegativeInteger('seed', o.seed ?? 0),
    threads: threadsOption(o.threads),
    finalNoise: o.finalNoise ?? false,
    condition: o.condition,
    guidance,
    // The SVD filter and weighted guidance run on the CPU: 'auto' picks it for them.
    backend: selectBackend(isExactMask(o.observed) && !(guidance?.kind === 'cfg' && guidance.weighted) ? o.backend ?? 'auto' : cpuUnlessNamed(o.backend)),
  };
}

export function corrector(c: CorrectorOptions | undefined): Corrector | undefined {
  if (c === undefined) return undefined;
  if (typeof c !== 'object' || c === null) throw typeError('corrector', "an object { kind: 'langevin' | 'repaint', … }", c);
  const kind = oneOf('corrector.kind', c.kind, ['langevin', 'repaint'] as const);
  if (kind === 'repaint') return { kind, jumps: nonNegativeInteger('corrector.jumps', (c as RepaintCorrectorOptions).jumps, 10000) };
  const l = c as LangevinCorrectorOptions;
  // A corrector iteration's index is a 16-bit field of its random stream's purpose word (MATH.md §6).
  const steps = nonNegativeInteger('corrector.steps', l.steps, 65536);
  if (l.gamma !== undefined && l.snr !== undefined) throw new TypeError('corrector must give gamma or snr, not both');
  if (l.snr !== undefined) {
    const snr = finiteNumber('corrector.snr', l.snr);
    if (!(snr > 0)) throw rangeError('corrector.snr', 'a positive number', l.snr);
    return { kind, steps, rule: 'snr', snr };
  }
  const gamma = finiteNumber('corrector.gamma', l.gamma ?? 0.1);
  if (!(gamma > 0)) throw rangeError('corrector.gamma', 'a positive number', l.gamma);
  return { kind, steps, rule: 'gamma', gamma };
}

/**
 * A run's sizes, checked before its context path or state is allocated (lib/sizes.ts): the
 * state and score (runs × particles × D floats each) and the context path ((S + 1) × runs × d_Y).
 */
export function requireRunSizes(p: Prepared, runs: number, particles: number): void {
  const rows = runs * particles, where = `particles ${particles} x samples ${runs} x dimension ${p.dim}, ${p.steps} steps`;
  const onHost = p.backend.name === 'cpu';
  requireSizes(where, [
    { what: 'the particles (particles x samples x dimension)', elements: onHost ? rows * p.dim : 0, bytesPerElement: 4 },
    { what: 'the score buffer (particles x samples x dimension)', elements: onHost ? rows * p.dim : 0, bytesPerElement: 4 },
    { what: 'the context path ((steps + 1) x samples x observed coordinates)', elements: (p.steps + 1) * runs * (p.obs ? p.obs.indices.length : p.linear!.rows), bytesPerElement: 4 },
  ]);
}

/** alpha and sigma² of each step's transition on the grid (step i at i − 1). */
function pathTransitions(p: Prepared): { alphaTs: Float64Array; sigma2Ts: Float64Array } {
  const grid = p.grid;
  const alphaTs = new Float64Array(p.steps), sigma2Ts = new Float64Array(p.steps);
  for (let i = 1; i <= p.steps; i++) {
    const tr = p.schedule.transition(grid[i - 1], grid[i]);
    alphaTs[i - 1] = tr.alpha;
    sigma2Ts[i - 1] = tr.sigma2;
  }
  return { alphaTs, sigma2Ts };
}

/**
 * replacement's context paths larger than checkpointAboveBytes are kept in part
 * (lib/context-path.ts): drawing the path twice costs less than first touching that much
 * fresh memory. Measured on the development VM (bench/step-profile.ts, 2 threads): 364 MB
 * (64000 samples × 20 × 71) 16–20% more particle-steps/s kept in part; 312 MB (6400 × 200 ×
 * 61) the same; 62 MB (25600 × 2 × 301) 5–15% fewer. Tests lower it to compare the two.
 */
export const contextPathPolicy = { checkpointAboveBytes: 64 * 2 ** 20 };

/**
 * replacement's forward context: on the CPU a path above contextPathPolicy's size kept in part
 * (the same values), else the whole path.
 */
async function replacementContext(p: Prepared, runs: number, runOffset: number): Promise<Context> {
  const slice = runs * p.obs!.indices.length;
  if (p.backend.name !== 'cpu' || (p.steps + 1) * slice * 4 <= contextPathPolicy.checkpointAboveBytes) {
    return { kind: 'path', path: await forwardPath(p, runs, runOffset) };
  }
  requireSizes(`the context path (steps ${p.steps} + 1, samples ${runs}, ${p.obs!.indices.length} observed coordinates)`, [
    { what: 'the context path (kept slices of samples x observed coordinates)', elements: CheckpointedContextPath.floats(p.steps, slice), bytesPerElement: 4 },
  ]);
  const { alphaTs, sigma2Ts } = pathTransitions(p);
  const path = await CheckpointedContextPath.create({
    y0: p.obs!.values, runs, runOffset, alphaTs, sigma2Ts, stream: { seed: p.seed, step: 0, purpose: native.purposes.contextPath }, threads: p.threads,
  });
  return { kind: 'checkpointed', path };
}

/** The forward context path of MATH.md §3, one per run, laid out (steps + 1) x runs x d_Y. */
export async function forwardPath(p: Prepared, runs: number, runOffset = 0): Promise<Float32Array> {
  const { alphaTs, sigma2Ts } = pathTransitions(p);
  requireSizes(`the context path (steps ${p.steps} + 1, samples ${runs}, ${p.obs!.indices.length} observed coordinates)`, [
    { what: 'the context path ((steps + 1) x samples x observed coordinates)', elements: (p.steps + 1) * runs * p.obs!.indices.length, bytesPerElement: 4 },
  ]);
  const path = hostFloat32((p.steps + 1) * runs * p.obs!.indices.length);
  await p.backend.ops.forwardContextPath(p.obs!.values, runs, runOffset, alphaTs, sigma2Ts, { seed: p.seed, step: 0, purpose: p.backend.ops.purposes.contextPath }, path, p.threads);
  return path;
}

function repeatRows(values: Float32Array, runs: number): Float32Array {
  const out = new Float32Array(values.length * runs);
  for (let r = 0; r < runs; r++) out.set(values, r * values.length);
  return out;
}

/** The warnings that depend on the problem, not the run: the horizon and the step (lib/diagnostics.ts). */
export function problemWarnings(p: Prepared): string[] {
  const out: string[] = [];
  if (p.score instanceof GaussianMixture) {
    const w = horizonWarning(p.score.marginals(), p.schedule, p.grid[p.grid.length - 1]);
    if (w) out.push(w);
  }
  const w = stepWarning(p.schedule, p.kernel, p.grid);
  if (w) out.push(w);
  return out;
}

/** The backward kernel's part of a model: coordinates, kernel, context and last-step rule. */
export function kernelSpec(p: Prepared, context: Context): BackwardKernelSpec {
  return { kernel: p.kernel, latent: p.obs!.latent, observed: p.obs!.indices, context, finalNoise: p.finalNoise };
}

/** Runs a Feynman–Kac model with the options every sampler shares (lib/driver.ts). */
export function runModel(
  p: Prepared,
  options: CommonOptions,
  model: FeynmanKacModel,
  shape: Pick<DriverProblem, 'runs' | 'particles' | 'essThreshold' | 'scheme'> & { runOffset?: number },
): Promise<DriverResult> {
  return runFeynmanKac({
    backend: p.backend,
    model,
    score: p.score,
    schedule: p.schedule,
    grid: p.grid,
    dim: p.dim,
    seed: p.seed,
    threads: p.threads,
    signal: options.signal,
    onStep: options.onStep,
    condition: conditionOption(p.condition, shape.runs),
    ...shape,
    runOffset: shape.runOffset ?? 0,
  });
}

/** The SVD of a linear observation, or the error of a method that needs it (docs/MATH.md §8). */
export function requireSvd(method: string, lin: LinearObservation): ObservationSvd {
  if (lin.svd) return lin.svd;
  throw new TypeError(
    `${method} needs the SVD of the observation operator: give observed.operator.svd = { Vr, Vrt, U, Ut, s } (docs/MATH.md §8, §9.1), got an operator with apply and applyT only`,
  );
}

/** The grid of docs/MATH.md §9.1 (from `steps`; a caller's grid is kept) and every run's pinned path. */
async function linearProblem(p: Prepared, method: string, runs: number, runOffset: number): Promise<{ p: Prepared; svd: ObservationSvd; path: PinnedPath }> {
  const lin = p.linear!;
  const svd = requireSvd(method, lin);
  if (p.backend.name !== 'cpu') throw new RangeError(`${method} with a noisy or dense observation runs on the 'cpu' backend only, got backend '${p.backend.name}'`);
  const grid = p.stepsGiven ? observationGrid(p.schedule, p.steps, matchingTimes(p.schedule, svd, lin.noiseStd)) : p.grid;
  const q: Prepared = { ...p, grid, steps: grid.length - 1 };
  const start = pinStarts(p.schedule, grid, svd, lin.noiseStd);
  requireSizes(`the pinned path (steps ${q.steps} + 1, samples ${runs}, rank ${svd.rank})`, [
    { what: 'the pinned path ((steps + 1) x samples x rank)', elements: 2 * (q.steps + 1) * runs * svd.rank, bytesPerElement: 4 },
  ]);
  const values = await pinnedPath(p.backend.ops, p.schedule, grid, svd, lin.noiseStd, start, runs, p.seed, p.threads, runOffset);
  return { p: q, svd, path: { values, start } };
}

/**
 * Replacement sampling (MATH.md §3, Algorithm 1), optionally with a Langevin corrector
 * (Algorithm 2) or RePaint jumps. Each sample is an independent run with its own path.
 */
export async function replacement(options: ReplacementOptions): Promise<SampleResult> {
  const started = performance.now();
  checkOptionNames('replacement', options);
  const p = prepare(options, 'replacement');
  const samples = positiveInteger('samples', options.samples);
  const context = oneOf('context', options.context ?? 'forward', ['fixed', 'forward'] as const);
  const corr = corrector(options.corrector);
  const firstRun = nonNegativeInteger('firstRun', options.firstRun ?? 0, 2 ** 32 - samples);
  requireRunSizes(p, samples, 1);
  options.signal?.aborted && throwAbort(options.signal);
  if (p.linear) {
    if (options.context === 'fixed') throw new RangeError("context must be 'forward' for a noisy or dense observation (the pinned noised path, docs/MATH.md §9.1), got 'fixed'");
    const { p: q, path } = await linearProblem(p, 'replacement', samples, firstRun);
    const model = svdFilterModel({ kernel: q.kernel, finalNoise: q.finalNoise, observation: q.linear!, path, weighted: false, name: corr === undefined ? 'replacement' : corr.kind, corrector: corr });
    const result = await runModel(q, options, model, { runs: samples, runOffset: firstRun, particles: 1, essThreshold: 0, scheme: 'systematic' });
    const drawn = await q.backend.memory.readF32(result.particles);
    q.backend.memory.free(result.particles);
    return { samples: drawn, shape: [samples, q.dim], method: model.name, seconds: (performance.now() - started) / 1000, threads: q.threads, backend: q.backend.name, warnings: problemWarnings(q) };
  }
  const ctx: Context = context === 'fixed' ? { kind: 'fixed', values: repeatRows(p.obs!.values, samples) } : await replacementContext(p, samples, firstRun);
  const model = replacementModel({ ...kernelSpec(p, ctx), corrector: corr });
  const result = await runModel(p, options, model, {
    runs: samples,
    runOffset: firstRun,
    particles: 1,
    essThreshold: 0,
    scheme: 'systematic',
  });
  // The run is over and succeeded: no slice of its path is read again.
  if (ctx.kind === 'checkpointed') ctx.path.release();
  else if (ctx.kind === 'path') recycleHost(ctx.path);
  const drawn = await p.backend.memory.readF32(result.particles);
  p.backend.memory.free(result.particles);
  return {
    samples: drawn,
    shape: [samples, p.dim],
    method: model.name,
    seconds: (performance.now() - started) / 1000,
    threads: p.threads,
    backend: p.backend.name,
    warnings: problemWarnings(p),
  };
}

/** The options every weighted method shares, checked in one place: particles N, samples K, the scheme and the ESS threshold. */
export function weightedRunShape(options: { particles: unknown; samples: unknown; resampling?: unknown; essThreshold?: unknown }): { particles: number; runs: number; scheme: ResamplingScheme; tau: number } {
  const particles = positiveInteger('particles', options.particles);
  const runs = positiveInteger('samples', options.samples);
  if (particles * runs > 2 ** 31 - 1) throw rangeError('particles * samples', 'at most 2^31 - 1', particles * runs);
  const scheme = oneOf('resampling', options.resampling ?? 'systematic', RESAMPLING_SCHEMES);
  const tau = finiteNumber('essThreshold', options.essThreshold ?? 1);
  if (tau < 0 || tau > 1) throw rangeError('essThreshold', 'a number in [0, 1]', options.essThreshold);
  return { particles, runs, scheme, tau };
}

/**
 * The bootstrap particle filter (SMCDiff, MATH.md §3, Algorithm 3): `samples` independent
 * runs of `particles` particles, batched so the score model sees every run's particles
 * in one call per step; resampling acts within each run.
 */
export function smc(options: SmcOptions & { output: 'all' }): Promise<SmcAllResult>;
export function smc(options: SmcOptions): Promise<SmcResult>;
export async function smc(options: SmcOptions): Promise<SmcResult> {
  const started = performance.now();
  checkOptionNames('smc', options);
  const p = prepare(options, 'smc');
  const { particles, runs, scheme, tau } = weightedRunShape(options);
  const context = oneOf('context', options.context ?? 'forward', ['fixed', 'forward'] as const);
  if (context !== 'forward') {
    throw new RangeError("context must be 'forward' for smc: the filter's weights assume the noising path (MATH.md §3), got 'fixed'");
  }
  if ((options as { corrector?: unknown }).corrector !== undefined) {
    throw new TypeError('corrector is not supported by smc: the filter weights the bare backward kernel');
  }
  const output = oneOf('output', options.output ?? 'one', ['one', 'all'] as const);
  const firstRun = nonNegativeInteger('firstRun', options.firstRun ?? 0, 2 ** 32 - runs);
  requireRunSizes(p, runs, particles);
  options.signal?.aborted && throwAbort(options.signal);
  let q = p, path: Float32Array, model: FeynmanKacModel, svd: ObservationSvd, starts: Int32Array, rows: number, noiseStd: number;
  if (p.linear) {
    // docs/MATH.md §9.1: the SVD bootstrap filter, on its own grid.
    if (p.guidance?.kind === 'cfg' && p.guidance.weighted) {
      throw new TypeError('guidance.weighted needs an exact mask observation (or none: observed = { indices: [], values: [] }), got a noisy or dense one');
    }
    const lp = await linearProblem(p, 'smc', runs, firstRun);
    q = lp.p;
    path = lp.path.values;
    svd = lp.svd;
    starts = lp.path.start;
    rows = p.linear.rows;
    noiseStd = p.linear.noiseStd;
    model = svdFilterModel({ kernel: q.kernel, finalNoise: q.finalNoise, observation: p.linear, path: lp.path, weighted: true, name: 'smc' });
  } else {
    // An exact mask: the seed's filter (Algorithm 3), unchanged.
    path = await forwardPath(p, runs, firstRun);
    const mask = normalizeLinearObservation(options.observed, p.dim);
    svd = mask.svd!;
    starts = new Int32Array(svd.rank);
    rows = mask.rows;
    noiseStd = 0;
    model = bootstrapModel(kernelSpec(p, { kind: 'path', path }));
    if (p.guidance?.kind === 'cfg' && p.guidance.weighted) {
      if (p.backend.name !== 'cpu') throw new RangeError(`guidance.weighted runs on the 'cpu' backend, got backend '${p.backend.name}'`);
      model = cfgWeightedModel(kernelSpec(p, { kind: 'path', path }), p.score as CfgScore);
    }
  }
  const result = await runModel(q, options, model, {
    runs,
    runOffset: firstRun,
    particles,
    essThreshold: tau,
    scheme,
  });
  let correction: Float64Array;
  try {
    correction = await evidenceCorrection(q.schedule, result.grid, svd, noiseStd, rows, starts, path, runs, q.threads);
  } catch (e) {
    p.backend.memory.free(result.particles);
    throw e;
  }
  const logPy = result.logEvidence.map((z, r) => z + correction[r]);
  const samples = await drawByWeight(p, result, runs, particles, firstRun);
  const out: SmcResult = {
    samples,
    shape: [runs, p.dim],
    method: 'smc',
    seconds: 0,
    threads: p.threads,
    backend: p.backend.name,
    warnings: problemWarnings(q),
    logEvidence: result.logEvidence,
    logPy,
    grid: result.grid,
    ess: result.ess,
    resampled: result.resampled,
    contextPath: path,
  };
  return finishWeighted(p, out, result, q.steps, output, started, firstRun);
}

/** One draw per run, chosen by its final weight, never uniformly (MATH.md §3); gathered where the particles are, so only the K chosen rows come back from a device. */
export async function drawByWeight(p: Prepared, result: DriverResult, runs: number, particles: number, runOffset = 0): Promise<Float32Array> {
  try {
    const chosen = new Int32Array(runs);
    const choice = p.backend.ops.chooseByWeight({ runs, particles, dim: p.dim, runOffset }, result.logWeights, { seed: p.seed, step: 0, purpose: p.backend.ops.purposes.outputChoice }, chosen);
    if (choice.status !== 'ok') throw new RangeError(`run ${choice.index} ended with no positive weight`);
    const samples = hostFloat32(runs * p.dim);
    await p.backend.ops.gatherRowsAsync(result.particles, p.dim, chosen.map((k, r) => r * particles + k), samples, 1);
    return samples;
  } catch (e) {
    // The caller frees the particles only when this succeeds (finishWeighted).
    p.backend.memory.free(result.particles);
    throw e;
  }
}

/** The end of a weighted sampler's result: the collapse warning, every particle with output 'all', the state freed, the seconds. */
export async function finishWeighted<R extends SampleResult & { ess: Float64Array; particles?: Float32Array; logWeights?: Float64Array }>(
  p: Prepared, out: R, result: DriverResult, steps: number, output: 'one' | 'all', started: number, runOffset = 0,
): Promise<R> {
  const runs = out.shape[0], particles = result.logWeights.length / runs;
  const collapse = collapseWarning(result.ess, steps, runs, particles, runOffset, result.finalEss);
  if (collapse) out.warnings.push(collapse);
  if (output === 'all') {
    out.particles = await p.backend.memory.readF32(result.particles);
    out.logWeights = result.logWeights;
  } else {
    // The draws are copies (drawByWeight): the particles are no one's now.
    p.backend.memory.recycle?.(result.particles);
  }
  p.backend.memory.free(result.particles);
  out.seconds = (performance.now() - started) / 1000;
  return out;
}

function throwAbort(signal: AbortSignal): never {
  throw abortError(signal);
}
