// The body of a Worker of the lifecycle test (test/native/workers.test.ts): loads condiff,
// says 'ready', then runs one kind of call in a loop until it is terminated (or, for
// 'exit', until it calls process.exit() itself while calls are in flight).
import { parentPort, workerData } from 'node:worker_threads';
import { smc, replacement, GaussianMixture, schedules, gatherRowsAsync, gatherRowsInPlaceAsync, resampleAsync } from '../../lib/index';

export type WorkerKind = 'native' | 'js' | 'blocks' | 'exit';
export interface LifecycleWorkerData {
  kind: WorkerKind;
  seed: number;
  /** For 'exit': ms after 'ready' at which the worker calls process.exit(). */
  exitAfter?: number;
}

const data = workerData as LifecycleWorkerData;
const model = GaussianMixture.fromJSON({
  weights: [1, 2],
  means: [[0, 0, 0, 0], [2, 1, 0, -1]],
  variances: [[1, 1, 1, 1], [0.5, 0.5, 0.5, 0.5]],
});
const observed = { indices: [0], values: [1] };
// 8000 rows x 4: every step's native work is large enough to run off the event loop.
const shape = { particles: 2000, samples: 4, steps: 8 };

async function once(kind: WorkerKind, i: number): Promise<void> {
  const seed = data.seed + i;
  if (kind === 'native') {
    await smc({ score: model, schedule: schedules.ou(), observed, seed, ...shape });
  } else if (kind === 'js') {
    // An async callback: the run waits on the event loop between native calls.
    const score = async (z: Float32Array) => {
      await new Promise((resolve) => setImmediate(resolve));
      const out = new Float32Array(z.length);
      for (let k = 0; k < z.length; k++) out[k] = -z[k];
      return out;
    };
    await smc({ score, dim: 4, schedule: schedules.ou(), observed, seed, ...shape });
  } else {
    const n = 1 << 17;
    const rows = new Float32Array(4 * n).fill(1), ancestors = new Int32Array(n);
    for (let k = 0; k < n; k++) ancestors[k] = (k * 7919) % n;
    await Promise.all([
      gatherRowsAsync(rows, 4, ancestors),
      resampleAsync(new Float64Array(n), 'systematic', { seed, counter: i }),
      model.score(rows, 1, { t: 1, alpha: 0.5, sigma: 0.8, rows: n, dim: 4 }),
      replacement({ score: model, schedule: schedules.ou(), observed, seed, samples: 4000, steps: 3 }),
    ]);
    await gatherRowsInPlaceAsync(rows, 4, ancestors);
  }
}

async function main(): Promise<void> {
  parentPort!.postMessage('ready');
  if (data.kind === 'exit') {
    setTimeout(() => process.exit(3), data.exitAfter ?? 0);
    for (let i = 0; ; i++) await once(i % 2 === 0 ? 'native' : 'blocks', i);
  }
  for (let i = 0; ; i++) {
    await once(data.kind, i);
    parentPort!.postMessage('iteration');
  }
}

void main();
