// The Node half of the one-shot GPU check (bench/gpu/run.sh): parity of the CUDA backend
// with the CPU one (test/support/parity.ts), then the benchmarks (bench/gpu/bench.ts).
// Writes results.json, summary.md (the section for bench/RESULTS.md) and node.log into
// --out, and prints a short table last.
//
//   node .device/js/bench/gpu/main.js --out DIR [--budget-s S] [--ctest TEXT]
//       on the device, from run.sh: results.json and summary.md are rewritten after every
//       step (a run cut short keeps what it measured); a step that would not fit in the
//       time left of --budget-s is skipped and says so. The log goes to stdout.
//   node -r ./tools/register-ts.js bench/gpu/main.ts --record RESULTS.json
//       writes the section of a results.json into bench/RESULTS.md (on any machine)
//   node -r ./tools/register-ts.js bench/gpu/main.ts --dry-run --out DIR
//       every step on the CPU backend at small sizes (no device): checks the script itself
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { native, nativeBuild } from '../../lib/native';
import { normalsParity, resampleParity, gatherParity, shortRunParity, longRunInDistribution, ParityResult } from '../../test/support/parity';
import { resampleGather, filterThroughput, hostCpuFilter, largestN, readCpuBaseline, CopyRow, FilterRow, HostCpuRow, LargestRow, DIM } from './bench';
import { chunkedScoreParity, chunkedScoreOnStandIn, transferCheck, noContextForCpuRuns } from './host-checks';

