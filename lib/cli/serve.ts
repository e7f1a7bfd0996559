// `condiff serve`: the sampling service (lib/serve/app.ts) on a port, with the models named on
// the command line loaded once at start. SIGINT / SIGTERM drain it: new requests get 503,
// running ones finish, then the command returns 0; a second signal exits at once.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OnnxScore } from '../onnx';
import { MODELS_DIR } from '../digits';
import { isErrorNamed } from '../errors';
import { createService } from '../serve/app';
import type { ServedModel } from '../serve/request';
import { CliIO } from './io';
import { UsageError } from './errors';
import { parseFlags, integerFlag, numberFlag, stringFlag } from './flags';
import { loadModelSpec } from './files';
import { redisConnection } from '../queue/connection';

export const SERVE_USAGE = `condiff serve: a sampling service over HTTP (Fastify)

Usage:
  condiff serve [--port 8080] [--host 127.0.0.1] [--model NAME=FILE ...] [--token T] [--max-work W]

  --port P              TCP port (default 8080; 0 picks a free one)
  --host H              interface to listen on (default 127.0.0.1)
  --model NAME=FILE     a model to serve: a mixture JSON (as condiff sample --model) or an ONNX
                        network; repeatable. The shipped digits network is served as "digits"
                        when onnxruntime-node is installed.
  --token T             bearer token required on every route but GET /healthz
  --max-work W          largest particles x samples x steps x dim per request (default 1e10)
  --body-limit B        largest request body in bytes (default 1048576)
  --batch-window MS     how long a request waits for others to batch with (default 5; 0: no batching)
  --redis URL           hand requests of more than --queue-work to the condiff workers of a BullMQ
                        queue at this Redis (replacement, langevin, repaint, smc on exact masks;
                        README "Scale-out"); an ONNX model goes by its name: workers need
                        --model NAME=FILE with the same name
  --queue NAME          the queue's name (default condiff)
  --queue-work W        work above which a request goes to the queue (default 1e8)
  --queue-priority P    BullMQ priority of those chunks, 1 (highest) to 2097152 (default 10: after
                        jobs submitted without a priority, such as condiff sample --redis)
Routes: POST /v1/sample, GET /v1/models, GET /healthz, GET /metrics, GET /openapi.json (README "condiff serve").
SIGINT or SIGTERM: new requests get 503, running ones finish, then exit 0.`;

const FLAGS = {
  port: 'value', host: 'value', token: 'value', 'max-work': 'value', 'body-limit': 'value', 'batch-window': 'value',
  redis: 'value', queue: 'value', 'queue-work': 'value', 'queue-priority': 'value', help: 'switch',
} as const;

export async function loadServed(name: string, file: string): Promise<ServedModel> {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new UsageError(`--model names must be letters, digits, '_', '.' or '-', got ${JSON.stringify(name)}`);
  if (file.endsWith('.onnx')) {
    const net = await OnnxScore.load(file).catch((e: unknown) => {
      if (isErrorNamed(e, 'MissingDependencyError', 'FileError', 'TypeError', 'RangeError')) throw new UsageError(`--model ${name}=${file}: ${(e as Error).message}`);
      throw e;
    });
    return { name, score: net, dim: net.dim!, schedule: net.trainingSchedule ?? undefined, kind: 'onnx' };
  }
  const { model: m, spec } = loadModelSpec(file);
  return { name, score: m, dim: m.dim, kind: 'gaussian-mixture', spec };
}

/** The repeatable --model NAME=FILE flags, taken out before the other flags are parsed (serve, worker). */
export function takeModelArgs(args: readonly string[]): { modelArgs: Array<[string, string]>; rest: string[] } {
  const modelArgs: Array<[string, string]> = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--model' || a.startsWith('--model=')) {
      const v = a === '--model' ? args[++i] : a.slice('--model='.length);
      if (v === undefined || !v.includes('=')) throw new UsageError(`--model needs NAME=FILE, got ${JSON.stringify(v ?? '')}`);
      const eq = v.indexOf('=');
      modelArgs.push([v.slice(0, eq), v.slice(eq + 1)]);
    } else rest.push(a);
  }
  return { modelArgs, rest };
}

export async function serveCommand(args: readonly string[], io: CliIO): Promise<number> {
  const { modelArgs, rest } = takeModelArgs(args);
  const flags = parseFlags(rest, FLAGS, 'serve');
  if (flags.has('help')) {
    io.stdout.write(SERVE_USAGE + '\n');
    return 0;
  }
  const port = integerFlag(flags, 'port', 8080, 0, 65535);
  const host = stringFlag(flags, 'host') ?? '127.0.0.1';
  const token = stringFlag(flags, 'token');
  const maxWork = numberFlag(flags, 'max-work', 1e10, { positive: true });
  const bodyLimit = integerFlag(flags, 'body-limit', 1 << 20, 1, 2 ** 31 - 1);
  const batchWindowMs = numberFlag(flags, 'batch-window', 5, { min: 0, max: 10000 });
  const redis = stringFlag(flags, 'redis');
  for (const f of ['queue', 'queue-work', 'queue-priority']) if (redis === undefined && flags.has(f)) throw new UsageError(`--${f} applies only with --redis`);
  if (redis !== undefined) {
    try {
      redisConnection(redis);
    } catch (e) {
      throw new UsageError(`--redis: ${(e as Error).message}`);
    }
  }
  const queue = redis === undefined ? undefined : {
    redis,
    queue: stringFlag(flags, 'queue'),
    work: numberFlag(flags, 'queue-work', 1e8, { positive: true }),
    priority: integerFlag(flags, 'queue-priority', 10, 1, 2 ** 21),
  };

  const models: ServedModel[] = [];
  for (const [name, file] of modelArgs) {
    if (models.some((m) => m.name === name)) throw new UsageError(`--model ${name} given twice`);
    models.push(await loadServed(name, file));
  }
  const digits = path.join(MODELS_DIR, 'digits-eps.onnx');
  if (!models.some((m) => m.name === 'digits') && fs.existsSync(digits)) {
    try {
      models.push(await loadServed('digits', digits));
    } catch (e) {
      io.stderr.write(`condiff serve: not serving "digits": ${(e as Error).message}\n`);
    }
  }
  if (models.length === 0) throw new UsageError('no model to serve: give --model NAME=FILE');

  const service = await createService({ models, token, maxWork, bodyLimit, batchWindowMs, queue }).catch((e: unknown) => {
    if (isErrorNamed(e, 'MissingDependencyError')) throw new UsageError((e as Error).message);
    throw e;
  });
  const address = await service.app.listen({ port, host });
  io.stdout.write(`condiff serve: listening on ${address} (models: ${models.map((m) => m.name).join(', ')})\n`);
  await new Promise<void>((resolve) => {
    if (!io.signal) return;
    if (io.signal.aborted) resolve();
    io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  io.stderr.write('condiff serve: draining (new requests get 503)\n');
  await service.drain();
  await service.app.close();
  io.stderr.write('condiff serve: stopped\n');
  return 0;
}
