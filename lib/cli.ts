#!/usr/bin/env node
// The `condiff` command line: sample from a Gaussian-mixture model conditioned on some
// coordinates (writing a .npy file), or run the built-in demo comparing every method with
// the exact posterior (MATH.md §3, §7). `main` runs in-process so tests can call it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { GaussianMixture } from './mixture';
import { schedules, Schedule, KernelName } from './schedules';
import { replacement, smc, CorrectorOptions, ContextKind, SampleResult } from './samplers';
import { ResamplingScheme, RESAMPLING_SCHEMES, StepInfo } from './driver';
import { slicedWasserstein, noiseFloor } from './metrics';
import { Observation, normalizeObservation } from './observation';
import { encodeNpy } from './npy';
import { defaultThreads } from './threads';
import { benchCommand, BENCH_USAGE } from './cli/bench';
import { inpaintCommand, INPAINT_USAGE } from './cli/inpaint';
import { infoCommand, INFO_USAGE, backendFlag } from './cli/info';
import type { BackendName } from './backend';

/** Anything with a write(string) method: process.stdout, or a test's capture. */

/** Flags that belong to one method: given with another, they are a mistake (sample, bench). */
export const METHOD_ONLY_FLAGS: Readonly<Record<string, 'smc' | 'langevin' | 'repaint'>> = {
  particles: 'smc',
  resampling: 'smc',
  'ess-threshold': 'smc',
  'langevin-steps': 'langevin',
  'langevin-gamma': 'langevin',
  jumps: 'repaint',
};
export interface TextSink {
  write(chunk: string): unknown;
}

export interface CliIO {
  stdout: TextSink;
  stderr: TextSink;
  /** Draw a progress bar on stderr (only on a terminal). */
  isTTY: boolean;
  /** Cancels a running command (Ctrl-C when run as a script): exit status 130. */
  signal?: AbortSignal;
  /** Environment (default process.env): CONDIFF_DEBUG prints the stack of internal errors. */
  env?: Record<string, string | undefined>;
}

