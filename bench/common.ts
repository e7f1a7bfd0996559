// Shared by the scripts in bench/: fresh-process trials, medians, the machine
// record, the test problems, and bench/RESULTS.md, where each script rewrites its own
// section and the summary of targets.
//
// A script is run as `node -r ./tools/register-ts.js bench/<name>.ts [--quick]` (or
// `npm run bench:<name>`). It re-runs itself with `--trial <json>` for each measurement
// that needs a fresh process; a trial prints one JSON line on stdout.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import type { GaussianMixtureSpec } from '../lib/mixture';

export const ROOT = path.join(__dirname, '..');
export const OUT_DIR = path.join(ROOT, 'bench', 'out');
export const RESULTS_FILE = path.join(ROOT, 'bench', 'RESULTS.md');
const REGISTER = path.join(ROOT, 'tools', 'register-ts.js');

/** Trials per measurement: the issue asks for the median of at least 5 runs. */
export const TRIALS = 5;

export interface ScriptArgs {
  quick: boolean;
  /** Do not rewrite bench/RESULTS.md (print only). */
  dryRun: boolean;
  /** Set in a child process: the trial to run. */
  trial: unknown;
}

export function parseScriptArgs(argv = process.argv.slice(2)): ScriptArgs {
  const args: ScriptArgs = { quick: false, dryRun: false, trial: undefined };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--quick') args.quick = true;
    else if (argv[i] === '--dry-run') args.dryRun = true;
    else if (argv[i] === '--trial') args.trial = JSON.parse(argv[++i]);
    else throw new Error(`unknown argument ${JSON.stringify(argv[i])} (options: --quick, --dry-run)`);
  }
  return args;
}

/** Output of a trial process. */
export interface TrialOutput<T> {
  /** The JSON the trial printed last on stdout. */
  result: T;
  stderr: string;
  /** Attempts made: a trial is repeated when other processes took the CPU during it. */
  attempts: number;
  /** Share of the machine's CPU capacity that other processes used during the kept attempt. */
  foreignLoad: number;
}

