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
import { CHUNK_WORK } from '../lib/queue/submit';
import { DEMO_MODEL, DEMO_OBSERVATION } from '../lib/cli/demo';
import { startRedis, RedisServer } from '../test/support/redis';
import { startWorkerProcess, WorkerProcess } from '../test/support/workers';
import { machineLines, machineRecord, markdownTable, median, parseScriptArgs, progress, writeSection, sig } from './common';

const args = parseScriptArgs();
const TRIALS = args.quick ? 2 : 5;
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
    // Each worker count has its own queue and processes, all started before the first trial;
    // idle workers wait on Redis without using the CPU. The configurations take turns in each
    // round, so a change in the machine's other load spreads over all of them alike.
    const groups = new Map<number, string>();
    for (const n of [1, 2, 3]) {
      const q = `${queue}-${n}`;
      groups.set(n, q);
      workers.push(...await Promise.all(Array.from({ length: n }, () => startWorkerProcess(['--redis', redis.url, '--queue', q, '--threads', '1']))));
      await submit(job({ samples: 2 * n }), { redis: redis.url, queue: q, chunkRuns: 1 }); // warm-up: every worker's first chunk
    }
    const configs: Array<[string, () => Promise<unknown>]> = [
      ['one process, 1 thread, the same chunks in turn', chunked],
      ['one process, 1 thread, one call', () => whole(1)],
      [`one process, ${os.availableParallelism()} threads, one call`, () => whole(os.availableParallelism())],
      ...[1, 2, 3].map((n): [string, () => Promise<unknown>] => [
        `${n} worker process${n > 1 ? 'es' : ''}, 1 thread each`, () => submit(job({}), { redis: redis.url, queue: groups.get(n)!, chunkRuns: BIG.chunkRuns }),
      ]),
    ];
    const times = configs.map(() => [] as number[]);
    for (let i = 0; i < TRIALS; i++) {
      for (let c = 0; c < configs.length; c++) times[c].push(await timed(configs[c][1]));
      progress(`round ${i + 1} of ${TRIALS}`);
    }
    configs.forEach(([label], c) => rows.push([label, median(times[c]), BIG.samples / median(times[c])]));
    const queue1 = groups.get(1)!;

    // The cost per chunk: TINY.samples one-run chunks through one worker, against the same chunks in-process.
    const tiny = job({ method: 'replacement', steps: TINY.steps, samples: TINY.samples, particles: undefined });
    const inProcess: number[] = [], queued: number[] = [];
    let perChunk = { commands: 0, bytesIn: 0, bytesOut: 0 };
    for (let i = 0; i < TRIALS; i++) {
      inProcess.push(await timed(async () => {
        for (let r = 0; r < TINY.samples; r++) await replacement({ ...local, steps: TINY.steps, samples: 1, firstRun: r, threads: 1 });
      }));
      const before = redisStats(redis);
      queued.push(await timed(() => submit(tiny, { redis: redis.url, queue: queue1, chunkRuns: 1 })));
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

Throughput job: smc on the demo mixture (D = 3), ${BIG.particles} particles x ${BIG.steps} steps, ${BIG.samples} runs in chunks of ${BIG.chunkRuns} (${BIG.samples / BIG.chunkRuns} chunks); the workers are \`condiff worker --threads 1\` processes on the same machine as redis-server ${execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).split(' ')[2]} and the submitter. Median of ${TRIALS} trials per row, all rows in one sitting, the configurations taking turns in each of ${TRIALS} rounds.

${table}

Cost per chunk: ${TINY.samples} chunks of one replacement run (${TINY.steps} steps) through one worker took ${sig(3)(median(queued))} s against ${sig(3)(median(inProcess))} s for the same ${TINY.samples} calls in one process: **${sig(2)(overheadMs)} ms per chunk** of queue overhead (median of ${TRIALS}). Redis per chunk: ${sig(3)(perChunk.commands)} commands, ${sig(3)(perChunk.bytesIn)} bytes in and ${sig(3)(perChunk.bytesOut)} bytes out (INFO stats over the job; the worker's and the submitter's polling included; this job's JSON is about ${JSON.stringify({ job: tiny, first: 0, count: 1 }).length} bytes).

${reading(rows, overheadMs, perChunk, machine.loadAverage[0])}
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

/** What the figures say, and what the design does at 100 machines (from this run's figures). */
function reading(rows: Array<[string, number, number]>, overheadMs: number, perChunk: { commands: number; bytesIn: number; bytesOut: number }, loadBefore: number): string {
  // Other work on the machine (the 1-minute load average before the run) changes what the worker rows can show.
  const busy = loadBefore >= 1;
  const perRun = BIG.particles * BIG.steps * 3;
  const coreRate = rows[0][2] * perRun; // particle-step-coordinates per second, one thread, chunked
  const chunkSeconds = CHUNK_WORK / coreRate;
  const workers = 100, chunksPerSecond = workers / chunkSeconds;
  return `Reading. On 2 cores the workers cannot give more than the 2 cores: the rows with 1, 2 and 3 workers share them with redis-server, the submitter and the other work on the machine (its load average is above), so they are a test of the mechanism and of its overhead, not of scaling; more processes than cores also take a larger share of a contended machine, which flatters the worker rows against the one-process rows. A chunk's ${BIG.chunkRuns} runs keep their particles in the caches (${(BIG.chunkRuns * BIG.particles * 12 / 1024).toFixed(0)} KiB of state and score) where one call of all ${BIG.samples} runs does not${rows[0][2] > 1.05 * rows[1][2] ? ', which is why the same chunks in turn beat one call on one thread' : `; here the two were within ${Math.abs((rows[0][2] / rows[1][2] - 1) * 100).toFixed(1)}% of each other`}. Here 1 worker gave ${(rows[3][2] / rows[0][2]).toFixed(2)}x the rate of the same chunks in one process (the queue's cost${busy ? ' and the extra processes on a busy machine' : ''}), 2 workers ${(rows[4][2] / rows[0][2]).toFixed(2)}x and 3 workers ${(rows[5][2] / rows[0][2]).toFixed(2)}x${busy ? ': below 2x because the machine\'s other load (load average above) held part of both cores' : ' on a machine otherwise idle (load average above): 2 processes can use both cores, and a third shares them with redis-server and the submitter'}.