/** A mistake in the command line or its input files: one line on stderr, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const METHODS = ['replacement', 'langevin', 'repaint', 'smc'] as const;
type Method = (typeof METHODS)[number];
export const SCHEDULES = ['ou', 'vp'] as const;
export const KERNELS = ['euler', 'ddpm'] as const;
export const CONTEXTS = ['fixed', 'forward'] as const;

const USAGE = `condiff: conditional sampling from diffusion models (Gaussian-mixture score models)

Usage:
  condiff sample --model M.json --observe O.json --method METHOD --out FILE.npy [options]
  condiff demo [--samples K] [--seed X] [--threads P]
  condiff bench [--method M[,M..]] [--particles N1,N2,..] [--out DIR] [options]
  condiff inpaint [--digits N] [--completions K] [--steps S] [--particles N] [--out FILE.png] [options]
  condiff info [--json]
  condiff help [sample|demo|bench|inpaint|info]
  condiff --version

sample: draws from p(X | Y = y) for the mixture in M.json, observing the coordinates of
O.json, and writes a float32 .npy array of shape [samples, D] (observed coordinates filled).
  --model FILE          {"weights":[..],"means":[[..]],"covariances":[[[..]]]} (or "variances":[[..]])
  --observe FILE        {"indices":[..],"values":[..]}
  --method M            replacement | langevin | repaint | smc
  --out FILE.npy        output file (written only when sampling succeeds)
  --context C           fixed | forward: the observed path (default forward; smc needs forward)
  --schedule S          ou | vp (default ou)
  --horizon T           end time T (default 5 for ou, 1 for vp)
  --steps S             backward steps on a uniform grid (default 200)
  --kernel K            euler | ddpm (default euler)
  --samples K           number of draws (default 1000; for smc, K independent runs, one draw each)
  --seed X              seed of every random number (default 0)
  --threads P           worker threads (default: all cores; results do not depend on it)
  --backend B           auto | cpu | cuda (default auto: CUDA when available; see condiff info)
 langevin only:
  --langevin-steps L    corrector steps per backward step (default 5)
  --langevin-gamma G    step size delta = G * sigma_s^2 (default 0.1)
 repaint only:
  --jumps U             re-noise/denoise jumps per step (default 5)
 smc only:
  --particles N         particles per run (default 256)
  --resampling R        systematic | stratified | multinomial | residual (default systematic)
  --ess-threshold TAU   resample when ESS < TAU * N, TAU in [0, 1] (default 1: every step)
Prints a one-line JSON summary on stdout; a progress bar on stderr when it is a terminal.

demo: a built-in 3-D two-mode problem, every method against the exact posterior (sliced
Wasserstein distance and its noise floor). Takes about 10-20 s on 2 cores.
  --samples K           draws per method (default 1000)
  --seed X              seed (default 0)
  --threads P           worker threads (default: all cores)

bench: sweeps particle counts (smc), Langevin steps or RePaint jumps, and reports time, ESS,
log-evidence and the distance to the exact posterior, with plots (see condiff help bench).

inpaint: completes held-out 8x8 digits with the shipped ONNX network by every method; a table
and a PNG grid (see condiff help inpaint).

info: the backends this install can use (cpu, cuda), the CUDA device's name and memory, and
the CPU threads.

Exit status: 0 success, 2 usage or input error, 1 internal error (set CONDIFF_DEBUG=1 for the stack).`;

// ---------------------------------------------------------------------------------------
// Flags

type FlagKind = 'value' | 'switch';
type Flags = Map<string, string | true>;

const SAMPLE_FLAGS: Record<string, FlagKind> = {
  model: 'value',
  observe: 'value',
  method: 'value',
  out: 'value',
  context: 'value',
  schedule: 'value',
  horizon: 'value',
  steps: 'value',
  kernel: 'value',
  particles: 'value',
  samples: 'value',
  'langevin-steps': 'value',
  'langevin-gamma': 'value',
  jumps: 'value',
  resampling: 'value',
  'ess-threshold': 'value',
  seed: 'value',
  threads: 'value',
  backend: 'value',
  help: 'switch',
};

const DEMO_FLAGS: Record<string, FlagKind> = {
  samples: 'value',
  seed: 'value',
  threads: 'value',
  quick: 'switch', // hidden: a small, fast demo for tests
  help: 'switch',
};

function shown(raw: string): string {
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) ? raw : JSON.stringify(raw);
}

export function parseFlags(args: readonly string[], spec: Record<string, FlagKind>, command: string): Flags {
  const flags: Flags = new Map();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '-h') {
      flags.set('help', true);
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) throw new UsageError(`unknown option ${arg} for 'condiff ${command}' (see condiff help ${command})`);
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)} for 'condiff ${command}' (options start with --; see condiff help ${command})`);
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const kind = Object.prototype.hasOwnProperty.call(spec, name) ? spec[name] : undefined;
    if (kind === undefined) throw new UsageError(`unknown option --${name} for 'condiff ${command}' (see condiff help ${command})`);
    if (flags.has(name)) throw new UsageError(`--${name} given more than once`);
    if (kind === 'switch') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
      continue;
    }
    let value: string;
    if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = args[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      value = next;
      i++;
    }
    if (value === '') throw new UsageError(`--${name} needs a value, got an empty string`);
    flags.set(name, value);
  }
  return flags;
}

function str(flags: Flags, name: string): string | undefined {
  const v = flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

function required(flags: Flags, name: string, what: string): string {
  const v = str(flags, name);
  if (v === undefined) throw new UsageError(`missing --${name} (${what})`);
  return v;
}

export function integerFlag(flags: Flags, name: string, fallback: number, min: 0 | 1, max = Number.MAX_SAFE_INTEGER): number {
  const raw = str(flags, name);
  if (raw === undefined) return fallback;
  const kind = min === 1 ? 'a positive integer' : 'a non-negative integer';
  const n = /^\+?\d+(e\+?\d+)?$/i.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be ${kind}, got ${shown(raw)}`);
  if (n > max) throw new UsageError(`--${name} must be ${kind} at most ${max}, got ${shown(raw)}`);
  return n;
}

export function numberFlag(flags: Flags, name: string, fallback: number, check: { positive?: boolean; min?: number; max?: number } = {}): number {
  const raw = str(flags, name);
  if (raw === undefined) return fallback;
  const n = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) ? Number(raw) : NaN;
  if (check.positive) {
    if (!Number.isFinite(n) || !(n > 0)) throw new UsageError(`--${name} must be a positive number, got ${shown(raw)}`);
  } else if (check.min !== undefined && check.max !== undefined) {
    if (!Number.isFinite(n) || n < check.min || n > check.max) throw new UsageError(`--${name} must be a number in [${check.min}, ${check.max}], got ${shown(raw)}`);
  } else if (!Number.isFinite(n)) {
    throw new UsageError(`--${name} must be a finite number, got ${shown(raw)}`);
  }
  return n;
}

export function choiceFlag<T extends string>(flags: Flags, name: string, options: readonly T[], fallback: T): T {
  const raw = str(flags, name);
  if (raw === undefined) return fallback;
  if (!options.includes(raw as T)) throw new UsageError(`--${name} must be one of ${options.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

// ---------------------------------------------------------------------------------------
// Input files

function readJson(label: string, file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new UsageError(`cannot read the ${label} file ${JSON.stringify(file)}: ${why}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`the ${label} file ${JSON.stringify(file)} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * The library's TypeError/RangeError: bad input. Checked by name too, since the native
 * addon's errors come from the main realm's constructors (not those of a vm context, as
 * under jest).
 */
