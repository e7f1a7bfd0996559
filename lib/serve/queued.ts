// condiff serve --redis: a request past the queue's work threshold runs on the queue's workers
// (lib/queue/) instead of in the server, as a job with a BullMQ priority below that of jobs
// submitted without one (condiff sample --redis, submit()): the service's large requests
// queue behind batch jobs, and the server's own cores stay free for the small requests it
// runs itself. The answer has the bytes the server would compute (tested). tds and noisy
// observations never go to the queue (the queue runs replacement and smc on exact masks here).
import type { SampleResult, SmcResult } from '../samplers';
import { submit } from '../queue/submit';
import { QueueJob, JOB_FORMAT } from '../queue/job';
import { SampleBody, ServedModel } from './request';

export interface ServeQueueOptions {
  redis: string;
  queue?: string;
  /** Requests of more work (particles x samples x steps x dim) than this go to the queue. */
  work: number;
  /** BullMQ priority of their chunks (1 highest … 2^21; default 10). */
  priority?: number;
  /** Runs per chunk (default: lib/queue/submit.ts chunkRuns). */
  chunkRuns?: number;
}

export function goesToQueue(body: SampleBody, work: number, q: ServeQueueOptions | undefined): boolean {
  return q !== undefined && work > q.work && body.method !== 'tds' && !((body.observe.noiseStd ?? 0) > 0);
}

/** The request as a queue job: a mixture by its content, a network by the name every worker loaded. */
export function requestJob(body: SampleBody, model: ServedModel): QueueJob {
  const schedule: QueueJob['schedule'] = (body.schedule ?? (model.schedule ? 'ddpm' : 'ou')) === 'ddpm'
    ? { name: 'ddpm' }
    : { name: body.schedule === 'vp' ? 'vp' : 'ou', horizon: body.horizon ?? (body.schedule === 'vp' ? 1 : 5) };
  const smc = body.method === 'smc';
  const corrector = body.method === 'langevin' ? { kind: 'langevin' as const, steps: body.langevinSteps ?? 5, gamma: body.langevinGamma ?? 0.1 }
    : body.method === 'repaint' ? { kind: 'repaint' as const, jumps: body.jumps ?? 5 } : undefined;
  return {
    format: JOB_FORMAT,
    method: smc ? 'smc' : 'replacement',
    model: model.spec !== undefined ? { gaussianMixture: model.spec } : { name: model.name },
    observed: { indices: body.observe.indices, values: body.observe.values },
    schedule,
    steps: body.steps ?? 200,
    ...(body.kernel ? { kernel: body.kernel } : {}),
    ...(body.context ? { context: body.context } : {}),
    samples: body.samples ?? 1,
    seed: body.seed ?? 0,
    ...(smc ? { particles: body.particles ?? 256, resampling: body.resampling, essThreshold: body.essThreshold } : { corrector }),
  };
}

/** Runs the request on the queue; the result as the server's own run returns it, and the number of chunks. */
export async function runQueued(body: SampleBody, model: ServedModel, q: ServeQueueOptions, signal: AbortSignal): Promise<{ result: SampleResult | SmcResult; chunks: number }> {
  const r = await submit(requestJob(body, model), { redis: q.redis, queue: q.queue, priority: q.priority ?? 10, chunkRuns: q.chunkRuns, signal });
  const base: SampleResult = { samples: r.samples, shape: r.shape, method: r.method, seconds: r.seconds, threads: 0, backend: r.backend as 'cpu', warnings: r.warnings };
  if (r.method !== 'smc') return { result: base, chunks: r.chunks };
  return { result: { ...base, logEvidence: r.logEvidence!, logPy: r.logPy!, ess: r.ess!, resampled: r.resampled!, grid: new Float64Array(0), contextPath: new Float32Array(0) }, chunks: r.chunks };
}
