// The one sequential Monte Carlo driver (MATH.md §3). A sampler is a Feynman–Kac model
// (lib/models/): an initial draw, a move for each step, a log-potential for each step and
// optional initial, final and corrector parts, each written against the backend's
// operations. The driver owns only what every model shares: the time grid, the batch of
// runs, the state buffers, normalisation, ESS, adaptive resampling, the log-evidence,
// abort, progress, giving the event loop a turn, and freeing everything, on success or not.
//
// One step goes t = grid[i] → s = grid[i - 1], i = S … 1:
//   weigh (the model writes log-potential increments) → reweight, ESS, log Ẑ (driver)
//   → resample the runs whose ESS fell below the threshold (driver, or the model's own
//   resampler) → move (the model, given the ancestors) → correct (the model, optional).
// A model that proposes before it weighs (twisted SMC) moves inside `weigh` and applies
// the ancestors in `move`. A model may offer a fused native step for the backend it runs
// on; the driver then calls it in place of weigh → reweight → resample → move.
import { BatchArgs, NativeMixture, NativePurposes, StreamArgs } from './native';
import { Schedule } from './schedules';
import { ScoreInput, ScoreContext, nonFiniteScore } from './score';
import { GaussianMixture } from './mixture';
import type { Backend, BackendMemory, BackendOps, F32Array, F64Array, I32Array, ScoreRunner } from './backend';
import { abortError } from './errors';
import { requireSizes } from './sizes';
import { rowConditions } from './guidance';

export type ResamplingScheme = 'systematic' | 'stratified' | 'multinomial' | 'residual';
export const RESAMPLING_SCHEMES: readonly ResamplingScheme[] = ['systematic', 'stratified', 'multinomial', 'residual'];

/** Progress report, once per step. */
export interface StepInfo {
  /** Steps done so far (1..steps). */
  step: number;
  steps: number;
  /** The time just reached (s = t_{i-1}). */
  t: number;
  /** Per-run ESS after this step's reweighting (weighted models only): a view of the result's `ess` row, never rewritten. */
  ess?: Float64Array;
  /** Runs resampled at this step (weighted models only). */
  resampledRuns?: number;
}

/** One step t = grid[index] → s = grid[index - 1]. */
export interface Step {
  /** Grid index of t (S for the first step, 1 for the last). */
  readonly index: number;
  /** 1 for the first step, S for the last. */
  readonly number: number;
  readonly t: number;
  readonly s: number;
  /** Whether s = t_0 (the data time). */
  readonly last: boolean;
  /** Where an error happened, for messages: "at step 3 of 100 (t = 4.85)". */
  readonly where: string;
}

/** What a model's run sees of the driver: the batch, its buffers and its services. */
export interface DriverRun {
  readonly backend: Backend;
  readonly ops: BackendOps;
  readonly batch: BatchArgs;
  readonly runs: number;
  readonly particles: number;
  readonly dim: number;
  /** runs × particles. */
  readonly rows: number;
  readonly threads: number;
  readonly schedule: Schedule;
  /** The class of every row, when the run is conditional (docs/MATH.md §12): what the score model sees as context.condition. */
  readonly condition?: Int32Array;
  /** The time grid t_0 = 0 < … < t_S after the model's refinement (MATH.md §1). */
  readonly grid: Float64Array;
  readonly steps: number;
  /** The particles, rows × D: the initial draw writes them, moves update them; the result returns them. */
  readonly z: F32Array;
  /** Scratch, rows × D: `score` writes into it; the model may use it until its next score call. */
  readonly work: F32Array;
  /** This step's log-potential per particle (rows; weighted models write it in weigh). */
  readonly increment: F64Array;
  /** The normalised log-weights (rows; weighted models). Only a model's own resampler writes them. */
  readonly logWeights: F64Array;
  /** A random stream of MATH.md §6 for this run's seed (and run keys): step word, purpose and its index. */
  stream(step: number, purpose: keyof NativePurposes, index?: number): StreamArgs;
  /** The score at every row of `state` at time t, into `work`, checked finite (MATH.md §4). */
  score(state: F32Array, t: number, where: string): Promise<F32Array>;
  /**
   * Where the score is the built-in GaussianMixture as given (its own scoreInto) and the run
   * is on the CPU: its native model and its level at t, exactly as `score` passes them, so a
   * fused native step can score the rows itself (the same bits).
   */
  readonly nativeMixture?: { core: NativeMixture; level(t: number): { alpha: number; sigma2: number } };
  /** The error `score` throws for a non-finite value at flat index `bad` of the score. */
  nonFiniteScore(value: number, bad: number, where: string): RangeError;
  /** Buffers in the backend's memory, freed by the driver when the run ends, whatever way it ends. */
  f32(length: number): F32Array;
  f64(length: number, fill?: number): Promise<F64Array>;
  i32(length: number): I32Array;
  /** Throws the AbortError when the run's signal has fired. */
  checkAbort(): void;
  /**
   * A user callback's promise (a likelihood, a vjp), raced against the run's signal: rejects
   * with the AbortError as soon as it fires, even while the callback never settles.
   */
  raceAbort<T>(work: Promise<T>): Promise<T>;
  /** Gives the event loop a turn when 10 ms have passed since the last, then checks abort: for long setup work. */
  checkpoint(): Promise<void>;
}

