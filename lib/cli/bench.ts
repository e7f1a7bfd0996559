// `condiff bench`: the particle-count study as a command. Each method runs over a sweep
// of its accuracy knob on one problem (same seed, steps and draws): particles N for the
// filter, corrector steps L for Langevin, jumps U for RePaint; replacement has no knob
// and is one point. Each point reports time, throughput, ESS, resampling, log-evidence
// (filter) and the sliced Wasserstein distance to exact posterior draws beside its noise
// floor (MATH.md §7); results.json and two log–log plots (error and seconds) are written.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GaussianMixture } from '../mixture';
import { schedules, KernelName } from '../schedules';
import { replacement, smc, SampleResult, SmcResult, CorrectorOptions, ContextKind } from '../samplers';
import { RESAMPLING_SCHEMES, ResamplingScheme } from '../driver';
import { slicedWasserstein, noiseFloor } from '../metrics';
import { Observation } from '../observation';
import { defaultThreads } from '../threads';
import { CliIO, Progress } from './io';
import { UsageError, userInputAsync } from './errors';
import { Flags, SCHEDULES, KERNELS, CONTEXTS, METHOD_ONLY_FLAGS, parseFlags, stringFlag, integerFlag, numberFlag, choiceFlag, backendFlag } from './flags';
import { loadModel, loadObservation } from './files';
import { prepareOutputDirectory, OutputDirectory } from './output';
import { DEMO_MODEL, DEMO_OBSERVATION } from './demo';
import type { BackendName } from '../backend';
import { isErrorNamed } from '../errors';
import { loadPlotLibraries, logLogSpec, renderPlot, PlotLibraries, PlotPoint } from './plots';

export const BENCH_USAGE = `condiff bench: the particle-count study. Runs each method over a sweep on one problem and
reports time, throughput, ESS, resampling, log-evidence and the distance to the exact
posterior, in a table, results.json and two log-log plots (SVG and PNG).

Usage:
  condiff bench [--model M.json --observe O.json] [--method M[,M..]] [sweeps] [--out DIR] [options]

Problem: --model and --observe as in condiff sample; leave both out for the built-in problem
of condiff demo (3-D, two modes, z[2] = 0.5 observed).
  --method M[,M..]       smc | langevin | repaint | replacement, or a comma-separated list (default smc)
Sweeps, comma-separated:
  --particles N,..       smc: particles per run (default 16,64,256,1024)
  --langevin-steps L,..  langevin: corrector steps per backward step, 0 allowed (default 0,1,5,20)
  --jumps U,..           repaint: jumps per step, 0 allowed (default 0,1,5,20)
Settings shared by every point, as in condiff sample:
  --samples K            draws per point (smc: K independent runs, one draw each; default 1000)
  --steps S              backward steps (default 200)
  --schedule S, --horizon T, --kernel K, --seed X, --threads P, --backend B (auto | cpu | cuda)
  --context C            replacement, langevin, repaint: fixed | forward (default forward)
  --langevin-gamma G     (default 0.1)
  --resampling R, --ess-threshold TAU   smc (defaults systematic, 1)
Output:
  --out DIR              directory for results.json, error.svg/.png and seconds.svg/.png
                         (default ./condiff-bench, created if missing)
  --no-plots             no plots (they need the optional packages vega and sharp)

Per point: seconds (wall clock of the sampler call); particle-steps/s, i.e. score evaluations
per second (K*N*S for smc, K*S*(1+L) Langevin, K*S*(1+U) RePaint, K*S replacement); mean and
minimum ESS, resampling count, log-evidence mean and standard deviation over the K runs (smc);
SW2, the sliced Wasserstein-2 distance over the latent coordinates to K exact posterior draws,
beside the noise floor (95th percentile of 50 exact-vs-exact replicates). Plots are log-log
against N when every point is smc, otherwise against score evaluations per draw.`;

const BENCH_FLAGS = {
  model: 'value',
  observe: 'value',
  method: 'value',
  particles: 'value',
  'langevin-steps': 'value',
  jumps: 'value',
  samples: 'value',
  steps: 'value',
  schedule: 'value',
  horizon: 'value',
  kernel: 'value',
  context: 'value',
  seed: 'value',
  threads: 'value',
  backend: 'value',
  'langevin-gamma': 'value',
  resampling: 'value',
  'ess-threshold': 'value',
  out: 'value',
  'no-plots': 'switch',
  help: 'switch',
} as const;

const BENCH_METHODS = ['smc', 'langevin', 'repaint', 'replacement'] as const;
type BenchMethod = (typeof BENCH_METHODS)[number];