function isInputError(e: unknown): e is Error {
  return e instanceof TypeError || e instanceof RangeError || (typeof e === 'object' && e !== null && ['TypeError', 'RangeError'].includes((e as Error).name) && typeof (e as Error).message === 'string');
}

/** Runs `fn`, turning the library's TypeError/RangeError (bad input) into a UsageError. */
function userInput<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (isInputError(e)) throw new UsageError(`${prefix}${e.message}`);
    throw e;
  }
}

export function loadModel(file: string): GaussianMixture {
  const spec = readJson('model', file);
  return userInput(`the model file ${JSON.stringify(file)}: `, () => GaussianMixture.fromJSON(spec));
}

export function loadObservation(file: string, dim: number): Observation {
  const json = readJson('observation', file);
  const where = `the observation file ${JSON.stringify(file)}`;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new UsageError(`${where} must hold an object {"indices": [...], "values": [...]}`);
  }
  const o = json as Record<string, unknown>;
  for (const key of ['indices', 'values']) {
    if (!(key in o)) throw new UsageError(`${where} has no "${key}" field`);
    if (!Array.isArray(o[key])) throw new UsageError(`${where}: "${key}" must be an array of numbers`);
  }
  const observed = { indices: o.indices as number[], values: o.values as number[] };
  userInput(`${where} (model dimension ${dim}): `, () => normalizeObservation(observed, dim));
  return observed;
}

/** Checks early (before sampling) that `out` can be created; returns its absolute path. */
function checkOutput(out: string): string {
  const abs = path.resolve(out);
  const dir = path.dirname(abs);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new UsageError(`cannot write --out ${JSON.stringify(out)}: the directory ${JSON.stringify(path.dirname(out))} does not exist`);
  }
  if (!st.isDirectory()) throw new UsageError(`cannot write --out ${JSON.stringify(out)}: ${JSON.stringify(path.dirname(out))} is not a directory`);
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) throw new UsageError(`cannot write --out ${JSON.stringify(out)}: it is a directory`);
  return abs;
}

