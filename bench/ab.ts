// A/B of two checkouts of condiff in one sitting: the same sampler and building-block
// workloads, each trial a fresh process, alternating A and B so that the machine's load
// falls on both alike; prints the median of each and the ratio B / A.
//
//   node -r ./tools/register-ts.js bench/ab.ts --a <checkout A> --b <checkout B>[,<checkout C>] [--trials 7] [--only <name part>]
//
// With a second B checkout (e.g. the same code built with other flags) the three rotate
// within each trial and each B is reported against A.
// Each checkout must have its addon built (build/Release) and its own lib/ and
// tools/register-ts.js; node_modules may be shared. Workloads: the bootstrap filter with the
// built-in mixture (every step resampled; D = 8, J = 25 and D = 64, J = 10, 10^4 particles
// in one run; 2 threads), replacement at D = 8 (10^4 samples), and resample + gather of
// 10^6 particles (systematic; 1 thread), as bench/filter-throughput.ts and
// bench/resample-gather.ts measure them; and `smc` / `replacement` on bench/RESULTS.md §7's
// shapes (names starting with §7).
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { median, randomMixtureSource } from './common';

interface Workload {
  name: string;
  unit: string;
  /** A script run in the checkout's root; prints one number (work per second). */
  script: string;
}

const MIXTURE = (D: number, J: number) => `${randomMixtureSource(D, J)}
  const model = c.GaussianMixture.fromJSON(spec);`;

const FILTER = (D: number, J: number, N: number, steps: number) => `
  const c = require('./lib/index');
  ${MIXTURE(D, J)}
  const o = { score: model, schedule: c.schedules.ou(), steps: ${steps}, observed: { indices: [0], values: [0.3] }, particles: ${N}, samples: 1, threads: 2, seed: 1 };
  (async () => {
    await c.smc({ ...o, steps: 5 });
    const r = await c.smc(o);
    console.log((${N} * ${steps}) / r.seconds);
  })();`;

const REPLACEMENT = (D: number, J: number, K: number, steps: number) => `
  const c = require('./lib/index');
  ${MIXTURE(D, J)}
  const o = { score: model, schedule: c.schedules.ou(), steps: ${steps}, observed: { indices: [0], values: [0.3] }, samples: ${K}, threads: 2, seed: 1 };
  (async () => {
    await c.replacement({ ...o, steps: 5 });
    const r = await c.replacement(o);
    console.log((${K} * ${steps}) / r.seconds);
  })();`;

// bench/RESULTS.md §7's shapes: J = 25 identity covariances as full matrices (bench/common.ts
// identityProblem), `particles` x `runs` rows, a 3-step call first.
const IDENTITY = (method: 'smc' | 'replacement', D: number, particles: number, runs: number, steps: number) => `
  const c = require('./lib/index');
  const pr = require('./bench/common').identityProblem(${D}, 25);
  const model = c.GaussianMixture.fromJSON(pr.model);
  const o = { score: model, schedule: c.schedules.ou({ T: 5 }), observed: pr.observed, threads: 2, seed: 1 };
  const run = (steps) => ${method === 'smc' ? `c.smc({ ...o, steps, particles: ${particles}, samples: ${runs} })` : `c.replacement({ ...o, steps, samples: ${particles * runs} })`};
  (async () => {
    await run(3);
    const r = await run(${steps});
    console.log((${particles * runs} * ${steps}) / r.seconds);
  })();`;

const RESAMPLE_GATHER = (N: number, D: number, reps: number) => `
  const c = require('./lib/index');
  const lw = new Float64Array(${N}); let s = 7;
  for (let i = 0; i < ${N}; i++) { s = (s * 1103515245 + 12345) % 2147483648; lw[i] = -3 * s / 2147483648; }
  const rows = new Float32Array(${N} * ${D}).fill(1), out = new Float32Array(${N} * ${D}), anc = new Int32Array(${N});
  for (let k = 0; k < 3; k++) { c.resample(lw, 'systematic', { seed: 1, counter: k }, anc, { threads: 1 }); c.gatherRows(rows, ${D}, anc, out, { threads: 1 }); }
  const t0 = performance.now();
  for (let k = 0; k < ${reps}; k++) { c.resample(lw, 'systematic', { seed: 1, counter: k }, anc, { threads: 1 }); c.gatherRows(rows, ${D}, anc, out, { threads: 1 }); }
  console.log(${N} * ${reps} / ((performance.now() - t0) / 1000));`;