/** Where noise floors are compared: SW2 directions and replicates (MATH.md §7). */
const SW_DIRECTIONS = 128;
const FLOOR_REPLICATES = 50;
const FLOOR_QUANTILE = 0.95;
/** Run index of the reference exact draws, apart from the noise floor's runs (as condiff demo). */
const EXACT_RUN = 1_000_000;

/** One point of the sweep: a method and the value of its knob. */
interface SweepPoint {
  method: BenchMethod;
  particles: number | null;
  langevinSteps: number | null;
  jumps: number | null;
  /** Score evaluations per draw: N*S, S*(1+L), S*(1+U) or S. */
  scoreEvaluationsPerDraw: number;
  label: string;
}

export interface BenchRow extends SweepPoint {
  /** The backend that ran this point. */
  backend: 'cpu' | 'cuda';
  seconds: number;
  particleStepsPerSecond: number;
  ess: { mean: number; min: number } | null;
  resamplingCount: number | null;
  logEvidence: { mean: number; sd: number | null } | null;
  sw2: number;
}

export interface BenchResults {
  command: string;
  date: string;
  machine: { cpu: string; cores: number; node: string; platform: string };
  problem: { model: string; observe: string; dim: number; components: number; observed: Observation; latent: number[] };
  settings: {
    methods: BenchMethod[];
    samples: number;
    steps: number;
    schedule: string;
    horizon: number;
    kernel: KernelName;
    context: ContextKind;
    seed: number;
    threads: number;
    /** The backend asked for; each row says which one ran. */
    backend: BackendName;
    langevinGamma: number;
    resampling: ResamplingScheme;
    essThreshold: number;
  };
  metric: { name: 'sliced Wasserstein-2'; directions: number; coordinates: 'latent' };
  noiseFloor: { value: number; quantile: number; replicates: number };
  rows: BenchRow[];
  plots: string[];
}

/** A comma-separated list of distinct integers >= min (and <= max). */
function integerList(flags: Flags, name: string, fallback: number[], min: 0 | 1, max: number): number[] {
  const raw = stringFlag(flags, name);
  if (raw === undefined) return fallback;
  const kind = min === 1 ? 'positive integers' : 'non-negative integers';
  const values = raw.split(',').map((part) => {
    const s = part.trim();
    const n = /^\+?\d+(e\+?\d+)?$/i.test(s) ? Number(s) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      const what = s === '' ? 'an empty entry' : `${JSON.stringify(s)} is not ${min === 1 ? 'a positive' : 'a non-negative'} integer at most ${max}`;
      throw new UsageError(`--${name} must be a comma-separated list of ${kind}, got ${JSON.stringify(raw)}: ${what}`);
    }
    return n;
  });
  const seen = new Set<number>();
  for (const v of values) {
    if (seen.has(v)) throw new UsageError(`--${name} lists ${v} more than once, got ${JSON.stringify(raw)}`);
    seen.add(v);
  }
  return values;
}

function methodList(flags: Flags): BenchMethod[] {
  const raw = stringFlag(flags, 'method');
  if (raw === undefined) return ['smc'];
  const methods = raw.split(',').map((m) => m.trim());
  for (const m of methods) {
    if (!(BENCH_METHODS as readonly string[]).includes(m)) {
      throw new UsageError(`--method must be one of ${BENCH_METHODS.join(', ')} or a comma-separated list of them, got ${JSON.stringify(raw)}`);
    }
  }
  if (new Set(methods).size !== methods.length) throw new UsageError(`--method lists a method more than once, got ${JSON.stringify(raw)}`);
  return methods as BenchMethod[];
}

function sweepPoints(methods: BenchMethod[], steps: number, particles: number[], langevinSteps: number[], jumps: number[]): SweepPoint[] {
  const none = { particles: null, langevinSteps: null, jumps: null };
  const points: SweepPoint[] = [];
  for (const method of methods) {
    if (method === 'smc') {
      for (const n of particles) points.push({ ...none, method, particles: n, scoreEvaluationsPerDraw: n * steps, label: `N=${n}` });
    } else if (method === 'langevin') {
      for (const l of langevinSteps) points.push({ ...none, method, langevinSteps: l, scoreEvaluationsPerDraw: steps * (1 + l), label: `L=${l}` });
    } else if (method === 'repaint') {
      for (const u of jumps) points.push({ ...none, method, jumps: u, scoreEvaluationsPerDraw: steps * (1 + u), label: `U=${u}` });
    } else {
      points.push({ ...none, method, scoreEvaluationsPerDraw: steps, label: `S=${steps}` });
    }
  }
  return points;
}