At 100 machines. One thread of this machine does ${sig(2)(coreRate)} particle-step-coordinates (particles x steps x D) a second on this problem, so the default chunk (CHUNK_WORK = 1.5e7 of them, lib/queue/submit.ts) takes about ${sig(2)(chunkSeconds)} s against ${sig(2)(overheadMs)} ms of queue overhead (${sig(2)((overheadMs / 1000 / chunkSeconds) * 100)}%). The rule for a job of K runs on W workers: runs per chunk = max(1, min(floor(CHUNK_WORK / (particles x steps x D)), floor(K / (4 W)))), so a chunk is at most the default and there are at least 4 chunks per worker, and the last chunks do not leave most workers idle; submit's default knows no W and applies the first bound only (pass \`chunkRuns\` for the second). A job too small for 4 W chunks of at least ~50 times the overhead (${sig(2)(overheadMs * 50 / 1000)} s) gains little from W machines. Redis does the work of one chunk in about ${sig(2)(perChunk.commands)} commands and ${sig(2)((perChunk.bytesIn + perChunk.bytesOut) / 1024)} KiB of traffic plus the result (count x D x 4 bytes of samples, and for smc 9 x steps + 16 bytes per run of ESS, flags and evidence, all in base64, 4/3 of that). ${workers} single-core workers on default chunks finish about ${sig(2)(chunksPerSecond)} chunks a second: ${sig(2)(chunksPerSecond * perChunk.commands)} Redis commands a second, a load one Redis core should carry (Redis is commonly quoted near 1e5 simple commands a second; BullMQ's are partly Lua scripts, heavier, and this ceiling was not measured here), so Redis should not be the limit until chunks fall to a few ms of work or results grow large; then make chunks larger (\`--chunk-runs\`), since both costs are per chunk. The submitter holds the whole result (K x D float32) and decodes each chunk as it arrives; every worker runs BullMQ's stalled check each stalled interval (100 of them every 30 s by default), and a worker lost mid-chunk costs one chunk's time again after the lock duration (30 s by default).`;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
