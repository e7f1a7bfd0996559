// The queue's job format and what a worker does with one chunk of it. A job carries
// everything a worker needs as plain JSON — the model's content (a Gaussian mixture's spec) or
// the name of a model every worker loaded (`condiff worker --model NAME=FILE`), the
// observation, the sampler's options, the seed and the number of runs K — and never a path on
// the submitter's disk. A chunk is the job with a run range [first, first + count): it runs
// with `firstRun`, so its runs draw the bytes they draw in one call of all K
// (docs/MATH.md §6), and its result travels back as base64 of the typed arrays' bytes.
import { GaussianMixture } from '../mixture';
import { schedules, Schedule, KernelName } from '../schedules';
import { replacement, smc, CorrectorOptions, SampleResult, SmcResult } from '../samplers';
import { RESAMPLING_SCHEMES, ResamplingScheme } from '../driver';
import type { ScoreInput } from '../score';
import { describe, typeError, rangeError, positiveInteger, nonNegativeInteger, finiteNumber, oneOf } from '../errors';

/** The job format's version: a worker refuses a job of another. */
export const JOB_FORMAT = 1;

export const QUEUE_METHODS = ['replacement', 'smc'] as const;
export type QueueMethod = (typeof QUEUE_METHODS)[number];

export interface QueueJob {
  format: typeof JOB_FORMAT;
  method: QueueMethod;
  /** The model's content, or the name of a model every worker loaded (`condiff worker --model NAME=FILE`). */
  model: { gaussianMixture: unknown } | { name: string };
  /** A mask {indices, values, noiseStd?} or a matrix {A, y, noiseStd?} (docs/MATH.md §8). */
  observed: { indices: number[]; values: number[]; noiseStd?: number } | { A: number[][]; y: number[]; noiseStd?: number };
  /** 'ou' or 'vp' with its horizon, or 'ddpm': the named network's own training schedule. */
  schedule: { name: 'ou' | 'vp'; horizon: number } | { name: 'ddpm' };
  steps: number;
  kernel?: KernelName;
  context?: 'fixed' | 'forward';
  /** K: the job's runs (one sample each). */
  samples: number;
  seed: number;
  /** smc only. */
  particles?: number;
  resampling?: ResamplingScheme;
  essThreshold?: number;
  /** replacement only: a Langevin or RePaint corrector. */
  corrector?: CorrectorOptions;
}

/** One chunk as it sits in the queue: the job and its run range. */
export interface ChunkData {
  job: QueueJob;
  first: number;
  count: number;
}

/** A chunk's result as it travels back: the typed arrays' bytes in base64. */
export interface ChunkResult {
  first: number;
  count: number;
  dim: number;
  /** float32, count x dim. */
  samples: string;
  /** smc: float64 per run (log Ẑ and log p̂(y)), float64 and uint8 steps x count (ESS, resampled). */
  logEvidence?: string;
  logPy?: string;
  ess?: string;
  resampled?: string;
  warnings: string[];
  seconds: number;
  backend: string;
}

/** The models a worker loaded, by name. */
export interface NamedModel {
  score: ScoreInput;
  /** The network's own schedule, for schedule 'ddpm'. */
  schedule?: Schedule;
}

const KEYS: Record<string, true> = {
  format: true, method: true, model: true, observed: true, schedule: true, steps: true, kernel: true, context: true,
  samples: true, seed: true, particles: true, resampling: true, essThreshold: true, corrector: true,
};
const SMC_ONLY = ['particles', 'resampling', 'essThreshold'];

/**
 * Checks a job's shape (every field named in the error); the sampler checks the values again
 * when a chunk runs. The mixture spec is parsed here, so a bad one fails at submit, not on a worker.
 */