function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s / values.length;
}

/** Sample standard deviation (n - 1), or null for fewer than two values. */
function standardDeviation(values: ArrayLike<number>): number | null {
  if (values.length < 2) return null;
  const m = mean(values);
  let s = 0;
  for (let i = 0; i < values.length; i++) s += (values[i] - m) ** 2;
  return Math.sqrt(s / (values.length - 1));
}

function cpuModel(): string {
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line) return line.split(':')[1].trim();
  } catch {
    // not Linux: fall back to what Node reports
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/** 1234567 -> "1.23M": throughput at a glance. */
function compact(x: number): string {
  if (!Number.isFinite(x)) return '-';
  const units: [number, string][] = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [scale, unit] of units) if (Math.abs(x) >= scale) return `${(x / scale).toPrecision(3)}${unit}`;
  return x.toPrecision(3);
}

const COLUMNS: [string, number][] = [
  ['method', 12],
  ['point', 8],
  ['seconds', 9],
  ['psteps/s', 10],
  ['ESS mean', 10],
  ['ESS min', 9],
  ['resampled', 10],
  ['logZ mean', 11],
  ['logZ sd', 9],
  ['SW2', 9],
  ['floor', 9],
];

function tableLine(cells: string[]): string {
  return cells.map((c, i) => (i < 2 ? c.padEnd(COLUMNS[i][1]) : c.padStart(COLUMNS[i][1]))).join('');
}

function tableRow(r: BenchRow, floor: number): string {
  const f = (x: number | null | undefined, digits: number) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));
  return tableLine([
    r.method,
    r.label,
    r.seconds.toFixed(2),
    compact(r.particleStepsPerSecond),
    f(r.ess?.mean, 1),
    f(r.ess?.min, 1),
    r.resamplingCount === null ? '-' : String(r.resamplingCount),
    f(r.logEvidence?.mean, 3),
    f(r.logEvidence?.sd, 3),
    r.sw2.toFixed(4),
    floor.toFixed(4),
  ]);
}

interface Problem {
  model: GaussianMixture;
  observed: Observation;
  modelName: string;
  observeName: string;
}

function loadProblem(flags: Flags): Problem {
  const modelFile = stringFlag(flags, 'model'), observeFile = stringFlag(flags, 'observe');
  if ((modelFile === undefined) !== (observeFile === undefined)) {
    throw new UsageError('give both --model and --observe, or neither for the built-in demo problem');
  }
  if (typeof modelFile === 'string' && typeof observeFile === 'string') {
    const model = loadModel(modelFile);
    const observed = loadObservation(observeFile, model.dim);
    if (!('indices' in observed) || (observed.noiseStd ?? 0) !== 0) {
      throw new UsageError(`condiff bench takes an exact mask {"indices", "values"} in --observe for now, got ${'A' in observed ? 'a matrix observation' : 'a noisy mask'}: use condiff sample for it`);
    }
    return { model, observed, modelName: path.resolve(modelFile), observeName: path.resolve(observeFile) };
  }
  return { model: GaussianMixture.fromJSON(DEMO_MODEL), observed: DEMO_OBSERVATION, modelName: 'demo', observeName: 'demo' };
}

