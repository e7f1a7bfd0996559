// Scale-out on a real queue (lib/queue/): a real redis-server and 2-3 `condiff worker`
// processes. A job split over them gives the bytes of one process (library and CLI); a worker
// killed with SIGKILL mid-chunk loses nothing (BullMQ's stalled-job check, with a 1 s lock);
// a chunk that fails on every try fails the job with its cause. No mock Redis.
import { describe, expect, test, beforeAll, afterAll, afterEach, beforeEach } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GaussianMixture, schedules, smc, replacement } from '../../lib/index';
import { submit, QueueJob, JOB_FORMAT, QueueJobError } from '../../lib/queue';
import { DEMO_MODEL, DEMO_OBSERVATION } from '../../lib/cli/demo';
import { redisServerPath, startRedis, RedisServer } from '../support/redis';
import { startWorkerProcess, finishedChunks, WorkerProcess } from '../support/workers';
import { runCli } from '../support/cli';
import { createService } from '../../lib/serve/app';
import type { ServedModel } from '../../lib/serve/request';

if (!redisServerPath) {
  console.warn('test/queue/queue.test.ts skipped: redis-server is not installed here (apt-get install -y redis-server; .ci/run installs it)');
}
const suite = redisServerPath ? describe : describe.skip;

const mixture = GaussianMixture.fromJSON(DEMO_MODEL);
const base = {
  format: JOB_FORMAT as typeof JOB_FORMAT, model: { gaussianMixture: DEMO_MODEL } as QueueJob["model"], observed: DEMO_OBSERVATION as QueueJob["observed"],
  schedule: { name: 'ou' as const, horizon: 5 }, steps: 25, seed: 11,
};
const local = { score: mixture, schedule: schedules.ou({ T: 5 }), steps: 25, observed: DEMO_OBSERVATION, seed: 11 };
// Short locks so a dead worker's chunk comes back within seconds (production default: 30 s).
const FAST = ['--threads', '1', '--lock-duration', '1000', '--stalled-interval', '500'];

const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

let redis: RedisServer;
let workers: WorkerProcess[] = [];
let queueCount = 0;
let queue = '';
const workersOn = async (n: number, extra: string[] = []) => {
  workers = await Promise.all(Array.from({ length: n }, () => startWorkerProcess(['--redis', redis.url, '--queue', queue, ...FAST, ...extra])));
  return workers;
};