/** The buffers a fused native step reads and writes besides the model's own. */
export interface FusedStepBuffers {
  essThreshold: number;
  scheme: ResamplingScheme;
  resamplingStream: StreamArgs;
  /** Written per run: log Ẑ increment, ESS after the reweighting, 1 where resampled. */
  evidenceIncrement: Float64Array;
  ess: Float64Array;
  flags: Uint8Array;
  scratch: F64Array;
  ancestors: I32Array;
}

/** How a fused step ended: the failures the driver reports itself (the model reports its own). */
export type FusedStepStatus = { status: 'ok' } | { status: 'weights-degenerate' | 'resampling-failed'; run: number };

/** One run of a model: its parts, bound to the driver's buffers. */
export interface ModelRun {
  /** M_0: the particles at t_S, into run.z. */
  initial(): Promise<void>;
  /** G_0: an initial log-potential into run.increment (then reweighting and resampling, applied by `select`). */
  initialWeight?(): Promise<void>;
  /** G for the step t → s, into run.increment, before resampling. */
  weigh?(step: Step): Promise<void>;
  /** M for the step t → s; `ancestors` (rows, per run indices) is null when no run resampled. */
  move(step: Step, ancestors: I32Array | null): Promise<void>;
  /** Applies ancestors outside a move (after the initial weight); required with initialWeight. */
  select?(ancestors: I32Array): Promise<void>;
  /** Moves after the step that leave the target invariant or approximately so (correctors). */
  correct?(step: Step): Promise<void>;
  /** A final log-potential at s = 0 into run.increment (reweighted, never resampled). */
  finalWeight?(): Promise<void>;
  /** The model's own resampler (a conditional one with a pinned slot): writes ancestors for flagged runs, identity elsewhere, and resets their log-weights. */
  resample?(step: Step, flags: Uint8Array, ancestors: I32Array): Promise<void>;
  /** weigh → reweight → resample → move in one native job, where the backend has one. */
  fusedStep?(step: Step, buffers: FusedStepBuffers): Promise<FusedStepStatus>;
  /** Gives back what the model allocated outside run.f32/f64/i32. Called on success and failure. */
  release?(): void;
}

/** A Feynman–Kac model: what distinguishes one sampler from another. */
export interface FeynmanKacModel {
  readonly name: string;
  /** Whether particles carry weights: the driver then normalises, resamples and estimates log Ẑ. */
  readonly weighted: boolean;
  /** Keep every step's ancestors (result.ancestry), for ancestry tracing. */
  readonly keepAncestry?: boolean;
  /** Inserts or moves grid nodes before the run (MATH.md §9.1); the default keeps the caller's grid. */
  refineGrid?(grid: Float64Array): Float64Array;
  start(run: DriverRun): ModelRun | Promise<ModelRun>;
}