/** A trial is run again when other processes used more than this share of the CPUs meanwhile. */
const MAX_FOREIGN_LOAD = 0.1;
const MAX_ATTEMPTS = 2;
/** How long to wait for a quiet machine before a trial starts anyway, seconds. */
const QUIET_WAIT_SECONDS = 3;
/** Kernel clock ticks per second of /proc/stat (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** Busy CPU seconds of the whole machine so far (/proc/stat), or NaN where unavailable. */
function machineBusySeconds(): number {
  try {
    const [, ...fields] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    const [user, nice, system, , , irq, softirq] = fields.map(Number);
    return (user + nice + system + irq + softirq) / USER_HZ;
  } catch {
    return NaN;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (up to QUIET_WAIT_SECONDS) until other processes use little of the CPUs. */
async function waitForQuiet(): Promise<void> {
  const deadline = performance.now() + QUIET_WAIT_SECONDS * 1000;
  while (performance.now() < deadline) {
    const busy0 = machineBusySeconds();
    await sleep(250);
    const load = (machineBusySeconds() - busy0) / (0.25 * os.availableParallelism());
    if (!(load > MAX_FOREIGN_LOAD)) return; // quiet, or unmeasurable
  }
}

/** Every trial this process ran: what other processes used meanwhile (see contentionNote). */
const trialLog: { foreignLoad: number; attempts: number }[] = [];

/**
 * Runs `script --trial <spec>` in a fresh Node process (under `wrapper`, e.g.
 * ['/usr/bin/time', '-v'], when given) and returns the JSON it prints last.
 */
export function runTrial<T>(script: string, spec: unknown, wrapper: string[] = []): Promise<TrialOutput<T>> {
  const [command, ...argv] = [...wrapper, process.execPath, '-r', REGISTER, script, '--trial', JSON.stringify(spec)];
  return runMeasured<T>(command, argv);
}

/**
 * Runs a measuring process that prints one JSON line last, with its own CPU seconds as
 * `cpuSeconds`. Timings are only as good as the machine is quiet: the run waits a little
 * for other processes to leave the CPUs, measures what they used meanwhile (the machine's
 * busy time less the run's own CPU time), and is repeated once when that exceeded
 * MAX_FOREIGN_LOAD.
 */
export async function runMeasured<T>(command: string, argv: string[]): Promise<TrialOutput<T>> {
  let last: TrialOutput<T> | undefined;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    await waitForQuiet();
    const busy0 = machineBusySeconds(), t0 = performance.now();
    const { result, stderr } = await spawnJson<T & { cpuSeconds?: number }>(command, argv);
    const wall = (performance.now() - t0) / 1000;
    const foreign = machineBusySeconds() - busy0 - (result.cpuSeconds ?? 0);
    const foreignLoad = Number.isFinite(foreign) ? Math.max(0, foreign) / (wall * os.availableParallelism()) : 0;
    delete result.cpuSeconds;
    last = { result, stderr, attempts: attempt, foreignLoad };
    if (foreignLoad <= MAX_FOREIGN_LOAD) break;
  }
  trialLog.push({ foreignLoad: last!.foreignLoad, attempts: last!.attempts });
  return last!;
}

/** One sentence for a RESULTS.md section: how busy the machine was during its trials. */
export function contentionNote(): string {
  if (trialLog.length === 0) return '';
  const loads = trialLog.map((t) => t.foreignLoad);
  const again = trialLog.filter((t) => t.attempts > 1).length;
  const busy = loads.filter((l) => l > MAX_FOREIGN_LOAD).length;
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  return (
    `Other processes used a median ${pct(median(loads))} (max ${pct(Math.max(...loads))}) of the CPUs during the ${trialLog.length} trials kept; ` +
    `${again} trial${again === 1 ? ' was' : 's were'} run again for that, ${busy} kept above ${pct(MAX_FOREIGN_LOAD)}` +
    (busy > 0 ? ' (their timings are pessimistic, two-thread ones most).' : '.')
  );
}

function spawnJson<T>(command: string, argv: string[]): Promise<{ result: T; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`${path.basename(argv.find((a) => a.endsWith('.ts')) ?? command)} ${argv.slice(-2).join(' ')} exited with ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`));
        return;
      }
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve({ result: JSON.parse(line) as T, stderr });
      } catch {
        reject(new Error(`${command} ${argv.slice(-2).join(' ')} printed no JSON: ${stdout.slice(-300)}`));
      }
    });
  });
}

/**
 * In a child process: runs the trial and prints its result as the last line of stdout,
 * with the process's CPU seconds so far (for runTrial's check of a quiet machine).
 */
export async function answerTrial(run: () => Promise<object> | object): Promise<void> {
  const result = await run();
  const { user, system } = process.cpuUsage();
  process.stdout.write(JSON.stringify({ ...result, cpuSeconds: (user + system) / 1e6 }) + '\n');
}

/** A progress line on a terminal (stderr); nothing when stderr is a file or pipe. */
export function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${text.padEnd(70)}`);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A formatter to `digits` significant figures, with thousands separators. */
export const sig = (digits: number) => (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(digits)).toLocaleString('en-US', { maximumSignificantDigits: digits }) : String(x));

/** The machine and the moment of a measurement, as every RESULTS.md section records them. */
export interface MachineRecord {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  date: string;
  loadAverage: number[];
  revision: string;
  command: string;
}

function readCpuModel(): string {
  try {
    const lines = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n');
    const model = lines.find((l) => l.startsWith('model name'))?.split(':')[1]?.trim() ?? 'unknown';
    const flags = lines.find((l) => l.startsWith('flags'))?.split(':')[1]?.trim().split(/\s+/) ?? [];
    const isa = ['avx512f', 'avx2', 'fma'].filter((f) => flags.includes(f));
    return `${model} (${isa.join(', ') || 'no AVX'})`;
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
}

/** The checked-out commit and whether the tree has changes (read-only git commands). */
function revision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} + uncommitted changes` : head;
  } catch {
    return 'unknown';
  }
}