interface Results {
  device: { name: string | null; computeCapability: string | null; totalMemory: number; multiprocessors: number; driverVersion: number; runtimeVersion: number };
  host: { cpu: string; threads: number; node: string };
  date: string;
  command: string;
  ctest: string | null;
  parity: ParityResult[];
  resampleGather: CopyRow[];
  filter: FilterRow[];
  cpuBaseline: string;
  /** The CPU backend on the device's host, 2 threads, in the same process. */
  hostCpu: HostCpuRow[];
  largest: LargestRow | null;
  errors: string[];
  skipped: string[];
  /** Seconds each step took. */
  steps: Record<string, number>;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const exp = (x: number) => x.toExponential(2);

export function summaryMarkdown(r: Results): string {
  const lines: string[] = [];
  lines.push('<!-- begin cuda -->', '## CUDA backend', '');
  lines.push(`- Device: ${r.device.name} (compute capability ${r.device.computeCapability}, ${r.device.multiprocessors} SMs, ${(r.device.totalMemory / 2 ** 30).toFixed(1)} GiB), driver ${r.device.driverVersion}, CUDA runtime ${r.device.runtimeVersion} (static); host ${r.host.cpu}, ${r.host.threads} threads; Node ${r.host.node}`);
  lines.push(`- Date: ${r.date}; command: \`${r.command}\``);
  if (r.ctest) lines.push(`- CTest on the device (core_test, core_test_gpu): ${r.ctest}`);
  lines.push('', '### Parity with the CPU backend', '', '| check | result | detail |', '| --- | --- | --- |');
  for (const p of r.parity) lines.push(`| ${p.name} | ${p.ok ? 'pass' : '**FAIL**'} | ${p.detail} |`);
  lines.push('', `### Resampling + gather, D = ${DIM}, against the device-to-device copy (target >= 70%)`, '');
  lines.push('Bytes per particle: 8 (log-weight) + 4 + 4 (ancestor written, read) + 2 x 4 x 64 (row read, written); copy bandwidth counts read + write. Median of 5-9 repetitions after a warm-up, wall clock around awaited calls ("awaited": each call waited for, as a JS caller does; "pipelined": the repetitions enqueued back to back and waited for once, the copy timed the same way; "resample" and "gather": each call alone, awaited).', '');
  const bold = (x: number) => `${x >= 0.7 ? '' : '**'}${pct(x)}${x >= 0.7 ? '' : '**'}`;
  const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : `${(x * 1e3).toFixed(3)} ms`);
  lines.push('| N | scheme | time (awaited) | bandwidth | copy bandwidth | fraction | resample | gather | time (pipelined) | fraction (pipelined) |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const c of r.resampleGather) lines.push(`| ${c.n.toExponential(0)} | ${c.scheme} | ${ms(c.seconds)} | ${(c.bandwidth / 1e12).toFixed(2)} TB/s | ${(c.copyBandwidth / 1e12).toFixed(2)} TB/s | ${bold(c.fraction)} | ${ms(c.resampleSeconds)} | ${ms(c.gatherSeconds)} | ${ms(c.pipelinedSeconds)} | ${typeof c.pipelinedFraction === 'number' && Number.isFinite(c.pipelinedFraction) ? bold(c.pipelinedFraction) : '-'} |`);
  lines.push('', `### Whole filter (smc, every step resampled), built-in mixture D = ${DIM}, J = 10, one run of N particles`, '');
  lines.push(`CPU side (2 threads) measured on the development machine: ${r.cpuBaseline}. "host CPU": the CPU backend on the device machine's host, 2 threads, in the same process (one run after a warm-up).`, '');
  lines.push('Particle-steps/s of whole runs (fixed costs included: allocation, uploads, the final read); "per step": N (steps - 2) / (T(steps) - T(2)), without them.', '');
  lines.push('| N | steps | seconds | particle-steps/s (cuda) | per step (cuda) | dev-machine CPU particle-steps/s | ratio | host CPU particle-steps/s | ratio |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const f of r.filter) {
    const h = (r.hostCpu ?? []).find((x) => x.n === f.n);
    const m = f.marginalParticleStepsPerSecond;
    lines.push(`| ${f.n.toExponential(0)} | ${f.steps} | ${f.seconds.toFixed(3)} | ${exp(f.particleStepsPerSecond)} | ${m !== undefined && Number.isFinite(m) ? exp(m) : '-'} | ${f.cpuParticleStepsPerSecond ? exp(f.cpuParticleStepsPerSecond) : '-'} | ${f.ratio ? `${f.ratio.toFixed(0)}x` : '-'} | ${h ? exp(h.particleStepsPerSecond) : '-'} | ${h ? `${(f.particleStepsPerSecond / h.particleStepsPerSecond).toFixed(0)}x` : '-'} |`);
  }
  if (r.largest) {
    lines.push('', `### Largest N in device memory (the same filter, 2 steps)`, '');
    lines.push(`${r.largest.n.toLocaleString('en-US')} particles (${r.largest.bytesPerParticle} device bytes each; ${(r.largest.freeBytes / 2 ** 30).toFixed(1)} GiB free at the start; the Philox counter allows N D <= 2^34)` + (r.largest.secondsPerStep ? `: 2 steps in ${(2 * r.largest.secondsPerStep).toFixed(2)} s, allocation and uploads included.` : '.'));
    lines.push('', 'Attempts: ' + r.largest.attempts.join('; '));
  }
  if (r.errors.length) lines.push('', 'Errors: ' + r.errors.join('; '));
  if (r.skipped?.length) lines.push('', 'Skipped: ' + r.skipped.join('; '));
  if (r.steps && Object.keys(r.steps).length) lines.push('', 'Step times: ' + Object.entries(r.steps).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ') + '.');
  lines.push('<!-- end cuda -->');
  return lines.join('\n') + '\n';
}

function shortTable(r: Results): string {
  const rows: string[] = [];
  const row = (a: string, b: string) => rows.push(`${a.padEnd(44)} ${b}`);
  row('CTest on the device', r.ctest ?? 'not run');
  for (const p of r.parity) row(`parity: ${p.name}`, p.ok ? 'pass' : 'FAIL');
  for (const c of r.resampleGather) row(`resample+gather ${c.scheme} N=${c.n.toExponential(0)}`, `${pct(c.fraction)} of copy ${c.fraction >= 0.7 ? '(>= 70%)' : '(BELOW 70%)'}${typeof c.pipelinedFraction === 'number' && Number.isFinite(c.pipelinedFraction) ? `, pipelined ${pct(c.pipelinedFraction)}` : ''}`);
  for (const f of r.filter) {
    const h = r.hostCpu.find((x) => x.n === f.n);
    row(`filter N=${f.n.toExponential(0)}`, `${exp(f.particleStepsPerSecond)} particle-steps/s${f.ratio ? `, ${f.ratio.toFixed(0)}x dev CPU (2 threads)` : ''}${h ? `, ${(f.particleStepsPerSecond / h.particleStepsPerSecond).toFixed(0)}x host CPU (2 threads)` : ''}`);
  }
  if (r.largest) row('largest N (D=64, J=10 filter)', r.largest.n.toLocaleString('en-US'));
  for (const e of r.errors) row('error', e);
  for (const e of r.skipped) row('skipped', e);
  return rows.join('\n');
}

function record(file: string): void {
  const r = JSON.parse(fs.readFileSync(file, 'utf8')) as Results;
  const target = path.join(__dirname, '..', 'RESULTS.md');
  const text = fs.readFileSync(target, 'utf8');
  const section = summaryMarkdown(r);
  const begin = text.indexOf('<!-- begin cuda -->'), end = text.indexOf('<!-- end cuda -->');
  const next = begin >= 0 && end > begin ? text.slice(0, begin) + section + text.slice(end + '<!-- end cuda -->\n'.length) : text.trimEnd() + '\n\n' + section;
  fs.writeFileSync(target, next);
  console.log(`wrote the CUDA section of ${target}`);
}

async function run(): Promise<void> {
  const started = performance.now();
  const out = path.resolve(arg('--out') ?? path.join('bench', 'out', 'gpu'));
  fs.mkdirSync(out, { recursive: true });
  const log = (s: string) => console.log(s);
  const dry = process.argv.includes('--dry-run');
  const budget = Number(arg('--budget-s') ?? Infinity);
  const left = () => budget - (performance.now() - started) / 1000;
  const candidate = dry ? 'cpu' : 'cuda';
  const found = native.cuda?.query();
  log(`addon: ${nativeBuild.kind} (${nativeBuild.cuda.path ?? 'no CUDA build'}), CONDIFF_NATIVE=${nativeBuild.mode}`);
  if (!found?.available && !dry) {
    log(`no CUDA device: ${found?.reason ?? nativeBuild.cuda.problem ?? 'the CUDA build is not loaded'}`);
    process.exitCode = 1;
    return;
  }
  const q = found?.available ? found : { name: 'none (dry run on the CPU backend)', computeCapability: null, totalMemory: 0, multiprocessors: 0, driverVersion: 0, runtimeVersion: 0 };
  const results: Results = {
    device: { name: q.name, computeCapability: q.computeCapability, totalMemory: q.totalMemory, multiprocessors: q.multiprocessors, driverVersion: q.driverVersion, runtimeVersion: q.runtimeVersion },
    host: { cpu: os.cpus()[0]?.model?.trim() ?? 'unknown', threads: os.availableParallelism(), node: process.version },
    date: new Date().toISOString(),
    command: 'bash bench/gpu/run.sh',
    ctest: arg('--ctest') ?? null,
    parity: [],
    resampleGather: [],
    filter: [],
    cpuBaseline: '',
    hostCpu: [],
    largest: null,
    errors: [],
    skipped: [],
    steps: {},
  };
  const save = () => {
    fs.writeFileSync(path.join(out, 'results.json'), JSON.stringify(results, null, 2));
    fs.writeFileSync(path.join(out, 'summary.md'), summaryMarkdown(results));
  };
  log(`device: ${q.name}, ${(q.totalMemory / 2 ** 30).toFixed(1)} GiB, ${q.multiprocessors} SMs`);
  // A step runs only when `needs` seconds are left of the budget (its expected time with
  // a margin); each step's outcome is saved at once.
  const step = async <T>(name: string, needs: number, fn: () => Promise<T>): Promise<T | null> => {
    if (left() < needs) {
      const why = `${name}: ${left().toFixed(0)} s of the budget left, needs ${needs} s`;
      log(`[${name}] SKIPPED (${why})`);
      results.skipped.push(why);
      save();
      return null;
    }
    log(`[${name}] start (${Number.isFinite(left()) ? `${left().toFixed(0)} s left` : 'no budget'})`);
    const t0 = performance.now();
    try {
      const v = await fn();
      log(`[${name}] done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return v;
    } catch (e) {
      const message = `${name}: ${(e as Error).stack ?? String(e)}`;
      log(`[${name}] FAILED: ${message}`);
      results.errors.push(message.split('\n')[0]);
      return null;
    } finally {
      results.steps[name] = (performance.now() - t0) / 1000;
      save();
    }
  };
  const addParity = (r: ParityResult | ParityResult[] | null) => {
    for (const p of r === null ? [] : Array.isArray(r) ? r : [r]) {
      results.parity.push(p);
      log(`parity ${p.ok ? 'pass' : 'FAIL'}: ${p.name}: ${p.detail}`);
    }
  };
  save();
  // Cheap and most telling first; the 10^7 resampling parity last among the checks.
  addParity(await step('parity: normals', 5, () => normalsParity(candidate)));
  addParity(await step('parity: gather', 5, () => gatherParity(candidate)));
  addParity(await step('parity: short run', 5, () => shortRunParity(candidate)));
  addParity(await step('parity: long run', 10, () => longRunInDistribution(candidate)));
  addParity(await step('parity: resampling', 5, () => resampleParity(dry ? [1, 49, 1000] : [1, 7, 49, 1000, 100_000, 1_000_000], candidate)));
  if (!dry) addParity(await step('parity: resampling N=1e7', 40, async () => ({ ...(await resampleParity([10_000_000], candidate)), name: 'ancestors (4 schemes), N = 1e7' })));
  results.resampleGather = (await step('resample + gather', 20, () => resampleGather(dry ? [1e5] : [1e7, 1e8], log, candidate))) ?? [];
  const baseline = readCpuBaseline();
  results.cpuBaseline = baseline.note;
  results.filter = (await step('filter throughput', 25, () => filterThroughput(dry ? [1e3] : [1e5, 1e6, 1e7], baseline.rates, log, candidate))) ?? [];
  results.hostCpu = (await step('host CPU filter', 20, () => hostCpuFilter(dry ? [1e3] : [1e5, 1e6], log))) ?? [];
  if (!dry) results.largest = await step('largest N', 35, () => largestN(log, Math.max(10, left() - 40)));
  // The host-side checks last: a crash there (seen once, exit 139 in the chunked score) loses nothing else.
  addParity(await step('host side: no context for CPU runs', 10, async () => noContextForCpuRuns()));
  addParity(await step('host side: transfers', 5, () => (dry ? Promise.resolve(null) : transferCheck())));
  addParity(await step('host side: chunked score', 10, () => (dry ? chunkedScoreOnStandIn(5000) : chunkedScoreParity(candidate, 70_000))));
  save();
  log('');
  log(shortTable(results));
  if (results.errors.length || results.parity.some((p) => !p.ok)) process.exitCode = 1;
}

if (require.main === module) {
  const file = arg('--record');
  if (file) record(file);
  else run().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