/** Writes the file whole or not at all: a temporary file in the same directory, then rename. */
function writeAtomically(file: string, bytes: Buffer): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  try {
    fs.writeFileSync(tmp, bytes, { flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // nothing was written
    }
    throw new UsageError(`cannot write ${JSON.stringify(file)}: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------
// Progress bar (stderr, terminals only, at most ~10 redraws per second)

export class Progress {
  private last = 0;
  private drawn = 0;
  private readonly started = Date.now();
  constructor(
    private readonly io: CliIO,
    private readonly label: string,
  ) {}
  readonly onStep = (info: StepInfo): void => {
    if (!this.io.isTTY) return;
    const now = Date.now();
    if (now - this.last < 100 && info.step < info.steps) return;
    this.last = now;
    const width = 30;
    const filled = Math.round((width * info.step) / info.steps);
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${info.step}/${info.steps} steps ${((now - this.started) / 1000).toFixed(1)}s`;
    this.io.stderr.write('\r' + line + ' '.repeat(Math.max(0, this.drawn - line.length)));
    this.drawn = line.length;
  };
  /** A one-off status line (for work without steps). */
  status(text: string): void {
    if (!this.io.isTTY) return;
    this.io.stderr.write('\r' + text + ' '.repeat(Math.max(0, this.drawn - text.length)));
    this.drawn = text.length;
  }
  clear(): void {
    if (this.drawn > 0) this.io.stderr.write('\r' + ' '.repeat(this.drawn) + '\r');
    this.drawn = 0;
  }
}

// ---------------------------------------------------------------------------------------
// sample

interface SamplerSettings {
  method: Method;
  context: ContextKind;
  schedule: Schedule;
  steps: number;
  kernel: KernelName;
  samples: number;
  seed: number;
  threads: number;
  particles: number;
  resampling: ResamplingScheme;
  essThreshold: number;
  corrector?: CorrectorOptions;
  /** Default 'auto'. */
  backend?: BackendName;
}

interface RunOutcome {
  result: SampleResult;
  meanLogEvidence: number | null;
  minEss: number | null;
  resamplingCount: number | null;
}

async function runMethod(model: GaussianMixture, observed: Observation, s: SamplerSettings, io: CliIO, label: string): Promise<RunOutcome> {
  const progress = new Progress(io, label);
  const common = {
    score: model,
    schedule: s.schedule,
    steps: s.steps,
    observed,
    kernel: s.kernel,
    seed: s.seed,
    threads: s.threads,
    samples: s.samples,
    backend: s.backend,
    signal: io.signal,
    onStep: progress.onStep,
  };
  try {
    if (s.method === 'smc') {
      const r = await userInputAsync('', () => smc({ ...common, particles: s.particles, resampling: s.resampling, essThreshold: s.essThreshold }));
      let minEss = Infinity;
      for (const e of r.ess) if (e < minEss) minEss = e; // NaN never compares below
      let count = 0;
      for (const f of r.resampled) count += f;
      const meanLogEvidence = r.logEvidence.reduce((a, b) => a + b, 0) / r.logEvidence.length;
      return { result: r, meanLogEvidence, minEss: Number.isFinite(minEss) ? minEss : null, resamplingCount: count };
    }
    const r = await userInputAsync('', () => replacement({ ...common, context: s.context, corrector: s.corrector }));
    return { result: r, meanLogEvidence: null, minEss: null, resamplingCount: null };
  } finally {
    progress.clear();
  }
}

export async function userInputAsync<T>(prefix: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isInputError(e)) throw new UsageError(`${prefix}${e.message}`);
    throw e;
  }
}

