// Where a filter step's time goes: runs `smc` with the built-in mixture once and times
// every call into the native addon (and the mixture's score), by operation. A diagnostic
// for bench/RESULTS.md, not a benchmark of record: one process, one run, no trials.
// Operations run one after another, so the parts add up to the step (less the JS between).
//
//   node -r ./tools/register-ts.js bench/step-profile.ts [--dim 8] [--components 25]
//        [--particles 100000] [--runs 1] [--threads 1] [--steps 20]
import { native } from '../lib/native';
import { GaussianMixture, smc, schedules } from '../lib/index';
import { mixtureProblem, markdownTable, sig } from './common';

const totals = new Map<string, number>();

/** Replaces obj[name] by a wrapper that adds its wall time (to settling, if async) to `label`. */
function timeCalls(obj: Record<string, unknown>, name: string, label: string): void {
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

async function main(): Promise<void> {
  const dim = option('dim', 8), components = option('components', 25);
  const particles = option('particles', 1e5), runs = option('runs', 1), threads = option('threads', 1), steps = option('steps', 20);
  const addon = native as unknown as Record<string, unknown>;
  for (const name of Object.keys(addon)) if (name !== 'GaussianMixture') timeCalls(addon, name, name);
  timeCalls(GaussianMixture.prototype as unknown as Record<string, unknown>, 'scoreInto', 'mixture score');
  const problem = mixtureProblem(dim, components);
  const model = GaussianMixture.fromJSON(problem.model);
  const run = (s: number) => smc({ score: model, schedule: schedules.ou({ T: 5 }), steps: s, observed: problem.observed, particles, samples: runs, threads, seed: 1 });
  await run(3); // warm up
  totals.clear();
  const r = await run(steps);
  const perStep = (r.seconds * 1000) / steps;
  const rows = [...totals.entries()]
    .filter(([, ms]) => ms / steps >= 0.005)
    .sort((a, b) => b[1] - a[1])
    .map(([name, ms]) => [name, sig(3)(ms / steps), `${Math.round((100 * ms) / steps / perStep)}%`]);
  process.stdout.write(
    `D = ${dim}, J = ${components}, ${particles} particles x ${runs} run(s), ${threads} thread(s): ` +
      `${sig(3)(perStep)} ms per step, ${sig(3)((particles * runs * steps) / r.seconds / 1e6)}M particle-steps/s\n\n` +
      markdownTable(['operation', 'ms per step', 'share'], rows) +
      '\n',
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
