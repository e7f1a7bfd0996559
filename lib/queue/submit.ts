// submit(job, { redis }): splits a job's K runs into chunks, puts them on a BullMQ queue, and
// assembles the workers' results in run order — the bytes one process gives, since each run
// draws by its own index (docs/MATH.md §6, `firstRun`).
//
// Plain Queue + Worker + QueueEvents rather than a FlowProducer: the submitter itself is the
// one that waits for and assembles the chunks, so a parent job would only add a step that
// some worker must run and a second trip of every chunk's result through Redis. Each chunk
// is an ordinary job with retries (`attempts`), and BullMQ's stalled-job check hands the chunk
// of a worker that died back to the queue; the submitter waits on QueueEvents, reading the
// event stream from a point before the first chunk was added, so no chunk's end goes unseen.
import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { abortError, positiveInteger, nonNegativeInteger } from '../errors';
import { collapseWarning } from '../diagnostics';
import { validateJob, decode, QueueJob, ChunkData, ChunkResult } from './job';
import { loadBullmq, redisConnection, DEFAULT_QUEUE } from './connection';

/** A chunk failed after its tries, or Redis could not be reached: the job has no result. */
export class QueueJobError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'QueueJobError';
  }
}

/** How long submit and startWorker wait for Redis before they give up with its address. */
export const CONNECT_TIMEOUT_MS = 10000;

