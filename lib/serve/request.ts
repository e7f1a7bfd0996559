// The body of POST /v1/sample: its JSON schema (Fastify validates it before anything runs)
// and its translation into a sampler call. Field names mirror `condiff sample`'s flags in
// camelCase; the response mirrors its JSON summary.
import { schedules, Schedule, KernelName } from '../schedules';
import { replacement, smc, SampleResult, SmcResult } from '../samplers';
import { tds } from '../tds';
import { RESAMPLING_SCHEMES, ResamplingScheme, StepInfo } from '../driver';
import type { ScoreInput } from '../score';
import { prepare } from '../samplers';
import type { SharedOptions } from './batched';

export const SERVE_METHODS = ['replacement', 'langevin', 'repaint', 'smc', 'tds'] as const;
export type ServeMethod = (typeof SERVE_METHODS)[number];

export interface SampleBody {
  model: string;
  observe: { indices: number[]; values: number[]; noiseStd?: number };
  method: ServeMethod;
  samples?: number;
  particles?: number;
  steps?: number;
  schedule?: 'ou' | 'vp' | 'ddpm';
  horizon?: number;
  kernel?: KernelName;
  context?: 'fixed' | 'forward';
  resampling?: ResamplingScheme;
  essThreshold?: number;
  seed?: number;
  langevinSteps?: number;
  langevinGamma?: number;
  jumps?: number;
  twistTau2?: number;
  gradient?: 'auto' | 'exact' | 'vjp' | 'finite-difference' | 'identity' | 'none';
}

/** The JSON schema of the body (JSON Schema draft 7, Fastify's validator). */
export const SAMPLE_BODY_SCHEMA = {
  type: 'object',
  required: ['model', 'observe', 'method'],
  additionalProperties: false,
  properties: {
    model: { type: 'string', minLength: 1, description: 'a model name given to condiff serve --model' },
    observe: {
      type: 'object',
      description: 'the observation, as in an O.json: observed indices, their values, and optionally noiseStd (tds)',
      required: ['indices', 'values'],
      properties: {
        indices: { type: 'array', items: { type: 'integer', minimum: 0 } },
        values: { type: 'array', items: { type: 'number' } },
        noiseStd: { type: 'number', minimum: 0 },
      },
    },
    method: { type: 'string', enum: [...SERVE_METHODS] },
    samples: { type: 'integer', minimum: 1, default: 1 },
    particles: { type: 'integer', minimum: 1, default: 256 },
    steps: { type: 'integer', minimum: 1, maximum: 1000000, default: 200 },
    schedule: { type: 'string', enum: ['ou', 'vp', 'ddpm'] },
    horizon: { type: 'number', exclusiveMinimum: 0 },
    kernel: { type: 'string', enum: ['euler', 'ddpm'] },
    context: { type: 'string', enum: ['fixed', 'forward'] },
    resampling: { type: 'string', enum: [...RESAMPLING_SCHEMES] },
    essThreshold: { type: 'number', minimum: 0, maximum: 1 },
    seed: { type: 'integer', minimum: 0, default: 0 },
    langevinSteps: { type: 'integer', minimum: 1, maximum: 65536 },
    langevinGamma: { type: 'number', exclusiveMinimum: 0 },
    jumps: { type: 'integer', minimum: 1, maximum: 10000 },
    twistTau2: { type: 'number', exclusiveMinimum: 0 },
    gradient: { type: 'string', enum: ['auto', 'exact', 'vjp', 'finite-difference', 'identity', 'none'] },
  },
} as const;

/** A model the service loaded at start. */
export interface ServedModel {
  name: string;
  score: ScoreInput;
  dim: number;
  /** The network's own schedule (an ONNX model trained on one), used when the request names none. */
  schedule?: Schedule;
  /** What it is, for GET /v1/models. */
  kind: 'gaussian-mixture' | 'onnx';
  /** A mixture's JSON, so a queue job can carry the model's content (condiff serve --redis). */
  spec?: unknown;
}

/** Fields that belong to some methods only: given with another they are a mistake (as the CLI's flags). */
const METHOD_ONLY: Record<string, readonly ServeMethod[]> = {
  particles: ['smc', 'tds'],
  resampling: ['smc', 'tds'],
  essThreshold: ['smc', 'tds'],
  langevinSteps: ['langevin'],
  langevinGamma: ['langevin'],
  jumps: ['repaint'],
  twistTau2: ['tds'],
  gradient: ['tds'],
};

/** A request the service refuses with 400, its message naming the field. */
export class BadRequest extends Error {}

/** particles × samples × steps × dim: the work a request asks for (`--max-work`). */
export function requestWork(body: SampleBody, dim: number): number {
  const particles = body.method === 'smc' || body.method === 'tds' ? (body.particles ?? 256) : 1;
  return particles * (body.samples ?? 1) * (body.steps ?? 200) * dim;
}

export function scheduleFor(body: SampleBody, model: ServedModel): Schedule {
  const name = body.schedule ?? (model.schedule ? 'ddpm' : 'ou');
  if (name === 'ddpm') {
    if (!model.schedule) throw new BadRequest(`schedule 'ddpm' needs a network trained on one; model ${JSON.stringify(model.name)} has none (use ou or vp)`);
    if (body.horizon !== undefined) throw new BadRequest("horizon applies to the ou and vp schedules, not to the network's ddpm schedule");
    return model.schedule;
  }
  return name === 'ou' ? schedules.ou({ T: body.horizon ?? 5 }) : schedules.vp({ T: body.horizon ?? 1 });
}