export function machineRecord(): MachineRecord {
  const script = path.relative(ROOT, process.argv[1]);
  return {
    cpu: readCpuModel(),
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    revision: revision(),
    command: ['node', '-r', './tools/register-ts.js', script, ...process.argv.slice(2)].join(' '),
  };
}

export function machineLines(m: MachineRecord, loadAfter?: number[]): string {
  const load = `${m.loadAverage.join(' ')}${loadAfter ? ` before, ${loadAfter.map((x) => Math.round(x * 100) / 100).join(' ')} after` : ''}`;
  return [
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; Node ${m.node}`,
    `- Date: ${m.date}; revision ${m.revision}; load average (1, 5, 15 min) ${load}`,
    `- Command: \`${m.command}\``,
    ...(trialLog.length > 0 ? [`- Contention: ${contentionNote()}`] : []),
  ].join('\n');
}

export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** One target of the issue and how this run measured against it. */
export interface Verdict {
  target: string;
  measured: string;
  met: boolean;
}

export interface SectionResult {
  name: string;
  title: string;
  machine: MachineRecord;
  verdicts: Verdict[];
  data: unknown;
}

const SECTION_ORDER = ['resample-gather', 'filter-throughput', 'fma-probe', 'js-callback', 'memory', 'mixture-structure', 'core-ceiling', 'tds-efficiency', 'serve', 'observation-speed', 'mcgdiff-mixture', 'queue'];

/**
 * Writes `markdown` as the section `name` of bench/RESULTS.md (replacing the old one) and
 * the JSON record to bench/out/<name>.json, then rebuilds the summary of targets from the
 * JSON records present.
 */
export function writeSection(result: SectionResult, markdown: string, args: ScriptArgs): void {
  process.stdout.write(`\n${markdown}\n`);
  if (args.dryRun) return;
  fs.mkdirSync(OUT_DIR, { recursive: true });
  fs.writeFileSync(path.join(OUT_DIR, `${result.name}.json`), JSON.stringify(result, null, 2) + '\n');
  let text = fs.existsSync(RESULTS_FILE) ? fs.readFileSync(RESULTS_FILE, 'utf8') : RESULTS_HEADER;
  text = replaceBlock(text, result.name, markdown);
  text = replaceBlock(text, 'summary', summary(text));
  fs.writeFileSync(RESULTS_FILE, text);
  process.stdout.write(`\nwrote ${path.relative(ROOT, RESULTS_FILE)} (section ${result.name}) and bench/out/${result.name}.json\n`);
}

function replaceBlock(text: string, name: string, body: string): string {
  const begin = `<!-- begin ${name} -->`, end = `<!-- end ${name} -->`;
  const block = `${begin}\n${body.trim()}\n${end}`;
  const i = text.indexOf(begin), j = text.indexOf(end);
  if (name === 'summary') {
    // The summary always sits first, right after the header.
    const rest = i >= 0 && j > i ? `${text.slice(0, i).trimEnd()}\n\n${text.slice(j + end.length).trimStart()}` : text;
    const first = rest.indexOf('<!-- begin ');
    return first < 0 ? `${rest.trimEnd()}\n\n${block}\n` : `${rest.slice(0, first)}${block}\n\n${rest.slice(first)}`;
  }
  if (i >= 0 && j > i) return text.slice(0, i) + block + text.slice(j + end.length);
  // A new section goes after the last section that precedes it in SECTION_ORDER.
  const order = ['summary', ...SECTION_ORDER];
  const rank = order.indexOf(name);
  let at = -1;
  for (const other of order.slice(0, Math.max(0, rank)).reverse()) {
    const k = text.indexOf(`<!-- end ${other} -->`);
    if (k >= 0) {
      at = k + `<!-- end ${other} -->`.length;
      break;
    }
  }
  return at < 0 ? `${text.trimEnd()}\n\n${block}\n` : `${text.slice(0, at)}\n\n${block}${text.slice(at)}`;
}

