// Scale-out on the BullMQ queue (lib/queue/): a job's throughput with 1, 2 and 3 `condiff
// worker` processes (one thread each) against the same job in one process, measured in one
// sitting; and the queue's cost per chunk: a job of tiny chunks through one worker against
// the same chunks run in-process, with the Redis commands and bytes each chunk costs (INFO
// stats of the redis-server this script starts on a free loopback port).
//
//   node -r ./tools/register-ts.js bench/queue.ts [--quick] [--dry-run]
//
// Workers and Redis live through the measurements (a worker is a long-running process), so
// trials run in this process, not in fresh ones; each figure is the median of the trials.
import * as os from 'node:os';
import { execFileSync } from 'node:child_process';
import { GaussianMixture, schedules, smc, replacement } from '../lib/index';
import { submit, QueueJob, JOB_FORMAT } from '../lib/queue';
import { DEMO_MODEL, DEMO_OBSERVATION } from '../lib/cli/demo';
import { startRedis, RedisServer } from '../test/support/redis';
import { startWorkerProcess, WorkerProcess } from '../test/support/workers';
import { machineLines, machineRecord, markdownTable, median, parseScriptArgs, progress, writeSection, sig } from './common';

const args = parseScriptArgs();
const TRIALS = args.quick ? 2 : 3;
const mixture = GaussianMixture.fromJSON(DEMO_MODEL);
// The throughput job: smc on the demo problem, 1024 particles x 100 steps x D = 3 per run.
const BIG = { particles: 1024, steps: 100, samples: args.quick ? 192 : 768, chunkRuns: 32 };
// The overhead job: replacement, 5 steps, one run per chunk: the chunks cost almost nothing to compute.
const TINY = { steps: 5, samples: args.quick ? 50 : 200 };
const job = (over: Partial<QueueJob>): QueueJob => ({
  format: JOB_FORMAT, method: 'smc', model: { gaussianMixture: DEMO_MODEL }, observed: DEMO_OBSERVATION,
  schedule: { name: 'ou', horizon: 5 }, steps: BIG.steps, samples: BIG.samples, seed: 1, particles: BIG.particles, ...over,
} as QueueJob);
const local = { score: mixture, schedule: schedules.ou({ T: 5 }), observed: DEMO_OBSERVATION, seed: 1 };

function redisStats(r: RedisServer): { commands: number; bytesIn: number; bytesOut: number } {
  const text = execFileSync('redis-cli', ['-p', String(r.port), 'info', 'stats'], { encoding: 'utf8' });
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(text)![1]);
  return { commands: field('total_commands_processed'), bytesIn: field('total_net_input_bytes'), bytesOut: field('total_net_output_bytes') };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

