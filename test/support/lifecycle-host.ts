// The host process of the lifecycle test (test/native/workers.test.ts), run as its own
// node process so that an abort shows as its exit status rather than killing jest:
// starts Workers that run condiff (lifecycle-worker.ts) and terminates them at random
// moments, or lets them call process.exit() mid-call, then checks that this process
// still runs condiff correctly. Prints one JSON line with what happened.
//   node -r tools/register-ts.js test/support/lifecycle-host.ts [workers [seed [width]]]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { transformSync } from '@swc/core';
import { gatherRowsAsync, smc, GaussianMixture, schedules } from '../../lib/index';
import type { LifecycleWorkerData, WorkerKind } from './lifecycle-worker';

// The TypeScript every worker loads, compiled once here (as tools/register-ts.js would,
// in each worker): loading condiff then costs a worker ~0.1 s instead of ~0.4 s.
const root = path.join(__dirname, '..', '..');
const workerFile = path.join(__dirname, 'lifecycle-worker.ts');
function compileTree(dir: string, into: Record<string, string>): Record<string, string> {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) compileTree(file, into);
    else if (file.endsWith('.ts')) {
      into[file] = transformSync(fs.readFileSync(file, 'utf8'), {
        filename: file,
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs', ignoreDynamic: true },
      }).code;
    }
  }
  return into;
}
const compiled = compileTree(path.join(root, 'lib'), {});
Object.assign(compiled, compileTree(__dirname, {}));
const bootstrap = `const { workerData } = require('node:worker_threads');
require.extensions['.ts'] = (module, file) => module._compile(workerData.compiled[file], file);
require(${JSON.stringify(workerFile)});`;

// A small deterministic generator, so a failing seed can be rerun.
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13, s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5, s >>>= 0;
    return s / 2 ** 32;
  };
}

interface Outcome {
  kind: WorkerKind;
  /** 'load': terminated `delay` ms after it was started; 'run': `delay` ms after it had loaded condiff. */
  from: 'load' | 'run';
  delay: number;
  /** Whether it had loaded condiff when it ended. */
  ready: boolean;
  iterations: number;
  exitCode: number;
  error?: string;
}

// Starts a Worker and ends it: terminated `delay` ms after it starts (from 'load') or after
// it has loaded condiff (from 'run'; 'exit' workers call process.exit() then themselves),
// or, with delay = null, after its first iteration. Resolves to what happened and how long
// the first iteration took.
function runWorker(kind: WorkerKind, seed: number, from: 'load' | 'run', delay: number | null): Promise<Outcome & { firstIteration: number }> {
  const workerData: LifecycleWorkerData & { compiled: Record<string, string> } = { kind, seed, exitAfter: kind === 'exit' ? (delay ?? 0) : undefined, compiled };
  const worker = new Worker(bootstrap, { eval: true, workerData });
  const outcome = { kind, from, delay: delay ?? -1, ready: false, iterations: 0, exitCode: -1, firstIteration: -1 } as Outcome & { firstIteration: number };
  let timer: NodeJS.Timeout | undefined;
  let readyAt = 0;
  const terminateIn = (ms: number) => (timer = setTimeout(() => void worker.terminate(), ms));
  if (from === 'load' && delay !== null) terminateIn(delay);
  return new Promise((resolve) => {
    worker.on('message', (m) => {
      if (m === 'ready') {
        outcome.ready = true;
        readyAt = performance.now();
        if (from === 'run' && delay !== null && kind !== 'exit') terminateIn(delay);
      } else if (++outcome.iterations === 1) {
        outcome.firstIteration = performance.now() - readyAt;
        if (delay === null) void worker.terminate();
      }
    });
    worker.on('error', (e) => (outcome.error = String(e)));
    worker.on('exit', (code) => {
      if (timer) clearTimeout(timer);
      outcome.exitCode = code;
      resolve(outcome);
    });
  });
}

// Runs the jobs at most `width` at a time (so that loading does not take all the CPUs).
async function pooled<T>(jobs: Array<() => Promise<T>>, width: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: width }, lane));
  return results;
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 30);
  const seed = Number(process.argv[3] ?? 1);
  const width = Number(process.argv[4] ?? 6);
  const next = random(seed);
  // The run's duration: one iteration of each kind, timed with `width` workers at once.
  const probes = await Promise.all((['native', 'js', 'blocks'] as const).map((kind) => runWorker(kind, seed, 'run', null)));
  const duration = Math.max(...probes.map((p) => p.firstIteration));
  const kinds: WorkerKind[] = ['native', 'js', 'blocks', 'exit'];
  // One in five is terminated while it loads condiff; the others at a random moment of a run.
  const outcomes = await pooled(
    Array.from({ length: count }, (_, i) => () => runWorker(kinds[i % kinds.length], seed + i, i % 5 === 4 ? 'load' : 'run', next() * duration)),
    width,
  );
  // The host still works: a run and a building block give the right answer.
  const model = GaussianMixture.fromJSON({ weights: [1], means: [[0, 0]], variances: [[1, 1]] });
  const after = await smc({ score: model, schedule: schedules.ou(), observed: { indices: [0], values: [1] }, particles: 256, samples: 8, steps: 10, seed: 5 });
  const n = 1 << 16;
  const rows = Float32Array.from({ length: 4 * n }, (_, k) => k);
  const ancestors = Int32Array.from({ length: n }, (_, k) => n - 1 - k);
  const gathered = await gatherRowsAsync(rows, 4, ancestors);
  const gatherOk = gathered.every((v, k) => v === rows[4 * (n - 1 - Math.floor(k / 4)) + (k % 4)]);
  process.stdout.write(JSON.stringify({ duration, outcomes, afterSamples: after.samples.length, finite: after.samples.every(Number.isFinite), gatherOk }) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n');
  process.exit(1);
});