/**
 * The summary of targets: each section's verdicts from its JSON record (bench/out/, not in
 * git) where this checkout has one, else the rows the summary in `text` already holds for it,
 * so a run of one script never drops another's rows.
 */
function summary(text: string): string {
  const kept = new Map<string, string[][]>();
  const begin = text.indexOf('<!-- begin summary -->'), end = text.indexOf('<!-- end summary -->');
  if (begin >= 0 && end > begin) {
    for (const line of text.slice(begin, end).split('\n')) {
      const cells = line.startsWith('| ') ? line.slice(2, -2).split(' | ') : [];
      // The table's own header ('section (date)') is not a section's row.
      const section = cells.length === 4 && cells[0] !== 'target' ? /^([a-z-]+) \(/.exec(cells[3])?.[1] : undefined;
      if (section) kept.set(section, [...(kept.get(section) ?? []), cells]);
    }
  }
  const rows: string[][] = [];
  const names = [...SECTION_ORDER, ...[...kept.keys()].filter((k) => !SECTION_ORDER.includes(k))];
  for (const name of names) {
    const file = path.join(OUT_DIR, `${name}.json`);
    if (!fs.existsSync(file)) {
      rows.push(...(kept.get(name) ?? []));
      continue;
    }
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as SectionResult;
    for (const v of r.verdicts) rows.push([v.target, v.measured, v.met ? 'met' : '**not met**', `${name} (${r.machine.date.slice(0, 10)})`]);
  }
  return `## Summary of targets\n\n${markdownTable(['target', 'measured (median)', 'status', 'section (date)'], rows)}`;
}

const RESULTS_HEADER = `# Benchmark results

Every figure below comes from a script in \`bench/\`, run on the machine it names, as the
median of at least ${TRIALS} trials, each trial in a fresh Node process unless the section says
otherwise; every ratio is to a baseline measured in the same run. Each script rewrites its
own section (between the HTML comments) and the summary; run them after \`npm run build\`:

| script | what it measures | npm script |
| --- | --- | --- |
| \`bench/resample-gather.ts\` | §1: resampling (every scheme) + gather vs copying the same bytes, one thread | \`npm run bench:resample\` |
| \`bench/filter-throughput.ts\` | §2: particle-steps/s of \`smc\` with the native mixture vs the TypeScript baseline (\`bench/ts-baseline.ts\`), the FMA peak and the NumPy/PyTorch figure | \`npm run bench:filter\` |
| \`bench/fma-probe.ts\` | §2b: float32 FMA peak (\`bench/fma-probe.cc\`, built with g++) | \`npm run bench:fma\` |
| \`bench/js-callback.ts\` | §3: a JS score callback vs a native model doing no work, same process | \`npm run bench:callback\` |
| \`bench/memory.ts\` | §5: peak RSS with \`/usr/bin/time -v\` | \`npm run bench:memory\` |

\`--quick\` runs a smaller set (minutes); \`--dry-run\` prints without writing this file.
Timings are only as good as the machine is quiet: each trial measures the CPU time other
processes took meanwhile (from /proc/stat), is run again once when that exceeded 10%, and each
section records how much there was ("Contention") and the load average.
`;

// ---------------------------------------------------------------------------------------
// Test problems: Gaussian mixtures with full covariances, from a fixed seed.

/** Mulberry32: a small seeded generator for building test problems (not for sampling). */
/**
 * JavaScript source, for a child process, that defines `spec`: a J-component mixture in D
 * dimensions with random weights, means in [−2, 2] and dense covariances AAᵀ/D + I/2, from a
 * fixed linear congruential stream `u` (the A/B scripts' problem: the same on every checkout).
 */
export function randomMixtureSource(D: number, J: number): string {
  return `
  const spec = { weights: [], means: [], covariances: [] };
  let s = 12345; const u = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let j = 0; j < ${J}; j++) {
    spec.weights.push(1 + u());
    spec.means.push(Array.from({ length: ${D} }, () => 4 * u() - 2));
    const A = Array.from({ length: ${D} }, () => Array.from({ length: ${D} }, () => u() - 0.5));
    spec.covariances.push(A.map((r, a) => A.map((q, b) => r.reduce((t, x, k) => t + x * q[k], 0) / ${D} + (a === b ? 0.5 : 0))));
  }`;
}

/**
 * A Float32Array on a SharedArrayBuffer: the addon's public calls (GaussianMixture.scoreInto)
 * use such arrays in place, as a sampler's own arrays are; others they copy for the call.
 */
export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(4 * length));
}

