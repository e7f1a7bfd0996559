// A queue worker: takes chunks off the BullMQ queue and runs them (lib/queue/job.ts). A
// chunk whose job is malformed fails at once (UnrecoverableError: every worker would refuse
// it); any other failure is retried, up to the submitter's `attempts`, on whichever worker
// takes it next — a worker that lacks a named model may be the only one that does. A worker
// that dies mid-chunk holds a lock it no longer renews: after `lockDurationMs` BullMQ's
// stalled-job check (every `stalledIntervalMs`, on any live worker) puts the chunk back.
import type { Job } from 'bullmq';
import { positiveInteger } from '../errors';
import { validateChunk, runChunk, ChunkData, ChunkResult, NamedModel } from './job';
import { loadBullmq, redisConnection, DEFAULT_QUEUE } from './connection';
import { reachRedis } from './submit';

export interface WorkerOptions {
  redis: string;
  queue?: string;
  /** Chunks run at once (default 1). */
  concurrency?: number;
  /** Threads per chunk (default: all cores). Results do not depend on it. */
  threads?: number;
  /** Models jobs may name (job.model { name }). */
  models?: ReadonlyMap<string, NamedModel>;
  /** How long a chunk's lock lasts without renewal (BullMQ's lockDuration, default 30000 ms; renewed every half of it). */
  lockDurationMs?: number;
  /** How often this worker looks for stalled chunks (BullMQ's stalledInterval, default 30000 ms). */
  stalledIntervalMs?: number;
  /** Times a chunk may stall before it fails (BullMQ's maxStalledCount, default 2). */
  maxStalledCount?: number;
  /** Called when a chunk starts (CLI log lines). */
  onStart?: (event: { id: string; first: number; count: number }) => void;
  /** Called when a chunk ends (CLI log lines). */
  onChunk?: (event: { id: string; first: number; count: number; seconds: number; error?: string }) => void;
}

/** No BullMQ type in the public declarations: a user without bullmq installed still type-checks. */
export interface QueueWorker {
  /** Stops taking chunks, lets the running ones finish, and disconnects. */
  close(): Promise<void>;
}

export async function startWorker(options: WorkerOptions): Promise<QueueWorker> {
  const { Worker, UnrecoverableError } = loadBullmq('condiff worker');
  const connection = redisConnection(options.redis);
  const concurrency = positiveInteger('concurrency', options.concurrency ?? 1, 1024);
  const models = options.models ?? new Map<string, NamedModel>();
  const processor = async (job: Job<ChunkData, ChunkResult>, _token?: string, signal?: AbortSignal): Promise<ChunkResult> => {
    let data: ChunkData;
    try {
      data = validateChunk(job.data);
    } catch (e) {
      throw new UnrecoverableError(`malformed chunk: ${(e as Error).message}`);
    }
    const started = performance.now();
    options.onStart?.({ id: job.id!, first: data.first, count: data.count });
    try {
      const r = await runChunk(data, models, options.threads, signal);
      options.onChunk?.({ id: job.id!, first: data.first, count: data.count, seconds: (performance.now() - started) / 1000 });
      return r;
    } catch (e) {
      options.onChunk?.({ id: job.id!, first: data.first, count: data.count, seconds: (performance.now() - started) / 1000, error: (e as Error).message });
      throw e;
    }
  };
  const worker = new Worker<ChunkData, ChunkResult>(options.queue ?? DEFAULT_QUEUE, processor, {
    connection,
    concurrency,
    lockDuration: options.lockDurationMs ?? 30000,
    stalledInterval: options.stalledIntervalMs ?? 30000,
    maxStalledCount: options.maxStalledCount ?? 2,
  });
  // Without a listener an 'error' event (Redis gone, a lock lost) would end the process.
  worker.on('error', () => undefined);
  try {
    await reachRedis(worker.waitUntilReady(), options.redis);
  } catch (e) {
    await worker.close(true).catch(() => undefined);
    throw e;
  }
  return { close: () => worker.close() };
}