export interface DriverProblem {
  /** The backend (lib/backend.ts): its operations, the memory the state lives in, the score. */
  backend: Backend;
  model: FeynmanKacModel;
  /** The score model, when the model calls run.score. */
  score?: ScoreInput;
  schedule: Schedule;
  /** The time grid t_0 = 0 < … < t_S (MATH.md §1). */
  grid: Float64Array;
  dim: number;
  runs: number;
  particles: number;
  /** Global index of this batch's first run (its random streams, MATH.md §6). */
  runOffset: number;
  seed: number;
  /**
   * Per-run keys (lib/native.ts BatchArgs.runKeys): runs × 3 words (seed mod 2^32,
   * floor(seed / 2^32), run word), so runs of different requests share a batch and each
   * draws what it would draw alone. Models pass them on with `run.batch`.
   */
  runKeys?: Uint32Array;
  threads: number;
  /** Resample when ESS < essThreshold × N (weighted models). */
  essThreshold: number;
  /** The class of each run (runs), passed to the score model per row as context.condition (docs/MATH.md §12). */
  condition?: Int32Array;
  scheme: ResamplingScheme;
  signal?: AbortSignal;
  onStep?: (info: StepInfo) => unknown;
  /** The host memory the run may use, in bytes (lib/sizes.ts); the machine's memory when absent. */
  totalMemory?: number;
}

export interface DriverResult {
  /** Final particles, runs × particles × D, in the backend's memory (the caller reads and frees it). */
  particles: F32Array;
  /** Final normalised log-weights, runs × particles. */
  logWeights: Float64Array;
  /** log Ẑ per run (MATH.md §3), 0 for unweighted models. */
  logEvidence: Float64Array;
  /** ESS after each step's reweighting, steps × runs (first step first); empty for an unweighted model. */
  ess: Float64Array;
  /** 1 where a run was resampled, steps × runs; empty for an unweighted model. */
  resampled: Uint8Array;
  /** ESS after the model's final weight (runs), where it has one (tds, mcgdiff, …). */
  finalEss?: Float64Array;
  /** With model.keepAncestry: each step's ancestors, steps × rows (first step first; identity where not resampled). */
  ancestry?: Int32Array;
  /** The grid the run used (after the model's refinement). */
  grid: Float64Array;
}

/** How long the driver may keep the event loop before it yields a turn (timers, I/O, abort). */
const YIELD_EVERY_MS = 10;

export function weightsError(where: string, run: number): RangeError {
  return new RangeError(`all log-weights are -Infinity or NaN ${where} in run ${run}: no particle explains the observation (MATH.md §4)`);
}

/**
 * The error of a run whose new log-weights cannot be normalised (MATH.md §4). The failed
 * reweighting leaves the run's unnormalised log-weights in `logWeights` (rows; `run` counts
 * from the batch's first): a NaN or +Infinity among them is named by its particle (a NaN
 * means a bug upstream, never a zero weight); otherwise they are all -Infinity. Only on
 * the failure path: one read of the weights.
 */
export async function degenerateWeightsError(
  memory: BackendMemory, logWeights: F64Array, particles: number, run: number, name: number, where: string,
): Promise<RangeError> {
  const w = (await memory.readF64(logWeights)).subarray(run * particles, (run + 1) * particles);
  for (let k = 0; k < w.length; k++) {
    if (Number.isNaN(w[k]) || w[k] === Infinity) {
      const what = Number.isNaN(w[k]) ? 'NaN (a bug upstream: a zero weight is -Infinity)' : '+Infinity';
      return new RangeError(`the log-weight of particle ${k} is ${what} ${where} in run ${name} (MATH.md §4)`);
    }
  }
  return weightsError(where, name);
}

export function resamplingError(where: string, run: number): RangeError {
  return new RangeError(`resampling found no positive weight ${where} in run ${run}`);
}

