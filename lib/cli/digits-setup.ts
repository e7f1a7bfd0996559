// What `condiff inpaint` and `condiff restore` share: their list flags, loading the shipped
// digits network, classifier and held-out set (file problems turned into usage errors), the
// held-out digits they run on, and their outputs (the PNG grid, the JSON table).
import * as path from 'node:path';
import { OnnxScore } from '../onnx';
import { Schedule } from '../schedules';
import { defaultThreads } from '../threads';
import { MODELS_DIR, DIGIT_DIM, DigitSet, LinearClassifier, loadDigitSet, pickDigits, renderGrid } from '../digits';
import { isErrorNamed } from '../errors';
import { UsageError } from './errors';
import { Flags, integerFlag, stringFlag } from './flags';
import { CliIO, TextSink } from './io';
import { Output, prepareOutput } from './output';

/** A comma-separated list of `options` (all of them when the flag is absent), no repeats. */
export function listFlag<T extends string>(raw: string | undefined, options: readonly T[], name: string, defaults: readonly T[] = options): T[] {
  if (raw === undefined) return [...defaults];
  const items = raw.split(',').map((s) => s.trim());
  for (const it of items) if (!options.includes(it as T)) throw new UsageError(`--${name} must be a comma-separated list of ${options.join(', ')}, got ${JSON.stringify(it)}`);
  if (new Set(items).size !== items.length) throw new UsageError(`--${name} lists an item twice`);
  return items as T[];
}

/** The figures of a row of a digits command's table (per task or mask, and method). */
export interface DigitsRowFigures {
  /** Mean squared error ([-1, 1] scale) over the pixels the command scores, digits and samples. */
  mse: number;
  /** Root mean variance across a digit's samples, over those pixels and the digits. */
  spread: number;
  /** Fraction of samples the classifier puts in the original's class. */
  agreement: number;
  /** Samples in the row (digits x completions). */
  completions: number;
  seconds: number;
  /** Largest |pixel| of any raw sample (the data lie in [-1, 1]). */
  maxAbs: number;
  /** Network evaluations per sample. */
  evaluations: number;
}

/**
 * Sums one row's figures over its digits: each digit's K samples add their statistics (from
 * completionStats or restorationStats) and their run's seconds.
 */
export class RowTotals {
  private se = 0;
  private variance = 0;
  private agree = 0;
  private total = 0;
  private digits = 0;
  private seconds = 0;
  private maxAbs = 0;

  add(st: { mse: number; variance: number; agree: number; maxAbs: number }, samples: number, seconds: number): void {
    this.se += st.mse * samples;
    this.variance += st.variance;
    this.agree += st.agree;
    this.total += samples;
    this.digits++;
    this.seconds += seconds;
    this.maxAbs = Math.max(this.maxAbs, st.maxAbs);
  }

  figures(evaluations: number): DigitsRowFigures {
    return {
      mse: this.se / this.total, spread: Math.sqrt(this.variance / this.digits), agreement: this.agree / this.total,
      completions: this.total, seconds: this.seconds, maxAbs: this.maxAbs, evaluations,
    };
  }
}

/** A row of the printed table: the task or mask, the method, then the figures. */
export function tableLine(first: string, method: string, row: DigitsRowFigures): string {
  return `| ${first} | ${method} | ${row.mse.toFixed(4)} | ${row.spread.toFixed(3)} | ${row.agreement.toFixed(3)} | ${row.maxAbs.toFixed(2)} | ${row.evaluations} | ${row.seconds.toFixed(1)} |\n`;
}

/** The flags every digits command takes (parseFlags kinds); each command adds its own. */
export const DIGITS_FLAGS = {
  digits: 'value',
  completions: 'value',
  methods: 'value',
  steps: 'value',
  particles: 'value',
  'tds-particles': 'value',
  clip: 'switch',
  seed: 'value',
  threads: 'value',
  out: 'value',
  'no-picture': 'switch',
  show: 'value',
  shown: 'value',
  json: 'value',
  model: 'value',
  classifier: 'value',
  data: 'value',
  help: 'switch',
} as const;

/** The flags every digits command reads: --digits, --completions, --steps, --particles, --tds-particles, --clip, --seed, --threads. */
export function digitsRunFlags(flags: Flags) {
  return {
    digits: integerFlag(flags, 'digits', 10, 1, 360),
    completions: integerFlag(flags, 'completions', 8, 1, 10000),
    steps: integerFlag(flags, 'steps', 100, 1, 1000),
    particles: integerFlag(flags, 'particles', 64, 1, 1 << 20),
    tdsParticles: integerFlag(flags, 'tds-particles', 8, 1, 1 << 20),
    clip: flags.has('clip'),
    seed: integerFlag(flags, 'seed', 0, 0, 2 ** 32 - 1),
    threads: integerFlag(flags, 'threads', defaultThreads(), 1, 1024),
  };
}

export interface DigitsSetup {
  set: DigitSet;
  classifier: LinearClassifier;
  /** The caller releases it. */
  model: OnnxScore;
  schedule: Schedule;
}

/**
 * Loads the held-out digits, the classifier and the network (--data, --classifier, --model;
 * default models/) and
 * checks that the network is an 8x8 digits model with a step input and at least `steps` levels.
 */