/** Resolves with `ready`, or rejects with a QueueJobError naming `url` after CONNECT_TIMEOUT_MS. */
export async function reachRedis(ready: Promise<unknown>, url: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueueJobError(`cannot reach Redis at ${url} within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
  });
  try {
    await Promise.race([ready, late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface SubmitOptions {
  /** redis://host:port[/db] */
  redis: string;
  /** The queue's name; the workers' --queue (default "condiff"). */
  queue?: string;
  /** Runs per chunk (default: chunkRuns(job), README "Scale-out"). */
  chunkRuns?: number;
  /** Tries per chunk before the job fails (default 3). */
  attempts?: number;
  /** BullMQ priority: 0 (default) before every prioritised job, then 1 (highest) … 2^21. */
  priority?: number;
  signal?: AbortSignal;
  /** Called as each chunk's result arrives. */
  onChunk?: (done: number, chunks: number) => void;
}

/** The job's result, as one process would give it. */
export interface QueueResult {
  method: 'replacement' | 'smc';
  /** samples x D, run order. */
  samples: Float32Array;
  shape: [number, number];
  /** smc: log Ẑ and log p̂(y) per run, ESS and resampling flags steps x runs (as smc returns them). */
  logEvidence?: Float64Array;
  logPy?: Float64Array;
  ess?: Float64Array;
  resampled?: Uint8Array;
  warnings: string[];
  /** Wall time from submit to the last chunk, and the sum of the chunks' own times. */
  seconds: number;
  workerSeconds: number;
  chunks: number;
  backend: string;
}

/**
 * Work of one chunk, particles x runs x steps x D, that the default chunking aims at: about
 * 0.2 s of one core's filtering on the 2-core development machine (bench/queue.ts measured
 * 7.3e7 particle-step-coordinates a second on one thread for the demo mixture), so the queue's
 * per-chunk cost (2.7 ms there, bench/RESULTS.md "Scale-out on a BullMQ queue") stays near 1%.
 */
export const CHUNK_WORK = 1.5e7;
/** At most this many chunks per job: Redis holds one hash per chunk and the submitter one wait each. */
export const MAX_CHUNKS = 4096;

/** The default runs per chunk: CHUNK_WORK of work, at least 1 run, at most MAX_CHUNKS chunks. */
export function chunkRuns(job: QueueJob, dim: number): number {
  const perRun = (job.method === 'smc' ? job.particles! : 1) * job.steps * dim;
  const byWork = Math.max(1, Math.floor(CHUNK_WORK / perRun));
  return Math.min(job.samples, Math.max(byWork, Math.ceil(job.samples / MAX_CHUNKS)));
}

/** The dimension a job's model states, when the job carries the model (a named model's is the worker's). */
function jobDim(job: QueueJob): number | undefined {
  if ('gaussianMixture' in job.model) return ((job.model.gaussianMixture as { means: number[][] }).means[0] ?? []).length;
  const o = job.observed as { A?: number[][] };
  return o.A?.[0]?.length;
}

export async function submit(jobInput: QueueJob, options: SubmitOptions): Promise<QueueResult> {
  const started = performance.now();
  const job = validateJob(jobInput);
  const K = job.samples;
  const size = options.chunkRuns !== undefined ? positiveInteger('chunkRuns', options.chunkRuns) : chunkRuns(job, jobDim(job) ?? 1);
  if (Math.ceil(K / size) > MAX_CHUNKS) throw new RangeError(`chunkRuns must be at least ${Math.ceil(K / MAX_CHUNKS)} for ${K} samples (at most ${MAX_CHUNKS} chunks a job), got ${size}`);
  const attempts = positiveInteger('attempts', options.attempts ?? 3, 1000);
  const priority = nonNegativeInteger('priority', options.priority ?? 0, 2 ** 21);
  const { Queue, QueueEvents } = loadBullmq('submit');
  const connection = redisConnection(options.redis);
  const name = options.queue ?? DEFAULT_QUEUE;
  options.signal?.throwIfAborted();

  const queue = new Queue<ChunkData, ChunkResult>(name, { connection });
  // ioredis retries a refused connection for ever; the waits below are bounded by reachRedis.
  queue.on('error', () => undefined);
  let events: InstanceType<typeof QueueEvents> | undefined;
  const id = randomUUID();
  let added: Array<Job<ChunkData, ChunkResult>> = [];
  try {
    // QueueEvents reads the queue's event stream from an ID. Its default, '$' (what comes after
    // its first read), would miss the end of a chunk that finished before that read was sent;
    // starting from Redis's clock now, before the first chunk is added, misses nothing.
    await reachRedis(queue.waitUntilReady(), options.redis);
    const [sec, usec] = await ((await queue.client) as unknown as { time(): Promise<[string, string]> }).time();
    events = new QueueEvents(name, { connection, lastEventId: `${Number(sec) * 1000 + Math.floor(Number(usec) / 1000)}-0` });
    events.on('error', () => undefined);
    // One listener pair per pending chunk on each (Job.waitUntilFinished).
    events.setMaxListeners(0);
    queue.setMaxListeners(0);
    await reachRedis(events.waitUntilReady(), options.redis);
    const chunks: ChunkData[] = [];
    for (let first = 0; first < K; first += size) chunks.push({ job, first, count: Math.min(size, K - first) });
    added = await queue.addBulk(chunks.map((data) => ({
      name: 'chunk',
      data,
      opts: {
        jobId: `${id}-${data.first}`,
        attempts,
        backoff: { type: 'fixed', delay: 200 },
        ...(priority > 0 ? { priority } : {}),
        // The submitter removes its chunks once read; these bound what a submitter that died leaves.
        removeOnComplete: { age: 24 * 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    })));
    let done = 0;
    const waits = added.map(async (j) => {
      try {
        const r = await j.waitUntilFinished(events!);
        options.onChunk?.(++done, added.length);
        return r;
      } catch (e) {
        const after = await queue.getJob(j.id!).catch(() => undefined);
        const tries = after?.attemptsMade ?? attempts;
        throw new QueueJobError(`chunk runs ${j.data.first}..${j.data.first + j.data.count - 1} of ${K} (job ${j.id}) failed after ${tries} ${tries === 1 ? 'try' : 'tries'}: ${(e as Error).message}`, { cause: e });
      }
    });
    const results = await untilAborted(Promise.all(waits), options.signal);
    return assemble(job, results, (performance.now() - started) / 1000);
  } finally {
    // Whatever way it ended: chunks not yet taken are withdrawn, finished ones removed. A chunk a
    // worker holds cannot be removed (its lock); it ends on its own and expires (removeOnComplete).
    await Promise.all(added.map((j) => j.remove().catch(() => undefined)));
    await events?.close();
    await queue.close();
  }
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The chunks' results in run order: runs-major arrays end to end, steps x runs arrays interleaved back. */
export function assemble(job: QueueJob, results: ChunkResult[], seconds: number): QueueResult {
  const K = job.samples;
  results = [...results].sort((a, b) => a.first - b.first);
  let next = 0;
  for (const r of results) {
    if (r.first !== next) throw new RangeError(`the chunks do not cover runs 0..${K - 1}: run ${next} is missing`);
    next += r.count;
  }
  if (next !== K) throw new RangeError(`the chunks cover ${next} runs, the job has ${K}`);
  const D = results[0].dim;
  const samples = new Float32Array(K * D);
  for (const r of results) samples.set(decode(r.samples, Float32Array, r.count * D, `chunk ${r.first}'s samples`), r.first * D);
  const out: QueueResult = {
    method: job.method, samples, shape: [K, D], warnings: [], seconds, chunks: results.length, backend: results[0].backend,
    workerSeconds: results.reduce((s, r) => s + r.seconds, 0),
  };
  const warnings = new Set<string>();
  if (job.method === 'smc') {
    const logEvidence = new Float64Array(K), logPy = new Float64Array(K);
    const first = results[0];
    const steps = Buffer.from(first.ess ?? '', 'base64').length / 8 / first.count;
    const ess = new Float64Array(steps * K), resampled = new Uint8Array(steps * K);
    for (const r of results) {
      const where = `chunk ${r.first}'s`;
      logEvidence.set(decode(r.logEvidence, Float64Array, r.count, `${where} log-evidence`), r.first);
      logPy.set(decode(r.logPy, Float64Array, r.count, `${where} log p(y)`), r.first);
      const e = decode(r.ess, Float64Array, steps * r.count, `${where} ESS`), f = decode(r.resampled, Uint8Array, steps * r.count, `${where} resampling flags`);
      for (let g = 0; g < steps; g++) {
        ess.set(e.subarray(g * r.count, (g + 1) * r.count), g * K + r.first);
        resampled.set(f.subarray(g * r.count, (g + 1) * r.count), g * K + r.first);
      }
      // A chunk's collapse warning counts its own runs; the job's is computed on all of them below.
      const own = collapseWarning(e, steps, r.count, job.particles!, r.first);
      for (const w of r.warnings) if (w !== own) warnings.add(w);
    }
    const collapse = collapseWarning(ess, steps, K, job.particles!);
    if (collapse) warnings.add(collapse);
    Object.assign(out, { logEvidence, logPy, ess, resampled });
  } else {
    for (const r of results) for (const w of r.warnings) warnings.add(w);
  }
  out.warnings = [...warnings];
  return out;
}