export async function benchCommand(args: readonly string[], io: CliIO): Promise<number> {
  const flags = parseFlags(args, BENCH_FLAGS, 'bench');
  if (flags.has('help')) {
    io.stdout.write(BENCH_USAGE + '\n');
    return 0;
  }
  const methods = methodList(flags);
  // Options that belong to a method not being run are mistakes, not silently ignored.
  for (const [flag, ms] of Object.entries(METHOD_ONLY_FLAGS)) {
    const benched = ms.filter((m) => (methods as readonly string[]).includes(m));
    if (flags.has(flag) && benched.length === 0) {
      throw new UsageError(`--${flag} applies only to --method ${ms.filter((m) => (BENCH_METHODS as readonly string[]).includes(m)).join(', ')}, which is not among ${methods.join(', ')}`);
    }
  }
  const context = choiceFlag(flags, 'context', CONTEXTS, 'forward');
  if (flags.has('context') && methods.every((m) => m === 'smc')) {
    throw new UsageError("--context applies only to replacement, langevin and repaint: the particle filter's weights assume the forward (noising) path");
  }
  const scheduleName = choiceFlag(flags, 'schedule', SCHEDULES, 'ou');
  const horizon = numberFlag(flags, 'horizon', scheduleName === 'ou' ? 5 : 1, { positive: true });
  const schedule = scheduleName === 'ou' ? schedules.ou({ T: horizon }) : schedules.vp({ T: horizon });
  const steps = integerFlag(flags, 'steps', 200, 1, 1_000_000);
  const samples = integerFlag(flags, 'samples', 1000, 1, 2 ** 31 - 1);
  const settings: BenchResults['settings'] = {
    methods,
    samples,
    steps,
    schedule: scheduleName,
    horizon,
    kernel: choiceFlag(flags, 'kernel', KERNELS, schedule.defaultKernel),
    context,
    seed: integerFlag(flags, 'seed', 0, 0),
    threads: integerFlag(flags, 'threads', defaultThreads(), 1, 1024),
    backend: backendFlag(flags),
    langevinGamma: numberFlag(flags, 'langevin-gamma', 0.1, { positive: true }),
    resampling: choiceFlag(flags, 'resampling', RESAMPLING_SCHEMES, 'systematic'),
    essThreshold: numberFlag(flags, 'ess-threshold', 1, { min: 0, max: 1 }),
  };
  const particles = integerList(flags, 'particles', [16, 64, 256, 1024], 1, 2 ** 31 - 1);
  const largest = Math.max(...particles);
  if (methods.includes('smc') && largest * samples > 2 ** 31 - 1) {
    throw new UsageError(`--particles times --samples must be at most 2^31 - 1, got ${largest} x ${samples}`);
  }
  const points = sweepPoints(
    methods,
    steps,
    particles,
    integerList(flags, 'langevin-steps', [0, 1, 5, 20], 0, 65536),
    integerList(flags, 'jumps', [0, 1, 5, 20], 0, 10000),
  );
  const problem = loadProblem(flags);
  const outDir = prepareOutputDirectory(stringFlag(flags, 'out') ?? 'condiff-bench', io, '--out');
  let plotting: PlotLibraries | null = null;
  if (!flags.has('no-plots')) {
    try {
      plotting = await loadPlotLibraries();
    } catch (e) {
      if (isErrorNamed(e, 'MissingDependencyError')) throw new UsageError(e.message);
      throw e;
    }
  }

  const { model, observed } = problem;
  const latent = Array.from(model.posterior(observed).latent);
  const { threads, seed } = settings;
  io.stdout.write(
    `condiff bench: ${problem.modelName === 'demo' ? 'the demo problem' : path.basename(problem.modelName)} (D = ${model.dim}, ${model.components} components, ` +
      `${observed.indices.length} observed), ${samples} draws per point, ${steps} steps, ${scheduleName} schedule (T = ${horizon}), ` +
      `${settings.kernel} kernel, seed ${seed}, ${threads} thread${threads === 1 ? '' : 's'}\n`,
  );
  const status = new Progress(io, 'noise floor');
  status.status(`exact posterior draws and the noise floor (${FLOOR_REPLICATES} replicates)...`);
  const sw = { directions: SW_DIRECTIONS, coordinates: latent };
  const exact = await model.sampleExact(observed, samples, { seed, run: EXACT_RUN, threads });
  const floor = await noiseFloor(model, observed, samples, { ...sw, replicates: FLOOR_REPLICATES, quantile: FLOOR_QUANTILE, threads, exactSeed: seed });
  status.clear();

  const header = tableLine(COLUMNS.map(([name]) => name));
  io.stdout.write(`\n${header}\n${'-'.repeat(header.length)}\n`);
  const rows: BenchRow[] = [];
  for (const [index, point] of points.entries()) {
    const progress = new Progress(io, `[${index + 1}/${points.length}] ${point.method} ${point.label}`);
    const common = {
      score: model,
      schedule,
      steps,
      observed,
      kernel: settings.kernel,
      seed,
      threads,
      samples,
      backend: settings.backend,
      signal: io.signal,
      onStep: progress.onStep,
    };
    let result: SampleResult;
    try {
      if (point.method === 'smc') {
        result = await userInputAsync('', () =>
          smc({ ...common, particles: point.particles!, resampling: settings.resampling, essThreshold: settings.essThreshold }),
        );
      } else {
        let corrector: CorrectorOptions | undefined;
        if (point.method === 'langevin') corrector = { kind: 'langevin', steps: point.langevinSteps!, gamma: settings.langevinGamma };
        if (point.method === 'repaint') corrector = { kind: 'repaint', jumps: point.jumps! };
        result = await userInputAsync('', () => replacement({ ...common, context, corrector }));
      }
    } finally {
      progress.clear();
    }
    const row: BenchRow = {
      ...point,
      backend: result.backend,
      seconds: result.seconds,
      particleStepsPerSecond: (samples * point.scoreEvaluationsPerDraw) / result.seconds,
      ess: null,
      resamplingCount: null,
      logEvidence: null,
      sw2: await slicedWasserstein(result.samples, exact, model.dim, sw),
    };
    if (point.method === 'smc') {
      const r = result as SmcResult;
      let min = Infinity;
      for (const e of r.ess) if (e < min) min = e;
      let count = 0;
      for (const f of r.resampled) count += f;
      row.ess = { mean: mean(r.ess), min };
      row.resamplingCount = count;
      row.logEvidence = { mean: mean(r.logEvidence), sd: standardDeviation(r.logEvidence) };
    }
    rows.push(row);
    io.stdout.write(tableRow(row, floor.floor) + '\n');
  }

  const results: BenchResults = {
    command: ['condiff', 'bench', ...args].join(' '),
    date: new Date().toISOString(),
    machine: { cpu: cpuModel(), cores: os.availableParallelism(), node: process.version, platform: `${process.platform}-${process.arch}` },
    problem: { model: problem.modelName, observe: problem.observeName, dim: model.dim, components: model.components, observed, latent },
    settings,
    metric: { name: 'sliced Wasserstein-2', directions: SW_DIRECTIONS, coordinates: 'latent' },
    noiseFloor: { value: floor.floor, quantile: FLOOR_QUANTILE, replicates: FLOOR_REPLICATES },
    rows,
    plots: [],
  };
  // results.json first, so the measurements survive a plot that fails; again with the plots.
  const resultsFile = path.join(outDir.path, 'results.json');
  const writeResults = () => outDir.write('results.json', Buffer.from(JSON.stringify(results, null, 2) + '\n'), io.signal);
  await writeResults();
  if (plotting !== null) {
    status.status('drawing the plots...');
    results.plots = await drawPlots(plotting, results, outDir, io.signal);
    status.clear();
    await writeResults();
  }
  io.stdout.write(
    `\nSW2: sliced Wasserstein-2 over the latent coordinates (${SW_DIRECTIONS} directions) to ${samples} exact draws; floor: ` +
      `95th percentile of ${FLOOR_REPLICATES} exact-vs-exact replicates. psteps/s: score evaluations per second.\n` +
      `wrote ${[resultsFile, ...results.plots.map((f) => path.join(outDir.path, f))].join(', ')}\n`,
  );
  return 0;
}