/** The result as the CLI's JSON summary names it, with the samples. */
export interface SampleResponse {
  method: ServeMethod;
  model: string;
  samples: number[][];
  dim: number;
  logEvidence: number[] | null;
  ess: { min: number; mean: number } | null;
  resamplingCount: number | null;
  warnings: string[];
  seconds: number;
  backend: string;
  scoreEvaluations?: number;
}

/** Runs the request's sampler. */
export async function runSample(
  body: SampleBody,
  model: ServedModel,
  signal: AbortSignal,
  onStep?: (info: StepInfo) => void,
): Promise<SampleResult | SmcResult> {
  checkFields(body);
  const schedule = scheduleFor(body, model);
  const common = {
    score: model.score,
    schedule,
    steps: body.steps ?? 200,
    kernel: body.kernel,
    samples: body.samples ?? 1,
    seed: body.seed ?? 0,
    signal,
    onStep,
  };
  const observed = { indices: body.observe.indices, values: body.observe.values };
  switch (body.method) {
    case 'smc':
      return smc({ ...common, observed, context: body.context, particles: body.particles ?? 256, resampling: body.resampling, essThreshold: body.essThreshold });
    case 'tds':
      return tds({ ...common, observed: body.observe, particles: body.particles ?? 256, resampling: body.resampling, essThreshold: body.essThreshold, twistTau2: body.twistTau2, gradient: body.gradient });
    case 'langevin':
      return replacement({ ...common, observed, context: body.context, corrector: { kind: 'langevin', steps: body.langevinSteps ?? 5, gamma: body.langevinGamma ?? 0.1 } });
    case 'repaint':
      return replacement({ ...common, observed, context: body.context, corrector: { kind: 'repaint', jumps: body.jumps ?? 5 } });
    default:
      return replacement({ ...common, observed, context: body.context });
  }
}

export function toResponse(body: SampleBody, r: SampleResult | SmcResult): SampleResponse {
  const [rows, dim] = r.shape;
  const samples: number[][] = [];
  for (let i = 0; i < rows; i++) samples.push(Array.from(r.samples.subarray(i * dim, (i + 1) * dim)));
  const filter = 'logEvidence' in r ? (r as SmcResult) : undefined;
  let ess: SampleResponse['ess'] = null, count: number | null = null;
  if (filter) {
    let min = Infinity, sum = 0, n = 0;
    for (const e of filter.ess) {
      if (Number.isNaN(e)) continue;
      if (e < min) min = e;
      sum += e;
      n++;
    }
    ess = n > 0 ? { min, mean: sum / n } : null;
    count = filter.resampled.reduce((a, b) => a + b, 0);
  }
  return {
    method: body.method,
    model: body.model,
    samples,
    dim,
    logEvidence: filter ? Array.from(filter.logEvidence) : null,
    ess,
    resamplingCount: count,
    warnings: r.warnings,
    seconds: r.seconds,
    backend: r.backend,
    ...('scoreEvaluations' in r ? { scoreEvaluations: (r as { scoreEvaluations: number }).scoreEvaluations } : {}),
  };
}

/**
 * The batching key and the shared options of a request that can join a batch (the seed's
 * methods on an exact mask), or null. Requests with equal keys differ only in seed, samples
 * and observed values. The request is first checked alone, so a mistake in one request is its
 * own 400 and never fails a batch.
 */
export function batchable(body: SampleBody, model: ServedModel): { key: string; shared: SharedOptions } | null {
  if (body.method === 'tds' || (body.observe.noiseStd ?? 0) > 0) return null;
  const schedule = scheduleFor(body, model);
  const steps = body.steps ?? 200;
  prepare({ score: model.score, schedule, steps, kernel: body.kernel, observed: { indices: body.observe.indices, values: body.observe.values }, seed: body.seed ?? 0 });
  const key = JSON.stringify([
    body.model, body.method, body.schedule ?? null, body.horizon ?? null, steps, body.kernel ?? null, body.context ?? null,
    body.particles ?? null, body.resampling ?? null, body.essThreshold ?? null, body.langevinSteps ?? null, body.langevinGamma ?? null,
    body.jumps ?? null, body.observe.indices,
  ]);
  const common = { score: model.score, schedule, steps, kernel: body.kernel, indices: body.observe.indices, context: body.context };
  if (body.method === 'smc') {
    return { key, shared: { method: 'smc', ...common, particles: body.particles ?? 256, resampling: body.resampling, essThreshold: body.essThreshold } };
  }
  const corrector =
    body.method === 'langevin' ? { kind: 'langevin' as const, steps: body.langevinSteps ?? 5, gamma: body.langevinGamma ?? 0.1 }
    : body.method === 'repaint' ? { kind: 'repaint' as const, jumps: body.jumps ?? 5 }
    : undefined;
  return { key, shared: { method: 'replacement', ...common, corrector } };
}

/** The METHOD_ONLY and noise checks of runSample, for a request that goes to a batch instead. */
export function checkFields(body: SampleBody): void {
  for (const [field, methods] of Object.entries(METHOD_ONLY)) {
    if ((body as unknown as Record<string, unknown>)[field] !== undefined && !methods.includes(body.method)) {
      throw new BadRequest(`${field} applies only to method ${methods.join(' or ')}, not ${body.method}`);
    }
  }
  if ((body.observe.noiseStd ?? 0) > 0 && body.method !== 'tds') throw new BadRequest(`observe.noiseStd is supported by method tds only, not ${body.method}`);
}