export async function runFeynmanKac(p: DriverProblem): Promise<DriverResult> {
  const { runs, particles: n, dim: D, threads, model, backend } = p;
  const { ops, memory } = backend;
  const rows = runs * n;
  if (p.runKeys !== undefined && p.runKeys.length !== 3 * runs) {
    throw new RangeError(`runKeys must hold 3 words per run (${3 * runs}), got ${p.runKeys.length}`);
  }
  const batch: BatchArgs = { runs, particles: n, dim: D, runOffset: p.runOffset, runKeys: p.runKeys };
  // A run as errors name it: its run word.
  const runName = (r: number) => (p.runKeys ? p.runKeys[3 * r + 2] : p.runOffset + r);
  const grid = model.refineGrid ? model.refineGrid(p.grid) : p.grid;
  if (p.condition !== undefined && p.condition.length !== runs) throw new RangeError(`condition must hold one class per run (${runs}), got ${p.condition.length}`);
  const condition = p.condition && rowConditions(p.condition, n);
  const steps = grid.length - 1;
  const weighted = model.weighted;
  // Every array of the run, sized before any is allocated (lib/sizes.ts). On a device the two
  // state buffers and the weights live in device memory, not in typed arrays.
  const onHost = backend.name === 'cpu';
  requireSizes(`${model.name} (particles ${n} x samples ${runs} x dimension ${D}, ${steps} steps)`, [
    { what: 'the particles (particles x samples x dimension)', elements: onHost ? rows * D : 0, bytesPerElement: 4 },
    { what: 'the score buffer (particles x samples x dimension)', elements: onHost ? rows * D : 0, bytesPerElement: 4 },
    { what: 'the weights (particles x samples)', elements: onHost ? (weighted ? 3 : 1) * rows : 0, bytesPerElement: 8 },
    { what: 'the ancestors (particles x samples)', elements: onHost && weighted ? rows : 0, bytesPerElement: 4 },
    { what: 'the ESS trace (steps x samples)', elements: weighted ? steps * runs : 0, bytesPerElement: 9 },
    { what: 'the ancestry (steps x particles x samples)', elements: model.keepAncestry ? steps * rows : 0, bytesPerElement: 4 },
  ], p.totalMemory);
  const checkAbort = () => {
    if (p.signal?.aborted) throw abortError(p.signal);
  };

  // Everything allocated for the run is freed in `finally`; the particles too when the run fails.
  const owned: Array<F32Array | F64Array | I32Array> = [];
  const track = <A extends F32Array | F64Array | I32Array>(a: A): A => (owned.push(a), a);
  let scorer: ScoreRunner | undefined;
  let modelRun: ModelRun | undefined;
  let z: F32Array | undefined;
  let scoreBuffer: F32Array | undefined;
  let succeeded = false;
  try {
    // Two state-sized buffers for the whole run: `z` holds the particles, `work` the score
    // and whatever the model computes from it. On 'cuda' both stay on the device.
    z = memory.f32(rows * D);
    const work = track(memory.f32(rows * D));
    scoreBuffer = work;
    const logWeights = track(await memory.f64(rows, -Math.log(n)));
    const increment = track(await memory.f64(weighted ? rows : 0));
    const scratch = track(await memory.f64(weighted ? rows : 0));
    const ancestors = track(memory.i32(weighted ? rows : 0));
    const flags = new Uint8Array(runs);
    const evidenceIncrement = new Float64Array(runs);
    const essNow = new Float64Array(runs);
    const logEvidence = new Float64Array(runs);
    // Only a weighted model has an ESS to trace: an unweighted one's would be N at every step,
    // and at replacement's one run per sample it was steps x samples doubles filled per call.
    const essTrace = new Float64Array(weighted ? steps * runs : 0).fill(NaN);
    const resampledTrace = new Uint8Array(weighted ? steps * runs : 0);
    const ancestry = model.keepAncestry ? new Int32Array(steps * rows) : undefined;

    let lastYield = performance.now();
    const yieldTurn = async () => {
      if (performance.now() - lastYield < YIELD_EVERY_MS) return;
      await new Promise<void>((resolve) => setImmediate(resolve));
      lastYield = performance.now();
      checkAbort();
    };

    const state = z;
    const run: DriverRun = {
      backend, ops, batch, runs, particles: n, dim: D, rows, threads, schedule: p.schedule, condition, grid, steps,
      z: state, work, increment, logWeights,
      stream: (step, purpose, index = 0) => ({ seed: p.seed, step, purpose: ops.purposes[purpose], index }),
      score: async (x, t, where) => {
        if (p.score === undefined) throw new TypeError(`model '${model.name}' asked for a score, but no score model was given`);
        scorer ??= backend.scorer(p.score, rows, D, threads);
        const context: ScoreContext = { t, alpha: Math.exp(p.schedule.logAlpha(t)), sigma: Math.sqrt(p.schedule.sigma2(t)), rows, dim: D, rowOffset: 0, condition };
        if (p.signal === undefined) return scorer.evaluate(x, context, work, where);
        context.signal = p.signal;
        return untilAborted(scorer.evaluate(x, context, work, where), p.signal);
      },
      nativeMixture:
        onHost && p.score instanceof GaussianMixture && p.score.scoreInto === GaussianMixture.prototype.scoreInto
          ? {
              core: p.score.nativeCore(),
              // As `score` builds its context and GaussianMixture.scoreInto squares sigma.
              level: (t) => {
                const sigma = Math.sqrt(p.schedule.sigma2(t));
                return { alpha: Math.exp(p.schedule.logAlpha(t)), sigma2: sigma * sigma };
              },
            }
          : undefined,
      nonFiniteScore: (value, bad, where) => nonFiniteScore(value, bad, { t: 0, alpha: 1, sigma: 0, rows, dim: D, rowOffset: 0 }, where),
      f32: (length) => track(memory.f32(length)),
      f64: async (length, fill) => track(await memory.f64(length, fill)),
      i32: (length) => track(memory.i32(length)),
      checkAbort,
      raceAbort: (work) => (p.signal === undefined ? work : untilAborted(work, p.signal)),
      checkpoint: yieldTurn,
    };


    // Reweights by run.increment (MATH.md §3, §4): normalised log-weights, ESS, log Ẑ, and the
    // runs to resample. Returns how many runs resample.
    const reweight = async (where: string): Promise<number> => {
      const failed = await ops.reweight(batch, logWeights, increment, p.essThreshold, evidenceIncrement, essNow, flags, threads);
      if (failed >= 0) throw await degenerateWeightsError(memory, logWeights, n, failed, runName(failed), where);
      let resampled = 0;
      for (let r = 0; r < runs; r++) {
        logEvidence[r] += evidenceIncrement[r];
        resampled += flags[r];
      }
      return resampled;
    };
    const resample = async (step: Step | undefined, streamStep: number, where: string) => {
      if (modelRun!.resample && step) {
        await modelRun!.resample(step, flags, ancestors);
        return;
      }
      const bad = await ops.resampleBatch(batch, ops.codes.schemes[p.scheme], flags, run.stream(streamStep, 'resampling'), logWeights, scratch, ancestors, threads);
      if (bad >= 0) throw resamplingError(where, runName(bad));
    };

    checkAbort();
    modelRun = await model.start(run);
    await modelRun.initial();
    if (weighted && modelRun.initialWeight) {
      if (!modelRun.select) throw new TypeError(`model '${model.name}' has an initial weight but no select()`);
      await modelRun.initialWeight();
      // The initial weight's resampling draws with the step word S + 1, which no step uses.
      if ((await reweight('at the initial weight')) > 0) {
        await resample(undefined, steps + 1, 'at the initial weight');
        await modelRun.select(ancestors);
      }
    }

    for (let i = steps; i >= 1; i--) {
      checkAbort();
      const t = grid[i], s = grid[i - 1];
      const step: Step = { index: i, number: steps - i + 1, t, s, last: i === 1, where: `at step ${steps - i + 1} of ${steps} (t = ${t})` };
      const row = step.number - 1;
      let resampledRuns = 0;
      let anc: I32Array | null = null;
      if (weighted && modelRun.fusedStep && !modelRun.resample) {
        const r = await modelRun.fusedStep(step, {
          essThreshold: p.essThreshold, scheme: p.scheme, resamplingStream: run.stream(i, 'resampling'),
          evidenceIncrement, ess: essNow, flags, scratch, ancestors,
        });
        if (r.status === 'weights-degenerate') throw await degenerateWeightsError(memory, logWeights, n, r.run, runName(r.run), step.where);
        if (r.status === 'resampling-failed') throw resamplingError(step.where, runName(r.run));
        for (let k = 0; k < runs; k++) {
          logEvidence[k] += evidenceIncrement[k];
          resampledRuns += flags[k];
        }
        anc = resampledRuns > 0 ? ancestors : null;
      } else {
        if (weighted) {
          if (!modelRun.weigh) throw new TypeError(`the weighted model '${model.name}' has no weigh()`);
          await modelRun.weigh(step);
          resampledRuns = await reweight(step.where);
          if (resampledRuns > 0) {
            await resample(step, i, step.where);
            anc = ancestors;
          }
        }
        await modelRun.move(step, anc);
      }
      if (weighted) {
        essTrace.set(essNow, row * runs);
        resampledTrace.set(flags, row * runs);
      }
      if (ancestry) {
        if (anc) ancestry.set(await readI32(backend, anc), row * rows);
        else for (let k = 0; k < rows; k++) ancestry[row * rows + k] = k % n;
      }
      if (modelRun.correct) await modelRun.correct(step);
      await notifyProgress(p.onStep, {
        step: step.number, steps, t: s,
        ess: weighted ? essTrace.subarray(row * runs, (row + 1) * runs) : undefined,
        resampledRuns: weighted ? resampledRuns : undefined,
      }, p.signal);
      await yieldTurn();
    }
    let finalEss: Float64Array | undefined;
    if (weighted && modelRun.finalWeight) {
      checkAbort();
      await modelRun.finalWeight();
      const failed = await ops.reweight(batch, logWeights, increment, 0, evidenceIncrement, essNow, flags, threads);
      if (failed >= 0) throw await degenerateWeightsError(memory, logWeights, n, failed, runName(failed), 'at the final weight');
      for (let r = 0; r < runs; r++) logEvidence[r] += evidenceIncrement[r];
      finalEss = essNow.slice();
    }
    const finalLogWeights = await memory.readF64(logWeights);
    succeeded = true;
    return { particles: z, logWeights: finalLogWeights, logEvidence, ess: essTrace, resampled: resampledTrace, finalEss, ancestry, grid };
  } finally {
    try {
      modelRun?.release?.();
    } finally {
      scorer?.release();
      memory.free(...owned);
      if (!succeeded) memory.free(z);
      // The score buffer never leaves the run; after a failure a job may still write to it.
      else memory.recycle?.(scoreBuffer);
    }
  }
}

/**
 * Calls a progress callback (onStep, onSweep) with `info`. One that returns a promise (an
 * async function) is awaited, raced against `signal`: its rejection then fails the run with
 * its error, where it would otherwise go unhandled and end the process.
 */
export async function notifyProgress<T>(callback: ((info: T) => unknown) | undefined, info: T, signal: AbortSignal | undefined): Promise<void> {
  const r = callback?.(info);
  if (r === null || typeof r !== 'object' || typeof (r as PromiseLike<unknown>).then !== 'function') return;
  const settled = Promise.resolve(r as PromiseLike<unknown>);
  await (signal === undefined ? settled : untilAborted(settled, signal));
}

/** Settles with `work`, or rejects with the AbortError as soon as `signal` fires, even while `work` is pending. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      // What the abandoned call does later is ignored: the run's buffers are gone by then.
      work.catch(() => undefined);
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => (signal.removeEventListener('abort', onAbort), resolve(value)),
      (err) => (signal.removeEventListener('abort', onAbort), reject(err)),
    );
  });
}

async function readI32(backend: Backend, a: I32Array): Promise<Int32Array> {
  return a instanceof Int32Array ? a.slice() : backend.memory.readI32(a);
}