/** error.svg/.png (SW2 and the noise floor) and seconds.svg/.png; returns the file names. */
async function drawPlots(libs: PlotLibraries, results: BenchResults, outDir: OutputDirectory, signal: AbortSignal | undefined): Promise<string[]> {
  const { rows, settings } = results;
  const allSmc = rows.every((r) => r.method === 'smc');
  const x = (r: BenchRow) => (allSmc ? r.particles! : r.scoreEvaluationsPerDraw);
  const xTitle = allSmc ? 'particles N' : 'score evaluations per draw (N·S filter, S·(1+L) Langevin, S·(1+U) RePaint, S replacement)';
  const points = (y: (r: BenchRow) => number): PlotPoint[] =>
    rows.map((r) => ({ series: r.method, x: x(r), y: y(r), label: allSmc ? '' : r.label }));
  const problem = results.problem.model === 'demo' ? 'the demo problem' : path.basename(results.problem.model);
  const subtitle = `${problem}, D = ${results.problem.dim}; ${settings.samples} draws per point, ${settings.steps} steps, ${settings.kernel} kernel, ${settings.threads} thread(s)`;
  const files: string[] = [];
  const error = logLogSpec({
    title: 'Distance to the exact posterior',
    subtitle,
    xTitle,
    yTitle: 'sliced Wasserstein-2 to exact draws',
    points: points((r) => r.sw2),
    singlePointsAsLines: true,
    reference: { y: results.noiseFloor.value, label: `noise floor (${Math.round(results.noiseFloor.quantile * 100)}th percentile of ${results.noiseFloor.replicates} exact-vs-exact)` },
  });
  const seconds = logLogSpec({ title: 'Time per sweep point', subtitle, xTitle, yTitle: 'seconds', points: points((r) => r.seconds) });
  for (const [name, spec] of [
    ['error', error],
    ['seconds', seconds],
  ] as const) {
    const { svg, png } = await renderPlot(libs, spec);
    await outDir.write(`${name}.svg`, svg, signal);
    await outDir.write(`${name}.png`, png, signal);
    files.push(`${name}.svg`, `${name}.png`);
  }
  return files;
}
