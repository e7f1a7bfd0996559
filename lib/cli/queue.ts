// `condiff sample … --redis URL`: the sample command's settings as a queue job
// (lib/queue/job.ts), submitted, and its result in the shape a local run has, so the files
// and the JSON summary are written by the same code.
import { isErrorNamed } from '../errors';
import { submit, SubmitOptions } from '../queue/submit';
import { QueueJob, JOB_FORMAT } from '../queue/job';
import { redisConnection } from '../queue/connection';
import type { ObservationInput } from '../observation';
import type { SmcResult, SampleResult } from '../samplers';
import { CliIO } from './io';
import { UsageError } from './errors';
import { Flags, stringFlag, integerFlag } from './flags';
import { RunOutcome, SamplerSettings, warn } from './run';

const QUEUE_FLAGS = ['queue', 'chunk-runs', 'attempts'];
const QUEUE_METHODS = ['replacement', 'langevin', 'repaint', 'smc'];

export interface QueuedRun {
  job: QueueJob;
  options: SubmitOptions;
}

/** The job of a --redis run, or null for a local run; flags that mean nothing on a queue are errors. */
export function queueJob(flags: Flags, s: SamplerSettings, spec: unknown, observed: ObservationInput, schedule: QueueJob['schedule']): QueuedRun | null {
  const redis = stringFlag(flags, 'redis');
  if (redis === undefined) {
    const given = QUEUE_FLAGS.find((f) => flags.has(f));
    if (given) throw new UsageError(`--${given} applies only with --redis`);
    return null;
  }
  try {
    redisConnection(redis);
  } catch (e) {
    throw new UsageError(`--redis: ${(e as Error).message}`);
  }
  if (!QUEUE_METHODS.includes(s.method)) throw new UsageError(`--redis runs --method ${QUEUE_METHODS.join(', ')}, not ${s.method}`);
  for (const local of ['threads', 'backend']) {
    if (flags.has(local)) throw new UsageError(`--${local} applies to a local run, not with --redis: each worker sets its own (condiff worker --${local === 'threads' ? 'threads' : 'help'})`);
  }
  const smc = s.method === 'smc';
  const job: QueueJob = {
    format: JOB_FORMAT,
    method: smc ? 'smc' : 'replacement',
    model: { gaussianMixture: spec },
    observed: observed as QueueJob['observed'],
    schedule,
    steps: s.steps,
    kernel: s.kernel,
    context: s.context,
    samples: s.samples,
    seed: s.seed,
    ...(smc ? { particles: s.particles, resampling: s.resampling, essThreshold: s.essThreshold } : { corrector: s.corrector }),
  };
  const chunk = flags.has('chunk-runs') ? integerFlag(flags, 'chunk-runs', 1, 1, 2 ** 32 - 1) : undefined;
  return {
    job,
    options: { redis, queue: stringFlag(flags, 'queue'), chunkRuns: chunk, attempts: integerFlag(flags, 'attempts', 3, 1, 1000) },
  };
}

/** Submits the job and waits; the outcome as runMethod gives it for a local run. */
export async function runOnQueue(q: QueuedRun, io: CliIO, label: string): Promise<RunOutcome> {
  const r = await submit(q.job, { ...q.options, signal: io.signal }).catch((e: unknown) => {
    if (isErrorNamed(e, 'MissingDependencyError')) throw new UsageError((e as Error).message);
    throw e;
  });
  warn(io, label, r.warnings);
  const base: SampleResult = {
    samples: r.samples, shape: r.shape, method: r.method, seconds: r.seconds, threads: 0, backend: r.backend as 'cpu', warnings: r.warnings,
  };
  const queue = { chunks: r.chunks, workerSeconds: Math.round(r.workerSeconds * 1000) / 1000 };
  if (r.method !== 'smc') return { result: base, meanLogEvidence: null, minEss: null, resamplingCount: null, queue };
  const result = { ...base, logEvidence: r.logEvidence!, logPy: r.logPy!, ess: r.ess!, resampled: r.resampled! } as SmcResult;
  let minEss = Infinity;
  for (const e of result.ess) if (e < minEss) minEss = e;
  const meanLogEvidence = result.logEvidence.reduce((a, b) => a + b, 0) / result.logEvidence.length;
  return { result, meanLogEvidence, minEss: Number.isFinite(minEss) ? minEss : null, resamplingCount: result.resampled.reduce((a, b) => a + b, 0), queue };
}