export function seededUniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface MixtureProblem {
  name: string;
  model: { weights: number[]; means: number[][]; covariances: number[][][] };
  observed: { indices: number[]; values: number[] };
}

/**
 * D-dimensional mixture of J full-covariance Gaussians: means ~ N(0, 2^2 I), covariances
 * B B^T / D + 0.5 I with B standard normal (eigenvalues between 0.5 and about 4.5), equal
 * weights. The first max(1, D/4) coordinates are observed at component 0's mean.
 */
export function mixtureProblem(dim: number, components: number, seed = 1): MixtureProblem {
  const u = seededUniform(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  const means = Array.from({ length: components }, () => Array.from({ length: dim }, () => 2 * normal()));
  const covariances = Array.from({ length: components }, () => {
    const b = Array.from({ length: dim * dim }, normal);
    return Array.from({ length: dim }, (_, i) =>
      Array.from({ length: dim }, (_, j) => {
        let s = 0;
        for (let k = 0; k < dim; k++) s += b[i * dim + k] * b[j * dim + k];
        return s / dim + (i === j ? 0.5 : 0);
      }),
    );
  });
  const observedCount = Math.max(1, Math.floor(dim / 4));
  const indices = Array.from({ length: observedCount }, (_, i) => i);
  return {
    name: `D=${dim}, J=${components}`,
    model: { weights: Array.from({ length: components }, () => 1 / components), means, covariances },
    observed: { indices, values: indices.map((i) => means[0][i]) },
  };
}

/**
 * The 25-component mixture of the MCGdiff benchmark (Cardoso et al. 2023): means
 * 8 (i, j, i, j, ...) for i, j in {-2, ..., 2}, identity covariances given as full D x D
 * matrices (what the structure detection turns into the isotropic path), equal weights.
 * Other J: means ~ N(0, 4 I) from `seed`. The first max(1, D/4) coordinates are observed at
 * component 0's mean. `form: 'variances'` gives the same model as J x D variances.
 */
export function identityProblem(dim: number, components = 25, seed = 1, form: 'matrices' | 'variances' = 'matrices'): Omit<MixtureProblem, 'model'> & { model: GaussianMixtureSpec } {
  const u = seededUniform(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  const means = Array.from({ length: components }, (_, c) =>
    Array.from({ length: dim }, (_, k) => (components === 25 ? 8 * ((k % 2 === 0 ? Math.floor(c / 5) : c % 5) - 2) : 2 * normal())),
  );
  const eye = Array.from({ length: dim }, (_, i) => Array.from({ length: dim }, (_, j) => (i === j ? 1 : 0)));
  const observedCount = Math.max(1, Math.floor(dim / 4));
  const indices = Array.from({ length: observedCount }, (_, i) => i);
  const weights = Array.from({ length: components }, () => 1 / components);
  return {
    name: `D=${dim}, J=${components}, identity`,
    model:
      form === 'matrices'
        ? { weights, means, covariances: Array.from({ length: components }, () => eye) }
        : { weights, means, variances: Array.from({ length: components }, () => new Array(dim).fill(1)) },
    observed: { indices, values: indices.map((i) => means[0][i]) },
  };
}