export function validateJob(job: unknown): QueueJob {
  if (typeof job !== 'object' || job === null || Array.isArray(job)) throw typeError('job', 'an object (README "Scale-out", the job format)', job);
  const j = job as Record<string, unknown>;
  for (const key of Object.keys(j)) if (!KEYS[key]) throw new TypeError(`job has an unknown field "${key}" (fields: ${Object.keys(KEYS).join(', ')})`);
  if (j.format !== JOB_FORMAT) throw rangeError('job.format', `${JOB_FORMAT} (this worker's job format)`, j.format);
  const method = oneOf('job.method', j.method, QUEUE_METHODS);
  const model = j.model as Record<string, unknown> | undefined;
  if (typeof model !== 'object' || model === null || Object.keys(model).length !== 1 || !('gaussianMixture' in model || 'name' in model)) {
    throw typeError('job.model', '{ gaussianMixture: spec } or { name: "a model every worker loaded" }', model);
  }
  if ('gaussianMixture' in model) GaussianMixture.fromJSON(model.gaussianMixture);
  else if (typeof model.name !== 'string' || model.name === '') throw typeError('job.model.name', 'a non-empty string', model.name);
  if (typeof j.observed !== 'object' || j.observed === null) throw typeError('job.observed', '{ indices, values, noiseStd? } or { A, y, noiseStd? }', j.observed);
  const schedule = j.schedule as Record<string, unknown> | undefined;
  if (typeof schedule !== 'object' || schedule === null) throw typeError('job.schedule', "{ name: 'ou' | 'vp', horizon } or { name: 'ddpm' }", schedule);
  const name = oneOf('job.schedule.name', schedule.name, ['ou', 'vp', 'ddpm'] as const);
  if (name !== 'ddpm' && !(finiteNumber('job.schedule.horizon', schedule.horizon) > 0)) throw rangeError('job.schedule.horizon', 'a positive number', schedule.horizon);
  if (name === 'ddpm' && !('name' in model)) throw new RangeError("job.schedule 'ddpm' is a named network's own schedule: it needs job.model { name }, got a Gaussian mixture");
  positiveInteger('job.steps', j.steps, 1_000_000);
  positiveInteger('job.samples', j.samples, 2 ** 32 - 1);
  nonNegativeInteger('job.seed', j.seed);
  if (method === 'smc') {
    positiveInteger('job.particles', j.particles);
    if (j.corrector !== undefined) throw new TypeError('job.corrector applies to method replacement only, not smc');
  } else {
    for (const key of SMC_ONLY) if (j[key] !== undefined) throw new TypeError(`job.${key} applies to method smc only, not replacement`);
  }
  if (j.resampling !== undefined) oneOf('job.resampling', j.resampling, RESAMPLING_SCHEMES);
  return job as QueueJob;
}

/** The checks of a chunk's run range against its job. */
export function validateChunk(data: unknown): ChunkData {
  if (typeof data !== 'object' || data === null) throw typeError('chunk', '{ job, first, count }', data);
  const c = data as Record<string, unknown>;
  const job = validateJob(c.job);
  const first = nonNegativeInteger('chunk.first', c.first);
  const count = positiveInteger('chunk.count', c.count);
  if (first + count > job.samples) throw rangeError('chunk.first + chunk.count', `at most job.samples = ${job.samples}`, first + count);
  return { job, first, count };
}

/** The score and schedule a job names; a name this worker did not load is an error that lists what it has. */
export function resolveModel(job: QueueJob, models: ReadonlyMap<string, NamedModel>): { score: ScoreInput; schedule: Schedule } {
  let model: NamedModel;
  if ('gaussianMixture' in job.model) model = { score: GaussianMixture.fromJSON(job.model.gaussianMixture) };
  else {
    const found = models.get(job.model.name);
    if (!found) {
      const have = [...models.keys()];
      throw new RangeError(`this worker has no model named ${describe(job.model.name)} (it loaded ${have.length ? have.map((n) => JSON.stringify(n)).join(', ') : 'none'}; start it with --model NAME=FILE)`);
    }
    model = found;
  }
  const s = job.schedule;
  if (s.name === 'ddpm') {
    if (!model.schedule) throw new RangeError(`schedule 'ddpm' needs a network trained on one; model ${describe((job.model as { name: string }).name)} has none (use ou or vp)`);
    return { score: model.score, schedule: model.schedule };
  }
  return { score: model.score, schedule: s.name === 'ou' ? schedules.ou({ T: s.horizon }) : schedules.vp({ T: s.horizon }) };
}

/** Runs one chunk: the job's sampler on runs [first, first + count). */
export async function runChunk(data: ChunkData, models: ReadonlyMap<string, NamedModel>, threads?: number, signal?: AbortSignal): Promise<ChunkResult> {
  const { job, first, count } = data;
  const { score, schedule } = resolveModel(job, models);
  const common = { score, schedule, steps: job.steps, kernel: job.kernel, observed: job.observed, seed: job.seed, threads, signal, samples: count, firstRun: first, context: job.context };
  const r: SampleResult | SmcResult = job.method === 'smc'
    ? await smc({ ...common, particles: job.particles!, resampling: job.resampling, essThreshold: job.essThreshold })
    : await replacement({ ...common, corrector: job.corrector });
  const out: ChunkResult = {
    first, count, dim: r.shape[1], samples: base64(r.samples), warnings: r.warnings, seconds: r.seconds, backend: r.backend,
  };
  if (job.method === 'smc') {
    const f = r as SmcResult;
    out.logEvidence = base64(f.logEvidence);
    out.logPy = base64(f.logPy);
    out.ess = base64(f.ess);
    out.resampled = base64(f.resampled);
  }
  return out;
}

function base64(a: ArrayBufferView): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

/** A base64 field of a chunk's result as a typed array of `length` elements; a wrong size is an error naming the chunk. */
export function decode<T extends Float32Array | Float64Array | Uint8Array>(
  text: string | undefined, Type: { new (n: number): T; BYTES_PER_ELEMENT: number }, length: number, where: string,
): T {
  const bytes = Buffer.from(text ?? '', 'base64');
  if (bytes.length !== length * Type.BYTES_PER_ELEMENT) throw new RangeError(`${where} holds ${bytes.length} bytes, expected ${length * Type.BYTES_PER_ELEMENT}`);
  const out = new Type(length);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