export async function loadDigitsSetup(flags: Flags, options: { threads: number; clip: boolean; steps: number }): Promise<DigitsSetup> {
  const files = { model: stringFlag(flags, 'model'), classifier: stringFlag(flags, 'classifier'), data: stringFlag(flags, 'data') };
  let set, classifier;
  try {
    set = loadDigitSet(files.data ?? path.join(MODELS_DIR, 'digits-test.json'));
    classifier = LinearClassifier.load(files.classifier ?? path.join(MODELS_DIR, 'digits-classifier.json'));
  } catch (e) {
    if (isErrorNamed(e, 'FileError', 'TypeError', 'RangeError')) throw new UsageError(e.message);
    throw e;
  }
  const model = await OnnxScore.load(files.model ?? path.join(MODELS_DIR, 'digits-eps.onnx'), { threads: options.threads, clipX0: options.clip ? [-1, 1] : false }).catch((e: unknown) => {
    if (isErrorNamed(e, 'MissingDependencyError', 'FileError')) throw new UsageError(e.message);
    throw e;
  });
  try {
    if (model.dim !== DIGIT_DIM || model.trainingSchedule === null) {
      throw new UsageError(`--model must be an 8x8 digits network with a step input (dim 64), got ${String(model)}`);
    }
    const schedule = model.trainingSchedule;
    if (options.steps > schedule.T) throw new UsageError(`--steps must be at most the network's K = ${schedule.T}, got ${options.steps}`);
    return { set, classifier, model, schedule };
  } catch (e) {
    await model.release();
    throw e;
  }
}

/** The picture and JSON outputs of a digits command, checked before anything is loaded. */
export interface DigitsOutputs {
  /** Digits per row group in the picture and completions per method shown. */
  show: number;
  shown: number;
  picture: Output | null;
  json: Output | null;
  /** Where the table goes: stderr when stdout carries a file. */
  text: TextSink;
}

/** --out / --no-picture / --show / --shown / --json, with the picture's default file name. */
export function digitsOutputs(flags: Flags, io: CliIO, defaultPicture: string): DigitsOutputs {
  const picture = !flags.has('no-picture');
  if (!picture && flags.has('out')) throw new UsageError('--out and --no-picture contradict each other');
  const outGiven = stringFlag(flags, 'out') ?? defaultPicture;
  const show = integerFlag(flags, 'show', 2, 0, 360);
  const shown = integerFlag(flags, 'shown', 4, 1, 100);
  const jsonOut = stringFlag(flags, 'json');
  if (picture && jsonOut === '-' && outGiven === '-') throw new UsageError('--out and --json cannot both be - (stdout)');
  const pictureOutput = picture ? prepareOutput(outGiven, io, { flag: '--out', what: 'the PNG picture', stdout: true }) : null;
  const jsonOutput = jsonOut !== undefined ? prepareOutput(jsonOut, io, { flag: '--json', what: 'the JSON table', stdout: true }) : null;
  const text = pictureOutput?.kind === 'stdout' || jsonOutput?.kind === 'stdout' ? io.stderr : io.stdout;
  return { show, shown, picture: pictureOutput, json: jsonOutput, text };
}

/** `count` held-out digits cycling through the classes, and how many the classifier gets right. */
export function heldOutDigits(setup: DigitsSetup, count: number) {
  const { set, classifier } = setup;
  if (count > set.count) throw new UsageError(`--digits must be at most ${set.count} (the held-out split), got ${count}`);
  const chosen = pickDigits(set, count);
  const originals = chosen.map((i) => set.images.subarray(i * DIGIT_DIM, (i + 1) * DIGIT_DIM));
  const labels = chosen.map((i) => set.labels[i]);
  const classes = classifier.classify(Float32Array.from(originals.flatMap((o) => Array.from(o))));
  const originalsRight = classes.reduce((a, c, i) => a + (c === labels[i] ? 1 : 0), 0);
  return { chosen, originals, labels, originalsRight, sourceIndices: chosen.map((i) => set.sourceIndices[i]) };
}

/** The picture's grid: per row an input, `shown` samples of each method, the original. */
export class DigitsGrid<M extends string> {
  private readonly rows: (Float32Array | null)[][] = [];
  private readonly labels: string[] = [];
  constructor(
    private readonly methods: readonly M[],
    private readonly shown: number,
  ) {}

  /** One row: samples[m] holds K x 64 values of method m for this digit. */
  add(label: string, input: Float32Array, samples: ReadonlyMap<M, Float32Array>, original: Float32Array): void {
    const row: (Float32Array | null)[] = [input];
    for (const m of this.methods) {
      const c = samples.get(m)!;
      for (let k = 0; k < Math.min(this.shown, c.length / DIGIT_DIM); k++) row.push(c.subarray(k * DIGIT_DIM, (k + 1) * DIGIT_DIM));
    }
    row.push(original);
    this.rows.push(row);
    this.labels.push(label);
  }

  /** Writes the PNG (if a picture was asked for and a row exists) and says so on `text`. */
  async write(out: DigitsOutputs, io: CliIO, perMethod: number): Promise<void> {
    if (out.picture === null || this.rows.length === 0) return;
    const k = Math.min(this.shown, perMethod);
    const headers = ['input', ...this.methods.flatMap((m) => [m, ...new Array<string>(k - 1).fill('')]), 'original'];
    const groupStarts = [1, ...this.methods.map((_, i) => 1 + (i + 1) * k)];
    let png: Buffer;
    try {
      png = await renderGrid(this.rows, { headers, rowLabels: this.labels, groupStarts });
    } catch (e) {
      if (isErrorNamed(e, 'MissingDependencyError')) throw new UsageError(`${e.message}, or pass --no-picture`);
      throw e;
    }
    await out.picture.write(png, io.signal);
    out.text.write(`wrote ${out.picture.name}\n`);
  }
}

/** The JSON table, if asked for. */
export async function writeJsonTable(out: DigitsOutputs, io: CliIO, table: unknown): Promise<void> {
  if (out.json !== null) await out.json.write(Buffer.from(JSON.stringify(table, null, 1) + '\n'), io.signal);
}