async function sampleCommand(args: readonly string[], io: CliIO): Promise<number> {
  const flags = parseFlags(args, SAMPLE_FLAGS, 'sample');
  if (flags.has('help')) {
    io.stdout.write(USAGE + '\n');
    return 0;
  }
  const modelFile = required(flags, 'model', 'the mixture JSON file');
  const observeFile = required(flags, 'observe', 'the observation JSON file');
  required(flags, 'method', METHODS.join(' | '));
  const method = choiceFlag(flags, 'method', METHODS, 'replacement');
  const out = required(flags, 'out', 'the .npy file to write');

  // Options that mean nothing for this method are mistakes, not silently ignored.
  for (const [flag, m] of Object.entries(METHOD_ONLY_FLAGS)) {
    if (flags.has(flag) && method !== m) throw new UsageError(`--${flag} applies only to --method ${m}, not ${method}`);
  }
  const context = choiceFlag(flags, 'context', CONTEXTS, 'forward');
  if (method === 'smc' && context === 'fixed') {
    throw new UsageError("--context fixed cannot be used with --method smc: the particle filter's weights assume the forward (noising) path of the observed coordinates");
  }
  const scheduleName = choiceFlag(flags, 'schedule', SCHEDULES, 'ou');
  const horizon = numberFlag(flags, 'horizon', scheduleName === 'ou' ? 5 : 1, { positive: true });
  const schedule = scheduleName === 'ou' ? schedules.ou({ T: horizon }) : schedules.vp({ T: horizon });
  const settings: SamplerSettings = {
    method,
    context,
    schedule,
    steps: integerFlag(flags, 'steps', 200, 1, 1_000_000),
    kernel: choiceFlag(flags, 'kernel', KERNELS, schedule.defaultKernel),
    samples: integerFlag(flags, 'samples', 1000, 1, 2 ** 31 - 1),
    seed: integerFlag(flags, 'seed', 0, 0),
    threads: integerFlag(flags, 'threads', defaultThreads(), 1, 1024),
    particles: integerFlag(flags, 'particles', 256, 1, 2 ** 31 - 1),
    resampling: choiceFlag(flags, 'resampling', RESAMPLING_SCHEMES, 'systematic'),
    essThreshold: numberFlag(flags, 'ess-threshold', 1, { min: 0, max: 1 }),
    backend: backendFlag(flags),
  };
  if (method === 'smc' && settings.particles * settings.samples > 2 ** 31 - 1) {
    throw new UsageError(`--particles times --samples must be at most 2^31 - 1, got ${settings.particles} x ${settings.samples}`);
  }
  if (method === 'langevin') {
    settings.corrector = {
      kind: 'langevin',
      steps: integerFlag(flags, 'langevin-steps', 5, 1, 100000),
      gamma: numberFlag(flags, 'langevin-gamma', 0.1, { positive: true }),
    };
  } else if (method === 'repaint') {
    settings.corrector = { kind: 'repaint', jumps: integerFlag(flags, 'jumps', 5, 1, 10000) };
  }

  const model = loadModel(modelFile);
  const observed = loadObservation(observeFile, model.dim);
  const outPath = checkOutput(out);

  const run = await runMethod(model, observed, settings, io, method);
  const [rows, dim] = run.result.shape;
  writeAtomically(outPath, encodeNpy(run.result.samples, [rows, dim]));
  const summary = {
    method,
    samples: rows,
    dim,
    seconds: Math.round(run.result.seconds * 1000) / 1000,
    meanLogEvidence: run.meanLogEvidence,
    minEss: run.minEss,
    resamplingCount: run.resamplingCount,
    backend: run.result.backend,
    out: outPath,
  };
  io.stdout.write(JSON.stringify(summary) + '\n');
  return 0;
}

// ---------------------------------------------------------------------------------------
// demo

/**
 * Two well-separated modes in R^3 at (-2,-2,-2) and (2,2,2); within each, both latent
 * coordinates are strongly correlated with the observed z[2] (+0.8 in one mode, -0.8 in
 * the other). Observing z[2] = 0.5 puts 88% of the posterior on the second mode (latent
 * mean (3.2, 3.2)) and 12% on the first (latent mean (0, 0)); replacement sampling keeps
 * roughly the prior's 50/50 split.
 */