const WORKLOADS: Workload[] = [
  { name: 'smc D=8 J=25 N=1e5', unit: 'particle-steps/s', script: FILTER(8, 25, 100_000, 40) },
  { name: 'smc D=8 J=25 N=1e4', unit: 'particle-steps/s', script: FILTER(8, 25, 10_000, 400) },
  { name: 'smc D=64 J=10 N=1e4', unit: 'particle-steps/s', script: FILTER(64, 10, 10_000, 20) },
  { name: 'replacement D=8 J=25 K=1e4', unit: 'sample-steps/s', script: REPLACEMENT(8, 25, 10_000, 400) },
  { name: 'resample+gather N=1e6 D=8', unit: 'particles/s', script: RESAMPLE_GATHER(1_000_000, 8, 20) },
  { name: '§7 smc D=8 256x100', unit: 'particle-steps/s', script: IDENTITY('smc', 8, 256, 100, 500) },
  { name: '§7 smc D=80 16x4000', unit: 'particle-steps/s', script: IDENTITY('smc', 80, 16, 4000, 72) },
  { name: '§7 smc D=800 16x400', unit: 'particle-steps/s', script: IDENTITY('smc', 800, 16, 400, 100) },
  { name: '§7 replacement D=80 16x4000', unit: 'particle-steps/s', script: IDENTITY('replacement', 80, 16, 4000, 72) },
];

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (fallback === undefined) throw new Error(`--${name} is required (bench/ab.ts --a <checkout> --b <checkout> [--trials N])`);
  return fallback;
}

function measure(root: string, w: Workload): number {
  const out = execFileSync(process.execPath, ['-r', path.join(root, 'tools/register-ts.js'), '-e', w.script], { cwd: root, encoding: 'utf8' });
  return Number(out.trim().split('\n').pop());
}

const a = path.resolve(arg('a'));
const bs = arg('b').split(',').map((x) => path.resolve(x));
const trials = Number(arg('trials', '7'));
console.log(`A = ${a}\n${bs.map((b, i) => `B${bs.length > 1 ? i + 1 : ''} = ${b}`).join('\n')}\n${os.cpus()[0].model}, ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}, ${new Date().toISOString()}, ${trials} trials each, rotating`);
const spread = (xs: number[]) => `${((Math.min(...xs) / median(xs) - 1) * 100).toFixed(0)}%/+${((Math.max(...xs) / median(xs) - 1) * 100).toFixed(0)}%`;
const names = bs.map((_, i) => (bs.length > 1 ? `B${i + 1}` : 'B'));
console.log(`| workload | A (median) | ${names.map((n) => `${n} (median) | ${n} / A`).join(' | ')} | A spread | ${names.map((n) => `${n} spread`).join(' | ')} |`);
console.log(`| --- | --- | ${names.map(() => '--- | ---').join(' | ')} | --- | ${names.map(() => '---').join(' | ')} |`);
const only = arg('only', '');
for (const w of WORKLOADS.filter((x) => x.name.includes(only))) {
  const roots = [a, ...bs];
  const results: number[][] = roots.map(() => []);
  for (let t = 0; t < trials; t++) {
    // Rotate which goes first, so a drift in load favours none.
    for (let k = 0; k < roots.length; k++) {
      const i = (k + t) % roots.length;
      results[i].push(measure(roots[i], w));
    }
  }
  const ma = median(results[0]);
  const cells = results.slice(1).map((r) => `${median(r).toExponential(3)} | ${(median(r) / ma).toFixed(3)}`);
  console.log(`| ${w.name} (${w.unit}) | ${ma.toExponential(3)} | ${cells.join(' | ')} | ${spread(results[0])} | ${results.slice(1).map(spread).join(' | ')} |`);
}
console.log(`load after: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