suite('condiff worker and submit on a real Redis', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  beforeEach(() => {
    queue = `test-${process.pid}-${++queueCount}`;
  });
  afterEach(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    workers = [];
  });

  test('smc over 3 workers: the samples, log-evidence, ESS and warnings of one process', async () => {
    const ws = await workersOn(3);
    const job: QueueJob = { ...base, method: 'smc', samples: 24, particles: 64 };
    const r = await submit(job, { redis: redis.url, queue, chunkRuns: 2 });
    const one = await smc({ ...local, samples: 24, particles: 64 });
    expect(r.chunks).toBe(12);
    expect(bytes(r.samples)).toEqual(bytes(one.samples));
    expect(bytes(r.logEvidence!)).toEqual(bytes(one.logEvidence));
    expect(bytes(r.logPy!)).toEqual(bytes(one.logPy));
    expect(bytes(r.ess!)).toEqual(bytes(one.ess));
    expect(bytes(r.resampled!)).toEqual(bytes(one.resampled));
    expect(r.warnings).toEqual(one.warnings);
    // The chunks were shared: more than one worker ran some.
    expect(ws.filter((w) => finishedChunks(w).length > 0).length).toBeGreaterThan(1);
  });

  test('replacement with a Langevin corrector and a noisy dense observation over 2 workers: the bytes of one process', async () => {
    await workersOn(2);
    const observed = { A: [[1, 0.5, 0], [0, 1, -1]], y: [0.3, -0.2], noiseStd: 0.1 };
    const corrector = { kind: 'langevin' as const, steps: 2, gamma: 0.1 };
    const r = await submit({ ...base, observed, method: 'replacement', samples: 10, corrector }, { redis: redis.url, queue, chunkRuns: 3 });
    const one = await replacement({ ...local, observed, samples: 10, corrector });
    expect(r.chunks).toBe(4);
    expect(bytes(r.samples)).toEqual(bytes(one.samples));
  });

  test('condiff sample --redis writes the files of a local run, byte for byte', async () => {
    await workersOn(2);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condiff-queue-'));
    try {
      fs.writeFileSync(path.join(dir, 'm.json'), JSON.stringify(DEMO_MODEL));
      fs.writeFileSync(path.join(dir, 'o.json'), JSON.stringify(DEMO_OBSERVATION));
      const args = (out: string) => ['sample', '--model', path.join(dir, 'm.json'), '--observe', path.join(dir, 'o.json'), '--method', 'smc', '--particles', '32',
        '--samples', '9', '--steps', '20', '--seed', '3', '--out', path.join(dir, `${out}.npy`), '--out-evidence', path.join(dir, `${out}-z.npy`), '--out-ess', path.join(dir, `${out}-ess.npy`)];
      const q = await runCli([...args('q'), '--redis', redis.url, '--queue', queue, '--chunk-runs', '2']);
      expect(q.code).toBe(0);
      expect(JSON.parse(q.stdout).queue.chunks).toBe(5);
      const l = await runCli(args('l'));
      expect(l.code).toBe(0);
      // The same warnings (here the coarse step's), once.
      expect(q.stderr).toBe(l.stderr);
      expect(q.stderr).toMatch(/^warning: smc: the step is too coarse/);
      for (const suffix of ['', '-z', '-ess']) expect(fs.readFileSync(path.join(dir, `q${suffix}.npy`))).toEqual(fs.readFileSync(path.join(dir, `l${suffix}.npy`)));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a worker killed with SIGKILL mid-chunk loses nothing: its chunk runs on another, the bytes are one process\'s', async () => {
    const [victim, survivor] = await workersOn(2);
    // Chunks of 4 x 10000 x 400 x 3 = 4.8e7 particle-step-coordinates, over half a second on
    // one thread of the development machine (bench/RESULTS.md: 7.3e7 a second), so the kill
    // lands inside the chunk whose start the victim reported.
    const job: QueueJob = { ...base, method: 'smc', samples: 8, particles: 10000, steps: 400 };
    const running = submit(job, { redis: redis.url, queue, chunkRuns: 4 });
    const started = JSON.parse(await victim.waitFor(/^\{"start"/)).start as string;
    await victim.stop('SIGKILL');
    const r = await running;
    const one = await smc({ ...local, samples: 8, particles: 10000, steps: 400 });
    expect(bytes(r.samples)).toEqual(bytes(one.samples));
    expect(bytes(r.logEvidence!)).toEqual(bytes(one.logEvidence));
    expect(finishedChunks(victim)).not.toContain(started);
    expect(finishedChunks(survivor)).toContain(started);
  });

  test('a chunk that fails on every try fails the job with its cause', async () => {
    await workersOn(2);
    const job: QueueJob = { ...base, model: { name: 'absent' }, method: 'replacement', samples: 4 };
    const failed = submit(job, { redis: redis.url, queue, chunkRuns: 2, attempts: 2 });
    // Whichever chunk fails first fails the job.
    await expect(failed).rejects.toThrow(/chunk runs (0\.\.1|2\.\.3) of 4 .* failed after 2 tries: this worker has no model named "absent" \(it loaded none/);
    await expect(failed).rejects.toBeInstanceOf(QueueJobError);
  });

  test('a named model every worker loaded: the bytes of the same mixture sent by content', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condiff-queue-'));
    try {
      fs.writeFileSync(path.join(dir, 'm.json'), JSON.stringify(DEMO_MODEL));
      await workersOn(2, ['--model', `demo=${path.join(dir, 'm.json')}`]);
      const r = await submit({ ...base, model: { name: 'demo' }, method: 'replacement', samples: 6 }, { redis: redis.url, queue, chunkRuns: 2 });
      const one = await replacement({ ...local, samples: 6 });
      expect(bytes(r.samples)).toEqual(bytes(one.samples));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('condiff serve --redis: a request past the work threshold runs on the workers, with the bytes the server computes itself', async () => {
    await workersOn(2);
    const served: ServedModel = { name: 'demo', score: mixture, dim: 3, kind: 'gaussian-mixture', spec: DEMO_MODEL };
    const plain = await createService({ models: [served] });
    const queued = await createService({ models: [served], queue: { redis: redis.url, queue, work: 5000, chunkRuns: 2 } });
    try {
      await plain.app.listen({ port: 0, host: '127.0.0.1' });
      await queued.app.listen({ port: 0, host: '127.0.0.1' });
      const ask = async (s: typeof plain, payload: Record<string, unknown>, accept = 'application/json') => {
        const r = await fetch(`http://127.0.0.1:${(s.app.server.address() as { port: number }).port}/v1/sample`, {
          method: 'POST', headers: { 'content-type': 'application/json', accept }, body: JSON.stringify(payload),
        });
        return { status: r.status, chunks: r.headers.get('x-condiff-queue-chunks'), body: Buffer.from(await r.arrayBuffer()) };
      };
      const request = { model: 'demo', observe: DEMO_OBSERVATION, method: 'smc', particles: 16, samples: 7, steps: 25, seed: 5 };
      // 16 x 7 x 25 x 3 = 8400 > 5000: queued, in 4 chunks; the JSON equals the server's own run but for the time.
      const big = await ask(queued, request), here = await ask(plain, request);
      expect(big.status).toBe(200);
      expect(big.chunks).toBe('4');
      const { seconds: _a, ...fromQueue } = JSON.parse(big.body.toString()), { seconds: _b, ...fromServer } = JSON.parse(here.body.toString());
      expect(fromQueue).toEqual(fromServer);
      const { particles: _p, ...langevin } = { ...request, method: 'langevin', samples: 80 };
      const npyQueued = await ask(queued, langevin, 'application/x-npy');
      expect(npyQueued.chunks).toBe('40');  // 80 x 25 x 3 = 6000
      expect(npyQueued.body).toEqual((await ask(plain, langevin, 'application/x-npy')).body);
      // Streamed: a `queued` event with the chunks, then the result, the same as the JSON answer.
      const streamed = await fetch(`http://127.0.0.1:${(queued.app.server.address() as { port: number }).port}/v1/sample?stream=1`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request),
      }).then((r) => r.text());
      expect(streamed).toMatch(/^event: queued\ndata: \{"chunks":4\}\n\nevent: result\n/);
      const { seconds: _c, ...fromStream } = JSON.parse(/event: result\ndata: (.*)\n/.exec(streamed)![1]);
      expect(fromStream).toEqual(fromServer);
      // 16 x 2 x 25 x 3 = 2400: run by the server itself.
      const small = await ask(queued, { ...request, samples: 2 });
      expect(small.status).toBe(200);
      expect(small.chunks).toBeNull();
    } finally {
      await plain.app.close();
      await queued.app.close();
    }
  });
});

describe('the job format and the missing dependency', () => {
  test('a malformed job fails at submit, naming the field, before Redis is touched', async () => {
    const url = 'redis://127.0.0.1:1';
    await expect(submit({ ...base, method: 'smc', samples: 4 } as QueueJob, { redis: url })).rejects.toThrow(/job\.particles/);
    await expect(submit({ ...base, method: 'replacement', samples: 4, particles: 3 } as QueueJob, { redis: url })).rejects.toThrow(/job\.particles applies to method smc only/);
    await expect(submit({ ...base, method: 'replacement', samples: 4, path: '/tmp/m.json' } as unknown as QueueJob, { redis: url })).rejects.toThrow(/unknown field "path"/);
    await expect(submit({ ...base, model: { gaussianMixture: { weights: [1] } }, method: 'replacement', samples: 4 }, { redis: url })).rejects.toThrow(/means/);
    await expect(submit({ ...base, method: 'replacement', samples: 4 }, { redis: 'http://x' })).rejects.toThrow(/redis:\/\/host:port/);
    await expect(submit({ ...base, method: 'replacement', samples: 5000 }, { redis: url, chunkRuns: 1 })).rejects.toThrow(/chunkRuns must be at least 2 for 5000 samples \(at most 4096 chunks a job\), got 1/);
  });

  test('the command line refuses what a queue cannot do, by name', async () => {
    expect(await runCli(['worker'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/missing --redis/) });
    expect(await runCli(['worker', '--redis', 'localhost:6379'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--redis: redis must be a URL/) });
    const sample = ['sample', '--model', 'examples/model.json', '--observe', 'examples/observe.json', '--out', '/dev/null', '--samples', '2'];
    expect(await runCli([...sample, '--method', 'tds', '--redis', 'redis://127.0.0.1:1'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--redis runs --method replacement, langevin, repaint, smc, not tds/) });
    expect(await runCli([...sample, '--method', 'smc', '--chunk-runs', '2'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--chunk-runs applies only with --redis/) });
    expect(await runCli([...sample, '--method', 'smc', '--threads', '2', '--redis', 'redis://127.0.0.1:1'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--threads applies to a local run/) });
    expect(await runCli(['serve', '--queue-work', '10'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--queue-work applies only with --redis/) });
    expect((await runCli(['help', 'worker'])).stdout).toMatch(/condiff worker --redis URL/);
  });

  test('without bullmq the library loads, and submit names the package to install', async () => {
    await jestIsolated(async () => {
      const { submit: isolated } = require('../../lib/queue') as typeof import('../../lib/queue');
      await expect(isolated({ ...base, method: 'replacement', samples: 2 }, { redis: 'redis://127.0.0.1:1' })).rejects.toMatchObject({
        name: 'MissingDependencyError', dependency: 'bullmq', message: expect.stringMatching(/needs the optional dependency bullmq, and it is not installed\. Install it with: npm install bullmq/),
      });
    });
  });
});

/** Runs `fn` with 'bullmq' unresolvable, as where it is not installed. */
async function jestIsolated(fn: () => Promise<void>): Promise<void> {
  const { jest } = await import('@jest/globals');
  jest.resetModules();
  jest.doMock('bullmq', () => {
    throw Object.assign(new Error("Cannot find module 'bullmq'"), { code: 'MODULE_NOT_FOUND' });
  });
  try {
    await fn();
  } finally {
    jest.dontMock('bullmq');
    jest.resetModules();
  }
}