export const DEMO_MODEL = {
  weights: [0.5, 0.5],
  means: [
    [-2, -2, -2],
    [2, 2, 2],
  ],
  covariances: [
    [
      [1, 0.7, 0.8],
      [0.7, 1, 0.8],
      [0.8, 0.8, 1],
    ],
    [
      [1, 0.7, -0.8],
      [0.7, 1, -0.8],
      [-0.8, -0.8, 1],
    ],
  ],
};
export const DEMO_OBSERVATION = { indices: [2], values: [0.5] };

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

async function demoCommand(args: readonly string[], io: CliIO): Promise<number> {
  const flags = parseFlags(args, DEMO_FLAGS, 'demo');
  if (flags.has('help')) {
    io.stdout.write(USAGE + '\n');
    return 0;
  }
  const quick = flags.has('quick');
  const samples = integerFlag(flags, 'samples', quick ? 200 : 1000, 1, 1_000_000);
  const seed = integerFlag(flags, 'seed', 0, 0);
  const threads = integerFlag(flags, 'threads', defaultThreads(), 1, 1024);
  const steps = quick ? 20 : 100;
  const particles = quick ? 16 : 256;
  const schedule = schedules.ou({ T: 5 });
  const kernel: KernelName = 'ddpm';
  const model = GaussianMixture.fromJSON(DEMO_MODEL);
  const observed = DEMO_OBSERVATION;
  const posterior = model.posterior(observed);
  const latent = posterior.latent;
  const k = latent.length;
  const major = posterior.weights[0] > posterior.weights[1] ? 0 : 1;

  // Share of draws nearer (over the latent coordinates) to the major posterior mode's mean.
  const majorShare = (z: Float32Array): number => {
    let count = 0;
    const n = z.length / model.dim;
    for (let i = 0; i < n; i++) {
      let best = 0, bestD = Infinity;
      for (let j = 0; j < posterior.weights.length; j++) {
        let d = 0;
        for (let a = 0; a < k; a++) d += (z[i * model.dim + latent[a]] - posterior.means[j * k + a]) ** 2;
        if (d < bestD) [best, bestD] = [j, d];
      }
      if (best === major) count++;
    }
    return count / n;
  };

  const w = (x: number) => x.toFixed(3);
  io.stdout.write(
    `condiff demo: mixture of 2 Gaussians in R^3 (modes at -2 and +2, strongly correlated), z[2] = ${observed.values[0]} observed\n` +
      `exact posterior: ${w(posterior.weights[major])} of the mass on the mode near (${Array.from(posterior.means.subarray(major * k, major * k + k), (v) => v.toFixed(1)).join(', ')})\n` +
      `${samples} samples per method, ou schedule (T = 5), ${steps} steps, ${kernel} kernel, seed ${seed}, ${threads} thread${threads === 1 ? '' : 's'}\n\n`,
  );

  const status = new Progress(io, 'noise floor');
  status.status('exact draws and the noise floor (50 replicates)...');
  const t0 = performance.now();
  const exact = await model.sampleExact(observed, samples, { seed, run: 1_000_000, threads });
  const floor = await noiseFloor(model, observed, samples, { coordinates: latent, replicates: 50, threads, exactSeed: seed });
  status.clear();
  const floorSeconds = (performance.now() - t0) / 1000;

  const base: SamplerSettings = {
    method: 'replacement',
    context: 'forward',
    schedule,
    steps,
    kernel,
    samples,
    seed,
    threads,
    particles,
    resampling: 'systematic',
    essThreshold: 1,
  };
  const rows: { label: string; settings: SamplerSettings }[] = [
    { label: 'replacement (fixed)', settings: { ...base, context: 'fixed' } },
    { label: 'replacement (forward)', settings: { ...base } },
    { label: 'langevin (L=5, g=0.3)', settings: { ...base, method: 'langevin', corrector: { kind: 'langevin', steps: 5, gamma: 0.3 } } },
    { label: 'repaint (U=5)', settings: { ...base, method: 'repaint', corrector: { kind: 'repaint', jumps: 5 } } },
    { label: `smc (N=${particles})`, settings: { ...base, method: 'smc' } },
  ];

  const header = `${pad('method', 24)}${pad('SW2 to exact', 14, true)}${pad('noise floor', 13, true)}${pad('major mode', 12, true)}${pad('seconds', 10, true)}`;
  io.stdout.write(header + '\n' + '-'.repeat(header.length) + '\n');
  io.stdout.write(
    `${pad('exact (reference)', 24)}${pad('-', 14, true)}${pad(floor.floor.toFixed(4), 13, true)}${pad(w(majorShare(exact)), 12, true)}${pad(floorSeconds.toFixed(2), 10, true)}\n`,
  );
  for (const row of rows) {
    const run = await runMethod(model, observed, row.settings, io, row.label);
    const sw = await slicedWasserstein(run.result.samples, exact, model.dim, { coordinates: latent });
    io.stdout.write(
      `${pad(row.label, 24)}${pad(sw.toFixed(4), 14, true)}${pad(floor.floor.toFixed(4), 13, true)}${pad(w(majorShare(run.result.samples)), 12, true)}${pad(run.result.seconds.toFixed(2), 10, true)}\n`,
    );
  }
  io.stdout.write(
    `\nSW2: sliced Wasserstein-2 over the latent coordinates (128 directions) to ${samples} exact draws;\n` +
      `noise floor: 95th percentile of 50 exact-vs-exact replicates; major mode: share of draws nearest\n` +
      `the heavier posterior mode (exact: ${w(posterior.weights[major])}). A method is consistent here when its SW2 is near the floor.\n`,
  );
  return 0;
}