async function main(): Promise<void> {
  const machine = machineRecord();
  const redis = await startRedis();
  const queue = `bench-${process.pid}`;
  let workers: WorkerProcess[] = [];
  const rows: Array<[string, number, number]> = [];
  try {
    // The baselines, in the same sitting: one process running the same chunks one after the
    // other on one thread (the work a worker does, without the queue), and the whole job in one
    // call on one thread and on all of them (a chunk's state fits the caches better than K runs').
    const whole = (threads: number) => smc({ ...local, steps: BIG.steps, particles: BIG.particles, samples: BIG.samples, threads });
    const chunked = async () => {
      for (let first = 0; first < BIG.samples; first += BIG.chunkRuns) {
        await smc({ ...local, steps: BIG.steps, particles: BIG.particles, samples: BIG.chunkRuns, firstRun: first, threads: 1 });
      }
    };
    await whole(1); // warm-up
    const baselines: Array<[string, () => Promise<unknown>]> = [
      ['one process, 1 thread, the same chunks in turn', chunked],
      ['one process, 1 thread, one call', () => whole(1)],
      [`one process, ${os.availableParallelism()} threads, one call`, () => whole(os.availableParallelism())],
    ];
    for (const [label, run] of baselines) {
      const s: number[] = [];
      for (let i = 0; i < TRIALS; i++) s.push(await timed(run));
      rows.push([label, median(s), BIG.samples / median(s)]);
      progress(`${label}: ${median(s).toFixed(2)} s`);
    }
    for (const n of [1, 2, 3]) {
      workers = await Promise.all(Array.from({ length: n }, () => startWorkerProcess(['--redis', redis.url, '--queue', queue, '--threads', '1'])));
      await submit(job({ samples: 8 }), { redis: redis.url, queue, chunkRuns: 1 }); // warm-up: every worker's first chunk
      const s: number[] = [];
      for (let i = 0; i < TRIALS; i++) s.push(await timed(() => submit(job({}), { redis: redis.url, queue, chunkRuns: BIG.chunkRuns })));
      rows.push([`${n} worker process${n > 1 ? 'es' : ''}, 1 thread each`, median(s), BIG.samples / median(s)]);
      progress(`${n} workers: ${median(s).toFixed(2)} s`);
      if (n < 3) await Promise.all(workers.map((w) => w.stop()));
    }
    for (const w of workers.slice(1)) await w.stop();
    workers = workers.slice(0, 1);

    // The cost per chunk: TINY.samples one-run chunks through one worker, against the same chunks in-process.
    const tiny = job({ method: 'replacement', steps: TINY.steps, samples: TINY.samples, particles: undefined });
    const inProcess: number[] = [], queued: number[] = [];
    let perChunk = { commands: 0, bytesIn: 0, bytesOut: 0 };
    for (let i = 0; i < TRIALS; i++) {
      inProcess.push(await timed(async () => {
        for (let r = 0; r < TINY.samples; r++) await replacement({ ...local, steps: TINY.steps, samples: 1, firstRun: r, threads: 1 });
      }));
      const before = redisStats(redis);
      queued.push(await timed(() => submit(tiny, { redis: redis.url, queue, chunkRuns: 1 })));
      const after = redisStats(redis);
      perChunk = {
        commands: (after.commands - before.commands) / TINY.samples,
        bytesIn: (after.bytesIn - before.bytesIn) / TINY.samples,
        bytesOut: (after.bytesOut - before.bytesOut) / TINY.samples,
      };
    }
    const overheadMs = ((median(queued) - median(inProcess)) / TINY.samples) * 1000;
    const loadAfter = os.loadavg();
    const base1 = rows[0][2];
    const table = markdownTable(['configuration', 'seconds (median)', 'runs/s', 'vs the first row'], rows.map(([c, s, r]) => [c, sig(3)(s), sig(3)(r), `${(r / base1).toFixed(2)}x`]));
    const markdown = `## Scale-out on a BullMQ queue

${machineLines(machine, loadAfter)}

Throughput job: smc on the demo mixture (D = 3), ${BIG.particles} particles x ${BIG.steps} steps, ${BIG.samples} runs in chunks of ${BIG.chunkRuns} (${BIG.samples / BIG.chunkRuns} chunks); the workers are \`condiff worker --threads 1\` processes on the same machine as redis-server ${execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).split(' ')[2]} and the submitter. Median of ${TRIALS} trials per row, all rows in one sitting.

${table}

Cost per chunk: ${TINY.samples} chunks of one replacement run (${TINY.steps} steps) through one worker took ${sig(3)(median(queued))} s against ${sig(3)(median(inProcess))} s for the same ${TINY.samples} calls in one process: **${sig(2)(overheadMs)} ms per chunk** of queue overhead (median of ${TRIALS}). Redis per chunk: ${sig(3)(perChunk.commands)} commands, ${sig(3)(perChunk.bytesIn)} bytes in and ${sig(3)(perChunk.bytesOut)} bytes out (INFO stats over the job; the worker's and the submitter's polling included; this job's JSON is about ${JSON.stringify({ job: tiny, first: 0, count: 1 }).length} bytes).
`;
    writeSection({
      name: 'queue', title: 'Scale-out on a BullMQ queue', machine, verdicts: [],
      data: { rows, overheadMs, perChunk, inProcess, queued, loadAfter },
    }, markdown, args);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await redis.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
