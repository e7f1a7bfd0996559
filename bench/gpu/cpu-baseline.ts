// The CPU side of the GPU filter comparison: particle-steps per second of the
// same filter as bench/gpu/bench.ts (smc, mixture D = 64, J = 10, one run of N particles)
// on the CPU backend with 2 threads, at N = 1e5 and 1e6. Run on the development machine;
// writes bench/gpu/cpu-baseline.json, which the GPU script divides by.
//
//   node -r ./tools/register-ts.js bench/gpu/cpu-baseline.ts
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { filterModel, filterRun } from './bench';

const THREADS = 2;
const SIZES: Array<[number, number]> = [
  [1e5, 20],
  [1e6, 5],
];

async function main(): Promise<void> {
  const { model, observed } = filterModel();
  await filterRun(model, observed, 1000, 2, 'cpu', THREADS);
  const rates: Record<string, number> = {};
  const detail: Record<string, number[]> = {};
  for (const [n, steps] of SIZES) {
    const times: number[] = [];
    for (let r = 0; r < 3; r++) times.push(await filterRun(model, observed, n, steps, 'cpu', THREADS));
    times.sort((a, b) => a - b);
    rates[String(n)] = (n * steps) / times[1];
    detail[String(n)] = times;
    console.log(`N = ${n}: ${steps} steps, seconds ${times.map((t) => t.toFixed(3)).join(', ')} -> ${rates[String(n)].toExponential(3)} particle-steps/s`);
  }
  const cpus = os.cpus();
  const record = {
    machine: `${cpus[0]?.model?.trim() ?? 'unknown'} (${cpus.length} cores visible)`,
    threads: THREADS,
    date: new Date().toISOString(),
    command: 'node -r ./tools/register-ts.js bench/gpu/cpu-baseline.ts',
    problem: 'smc, mixture D = 64, J = 10 (bench/common.ts mixtureProblem), one run, every step resampled; median of 3',
    rates,
    seconds: detail,
    loadAverage: os.loadavg(),
  };
  fs.writeFileSync(path.join(__dirname, 'cpu-baseline.json'), JSON.stringify(record, null, 2) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