// ---------------------------------------------------------------------------------------
// main

function version(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Runs the command line `argv` (without "node cli.js"); resolves to the exit status. */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const env = io.env ?? process.env;
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case undefined:
        io.stderr.write(USAGE + '\n');
        return 2;
      case 'help':
      case '--help':
      case '-h':
        if (rest.length === 1 && rest[0] === 'inpaint') {
          io.stdout.write(INPAINT_USAGE + '\n');
          return 0;
        }
        if (rest.length === 1 && rest[0] === 'bench') {
          io.stdout.write(BENCH_USAGE + '\n');
          return 0;
        }
        if (rest.length === 1 && rest[0] === 'info') {
          io.stdout.write(INFO_USAGE + '\n');
          return 0;
        }
        if (rest.length > 1 || (rest.length === 1 && !['sample', 'demo'].includes(rest[0]))) {
          throw new UsageError(`unknown help topic ${JSON.stringify(rest.join(' '))} (try condiff help)`);
        }
        io.stdout.write(USAGE + '\n');
        return 0;
      case '--version':
      case 'version':
        io.stdout.write(version() + '\n');
        return 0;
      case 'sample':
        return await sampleCommand(rest, io);
      case 'demo':
        return await demoCommand(rest, io);
      case 'bench':
        return await benchCommand(rest, io);
      case 'inpaint':
        return await inpaintCommand(rest, io);
      case 'info':
        return await infoCommand(rest, io);
      default:
        if (command.startsWith('-')) throw new UsageError(`unknown option ${command} (commands: sample, demo, bench, inpaint, info, help)`);
        throw new UsageError(`unknown command ${JSON.stringify(command)} (commands: sample, demo, bench, inpaint, info, help)`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`condiff: ${e.message}\n`);
      return 2;
    }
    if (typeof e === 'object' && e !== null && (e as Error).name === 'AbortError') {
      io.stderr.write('condiff: interrupted\n');
      return 130;
    }
    const err = typeof e === 'object' && e !== null ? (e as Error) : undefined;
    const message = typeof err?.message === 'string' ? err.message.split('\n')[0] : String(e);
    io.stderr.write(`condiff: internal error: ${message}\n`);
    if (env.CONDIFF_DEBUG && typeof err?.stack === 'string') io.stderr.write(err.stack + '\n');
    return 1;
  }
}

if (require.main === module) {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    isTTY: Boolean(process.stderr.isTTY),
    signal: controller.signal,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`condiff: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
