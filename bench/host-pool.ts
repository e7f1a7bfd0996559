// Repeated calls with and without the reuse of finished runs' memory (lib/host-memory.ts):
// one process makes the same `smc` or `replacement` call over and over, as a server does,
// alternating CONDIFF_HOST_POOL=off and on call by call (the variable is read at every
// allocation), so both sides share the process, the moment and the machine's noise. Before
// each timed call with the pool on, an untimed call of the same size leaves its memory there,
// as the previous request of a server would. J = 25 identity covariances as full matrices
// (bench/common.ts identityProblem), 2 threads. Prints the median particle-steps/s of each
// side and every call's figure. A diagnostic for bench/RESULTS.md, not a benchmark of record.
//
//   node -r ./tools/register-ts.js bench/host-pool.ts [--method replacement|smc] [--dim 80]
//        [--particles 16] [--runs 4000] [--steps 72] [--rounds 8]
import { GaussianMixture, replacement, smc, schedules } from '../lib/index';
import { identityProblem, median } from './common';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`--${name} must be a positive integer, got ${process.argv[i + 1]}`);
  return v;
}

async function main(): Promise<void> {
  const m = process.argv.indexOf('--method');
  const method = m < 0 ? 'replacement' : process.argv[m + 1];
  if (method !== 'smc' && method !== 'replacement') throw new RangeError(`--method must be smc or replacement, got ${method}`);
  const dim = option('dim', 80), particles = option('particles', 16), runs = option('runs', 4000);
  const steps = option('steps', 72), rounds = option('rounds', 8);
  const problem = identityProblem(dim, 25);
  const model = GaussianMixture.fromJSON(problem.model);
  const common = { score: model, schedule: schedules.ou({ T: 5 }), observed: problem.observed, threads: 2, seed: 1, steps };
  const call = () => (method === 'smc' ? smc({ ...common, particles, samples: runs }) : replacement({ ...common, samples: particles * runs }));
  const rate = async () => {
    const t0 = performance.now();
    await call();
    return (particles * runs * steps) / ((performance.now() - t0) / 1000);
  };
  const before = process.env.CONDIFF_HOST_POOL;
  const rates: Record<'on' | 'off', number[]> = { on: [], off: [] };
  await call();
  await call();
  for (let i = 0; i < rounds; i++) {
    for (const mode of i % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      process.env.CONDIFF_HOST_POOL = mode;
      if (mode === 'on') await call();
      rates[mode].push(await rate());
    }
  }
  if (before === undefined) delete process.env.CONDIFF_HOST_POOL;
  else process.env.CONDIFF_HOST_POOL = before;
  const m6 = (x: number) => (x / 1e6).toFixed(3);
  console.log(`${method}, D = ${dim}, ${particles} x ${runs}, ${steps} steps, 2 threads, ${rounds} rounds (M particle-steps/s):`);
  for (const mode of ['off', 'on'] as const) console.log(`  pool ${mode.padEnd(3)} median ${m6(median(rates[mode]))}  [${rates[mode].map(m6).join(', ')}]`);
  console.log(`  on / off: ${(median(rates.on) / median(rates.off)).toFixed(3)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
