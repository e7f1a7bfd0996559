// `condiff worker`: takes chunks of jobs off a BullMQ queue on Redis and runs them
// (lib/queue/worker.ts) until SIGINT / SIGTERM, which lets the running chunks finish.
import { isErrorNamed } from '../errors';
import { startWorker } from '../queue/worker';
import type { NamedModel } from '../queue/job';
import { redisConnection, DEFAULT_QUEUE } from '../queue/connection';
import { defaultThreads } from '../threads';
import { CliIO } from './io';
import { UsageError } from './errors';
import { parseFlags, integerFlag, requiredFlag, stringFlag } from './flags';
import { takeModelArgs, loadServed } from './serve';

export const WORKER_USAGE = `condiff worker: runs chunks of sampling jobs from a BullMQ queue on Redis (README "Scale-out")

Usage:
  condiff worker --redis URL [--concurrency C] [--threads P] [--queue NAME] [--model NAME=FILE ...]

  --redis URL           redis://host:port[/db] (rediss:// for TLS)
  --concurrency C       chunks run at once (default 1)
  --threads P           threads per chunk (default: all cores divided by C; results do not depend on it)
  --queue NAME          the queue's name (default ${DEFAULT_QUEUE}); submitters must use the same
  --model NAME=FILE     a model jobs may name: a mixture JSON or an ONNX network; repeatable.
                        Every worker of a queue must load the same file under the same name.
  --lock-duration MS    how long a chunk's lock lasts unrenewed (default 30000): a worker that
                        died is noticed after this, and its chunk runs elsewhere
  --stalled-interval MS how often to look for such chunks (default 30000)
Prints a JSON line on stdout as each chunk starts and ends. SIGINT or SIGTERM: running chunks finish, then exit 0.`;

const FLAGS = {
  redis: 'value', concurrency: 'value', threads: 'value', queue: 'value', 'lock-duration': 'value', 'stalled-interval': 'value', help: 'switch',
} as const;

export async function workerCommand(args: readonly string[], io: CliIO): Promise<number> {
  const { modelArgs, rest } = takeModelArgs(args);
  const flags = parseFlags(rest, FLAGS, 'worker');
  if (flags.has('help')) {
    io.stdout.write(WORKER_USAGE + '\n');
    return 0;
  }
  const redis = requiredFlag(flags, 'redis', 'the Redis URL, redis://host:port');
  try {
    redisConnection(redis);
  } catch (e) {
    throw new UsageError(`--redis: ${(e as Error).message}`);
  }
  const concurrency = integerFlag(flags, 'concurrency', 1, 1, 1024);
  const threads = integerFlag(flags, 'threads', Math.max(1, Math.floor(defaultThreads() / concurrency)), 1, 1024);
  const queue = stringFlag(flags, 'queue') ?? DEFAULT_QUEUE;
  const lockDurationMs = integerFlag(flags, 'lock-duration', 30000, 1, 3_600_000);
  const stalledIntervalMs = integerFlag(flags, 'stalled-interval', 30000, 1, 3_600_000);
  const models = new Map<string, NamedModel>();
  for (const [name, file] of modelArgs) {
    if (models.has(name)) throw new UsageError(`--model ${name} given twice`);
    const m = await loadServed(name, file);
    models.set(name, { score: m.score, schedule: m.schedule });
  }
  const w = await startWorker({
    redis, queue, concurrency, threads, models, lockDurationMs, stalledIntervalMs,
    onStart: (c) => io.stdout.write(JSON.stringify({ start: c.id, runs: [c.first, c.first + c.count] }) + '\n'),
    onChunk: (c) => io.stdout.write(JSON.stringify({ chunk: c.id, runs: [c.first, c.first + c.count], seconds: Math.round(c.seconds * 1000) / 1000, ...(c.error ? { error: c.error } : {}) }) + '\n'),
  }).catch((e: unknown) => {
    if (isErrorNamed(e, 'MissingDependencyError')) throw new UsageError((e as Error).message);
    throw e;
  });
  io.stdout.write(`condiff worker: ready (queue ${queue}, concurrency ${concurrency}, threads ${threads}${models.size ? `, models: ${[...models.keys()].join(', ')}` : ''})\n`);
  await new Promise<void>((resolve) => {
    if (!io.signal) return;
    if (io.signal.aborted) resolve();
    io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  io.stderr.write('condiff worker: stopping (running chunks finish)\n');
  await w.close();
  io.stderr.write('condiff worker: stopped\n');
  return 0;
}
