// Where a sampler step's time goes: runs `smc` (or `replacement`) with the built-in mixture
// once and times every call into the native addon (and the mixture's score), by operation,
// with each one's bytes of particle state moved per particle and its rate. A diagnostic
// for bench/RESULTS.md, not a benchmark of record: one process, one run, no trials.
// Operations run one after another, so the parts add up to the step (less the JS between).
//
//   node -r ./tools/register-ts.js bench/step-profile.ts [--dim 8] [--components 25]
//        [--particles 100000] [--runs 1] [--threads 1] [--steps 20] [--identity]
//        [--method smc|replacement] [--split]
//
// --identity: identity covariances given as full matrices (identityProblem, the
// isotropic score path) instead of mixtureProblem's dense ones. --split: runs the step as
// the separate operations the fused job (`smcStep` for smc, `moveStep` for replacement) is
// made of (the same bytes, one thread-pool round trip each), so each is timed; otherwise the
// fused job is one row, and with the built-in mixture it includes the score (the job scores
// the rows itself).
//
// "÷ copy": each operation's time per particle over copying one particle's row
// (Float32Array.prototype.set of the whole state, timed here: 8 D bytes read and written
// per particle). An operation that only streams memory takes about its bytes moved per
// particle (the "bytes" column, where the operation has a fixed count) over 8 D copies.
import { selectBackend } from '../lib/backend';
import { GaussianMixture, replacement, smc, schedules } from '../lib/index';
import { SCORE_OWNED } from '../lib/score';
import { identityProblem, mixtureProblem, markdownTable, sig } from './common';

const totals = new Map<string, number>();

/** Replaces obj[name] by a wrapper that adds its wall time (to settling, if async) to `label`. */
function timeCalls(obj: Record<string | symbol, unknown>, name: string | symbol, label: string): void {
  const original = obj[name];
  if (typeof original !== 'function') return;
  obj[name] = function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    const add = () => totals.set(label, (totals.get(label) ?? 0) + performance.now() - t0);
    const result = original.apply(this, args);
    if (result instanceof Promise) return result.finally(add);
    add();
    return result;
  };
}

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

/** Median ms of copying `length` float32 values between two preallocated arrays. */
function copyMs(length: number): number {
  const src = new Float32Array(length).fill(1), dst = new Float32Array(length);
  const t: number[] = [];
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    dst.set(src);
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[4];
}

async function main(): Promise<void> {
  const dim = option('dim', 8), components = option('components', 25);
  const particles = option('particles', 1e5), runs = option('runs', 1), threads = option('threads', 1), steps = option('steps', 20);
  const identity = process.argv.includes('--identity');
  const method = process.argv.includes('replacement') ? 'replacement' : 'smc';
  // A sampler scores its own arrays through SCORE_OWNED (lib/score.ts).
  timeCalls(GaussianMixture.prototype as unknown as Record<symbol, unknown>, SCORE_OWNED, 'mixture score');
  // The CPU backend took its operations and its fused step from the addon when it loaded:
  // time them (or drop the fused step) there.
  const cpu = selectBackend('cpu') as unknown as Record<string, unknown>;
  const ops = cpu.ops as Record<string, unknown>;
  for (const name of Object.keys(ops)) timeCalls(ops, name, name);
  for (const fused of ['smcStep', 'moveStep']) {
    if (process.argv.includes('--split')) cpu[fused] = undefined;
    else timeCalls(cpu, fused, fused);
  }
  const problem = identity ? identityProblem(dim, components) : mixtureProblem(dim, components);
  const model = GaussianMixture.fromJSON(problem.model);
  const common = { score: model, schedule: schedules.ou({ T: 5 }), observed: problem.observed, threads, seed: 1 };
  const run = (s: number) =>
    method === 'smc' ? smc({ ...common, steps: s, particles, samples: runs }) : replacement({ ...common, steps: s, samples: particles * runs });
  await run(3); // warm up
  totals.clear();
  const r = await run(steps);
  const perStep = (r.seconds * 1000) / steps;
  const n = particles * runs;
  const copyNs = (copyMs(n * dim) / n) * 1e6;
  const dY = problem.observed.indices.length;
  // Bytes of particle state each operation must read and write per particle (float32
  // rows, float64 weights, int32 ancestors); normals and exponentials are extra work.
  const bytes: Record<string, number> = {
    'mixture score': 8 * dim,
    kernelMean: 12 * dim,
    gaussianYLogWeights: 4 * dY + 8,
    reweight: 24,
    propagate: 8 * dim,
    smcStep: 20 * dim + 4 * dY + 60,
    moveStep: 8 * dim + 4 * dY,
  };
  const rows = [...totals.entries()]
    .filter(([, ms]) => ms / steps >= 0.005)
    .sort((a, b) => b[1] - a[1])
    .map(([name, ms]) => {
      const ns = (ms / steps / n) * 1e6;
      return [name, sig(3)(ms / steps), `${Math.round((100 * ms) / steps / perStep)}%`, sig(3)(ns), bytes[name] ?? '', sig(3)(ns / copyNs)];
    });
  process.stdout.write(
    `${method}, D = ${dim}, J = ${components} (${model.structure} covariances, ${model.scorePath} score path), ` +
      `${particles} particles x ${runs} run(s), ${threads} thread(s): ` +
      `${sig(3)(perStep)} ms per step, ${sig(3)((n * steps) / r.seconds / 1e6)}M particle-steps/s; ` +
      `copying one row (${8 * dim} bytes moved): ${sig(3)(copyNs)} ns per particle\n\n` +
      markdownTable(['operation', 'ms per step', 'share', 'ns per particle', 'bytes', '÷ copy'], rows) +
      '\n',
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
