// condiff/digits: the inpainting demo's application code, a subpath export kept out of the
// library's main entry. Inpainting 8x8 digits with a trained network (models/): the
// held-out digits, masks, the shipped linear classifier, the figures of merit of a set of
// completions, and a PNG grid drawn with sharp (an optional peer dependency, loaded lazily).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Observation, ObservationInput, observations } from './observation';
import { typeError, rangeError, positiveInteger, FileError, MissingDependencyError } from './errors';

export const DIGIT_SIDE = 8;
export const DIGIT_DIM = 64;
/** Pixels 0..16 are scaled to the network's [-1, 1] as x / 8 - 1. */
export const DIGIT_RANGE: readonly [number, number] = [-1, 1];

/** The repository's models/ folder (next to dist/ or lib/). */
export const MODELS_DIR = path.join(__dirname, '..', 'models');

export type MaskKind = 'top' | 'left' | 'random';
export const MASK_KINDS: readonly MaskKind[] = ['top', 'left', 'random'];

/** Held-out digits, scaled to [-1, 1]. */
export interface DigitSet {
  /** n x 64, row-major 8x8 images in [-1, 1]. */
  images: Float32Array;
  labels: Int32Array;
  /** Row indices into sklearn's digits.csv.gz. */
  sourceIndices: Int32Array;
  count: number;
}

function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FileError(file, `cannot read the ${what} ${JSON.stringify(file)}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FileError(file, `the ${what} ${JSON.stringify(file)} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** Reads models/digits-test.json (the held-out split written by tools/train_digits.py). */
export function loadDigitSet(file = path.join(MODELS_DIR, 'digits-test.json')): DigitSet {
  const json = readJsonFile(file, 'digit set') as { images?: unknown; labels?: unknown; testIndices?: unknown };
  const images = json.images, labels = json.labels, idx = json.testIndices;
  if (!Array.isArray(images) || !Array.isArray(labels) || !Array.isArray(idx) || images.length !== labels.length || idx.length !== labels.length) {
    throw new FileError(file, `the digit set ${JSON.stringify(file)} must hold "images", "labels" and "testIndices" arrays of equal length`);
  }
  const n = images.length;
  const out = new Float32Array(n * DIGIT_DIM);
  images.forEach((img, i) => {
    if (!Array.isArray(img) || img.length !== DIGIT_DIM) throw new FileError(file, `the digit set ${JSON.stringify(file)}: image ${i} must hold 64 pixels`);
    img.forEach((v, j) => {
      if (typeof v !== 'number' || !(v >= 0 && v <= 16)) throw new FileError(file, `the digit set ${JSON.stringify(file)}: image ${i} pixel ${j} must be in 0..16, got ${v}`);
      out[i * DIGIT_DIM + j] = v / 8 - 1;
    });
  });
  return { images: out, labels: Int32Array.from(labels as number[]), sourceIndices: Int32Array.from(idx as number[]), count: n };
}

/** Picks `count` digits cycling through the classes 0..9 (the first unused image of each), in test-split order. */
export function pickDigits(set: DigitSet, count: number): number[] {
  positiveInteger('count', count, set.count);
  const used = new Uint8Array(set.count);
  const out: number[] = [];
  for (let round = 0; out.length < count; round++) {
    const label = round % 10;
    let found = -1;
    for (let i = 0; i < set.count; i++) {
      if (!used[i] && set.labels[i] === label) {
        found = i;
        break;
      }
    }
    if (found < 0) {
      for (let i = 0; i < set.count && found < 0; i++) if (!used[i]) found = i;
    }
    used[found] = 1;
    out.push(found);
  }
  return out;
}

/** A small counter-based generator (splitmix32) for masks: the same seed gives the same mask. */
function splitmix(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 2 ** 32;
  };
}

/**
 * The observed pixels (1) of an 8x8 image: 'top' observes the bottom half (the top half
 * is hidden), 'left' the right half, 'random' exactly 32 pixels chosen by `seed`.
 */
export function digitMask(kind: MaskKind, seed = 0): Uint8Array {
  const m = new Uint8Array(DIGIT_DIM);
  for (let i = 0; i < DIGIT_DIM; i++) {
    const r = Math.floor(i / DIGIT_SIDE), c = i % DIGIT_SIDE;
    if (kind === 'top') m[i] = r >= DIGIT_SIDE / 2 ? 1 : 0;
    else if (kind === 'left') m[i] = c >= DIGIT_SIDE / 2 ? 1 : 0;
  }
  if (kind === 'random') {
    const order = Array.from({ length: DIGIT_DIM }, (_, i) => i);
    const rnd = splitmix(seed);
    for (let i = DIGIT_DIM - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let i = 0; i < DIGIT_DIM / 2; i++) m[order[i]] = 1;
  } else if (kind !== 'top' && kind !== 'left') {
    throw rangeError('mask', "one of 'top', 'left', 'random'", kind);
  }
  return m;
}

/** The observation of a masked image: its observed pixels and their values. */
export function maskedObservation(image: Float32Array, mask: Uint8Array): Observation {
  const indices: number[] = [], values: number[] = [];
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) {
      indices.push(i);
      values.push(image[i]);
    }
  }
  return { indices, values };
}

/** Standard normal draws from splitmix32 by Box–Muller: the same seed gives the same noise. */
function gaussians(n: number, seed: number): Float64Array {
  const u = splitmix(seed), out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u())), a = 2 * Math.PI * u();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

/** A restoration problem's observation, and its input drawn as an 8x8 image (NaN: unobserved). */
export interface Degraded {
  observed: ObservationInput;
  input: Float32Array;
}

/**
 * Noisy inpainting: the observed pixels of `mask`, each plus noiseStd·ε (ε from `seed`); the
 * observation `{ indices, values, noiseStd }` (the sampler estimates the observed pixels too).
 */
export function noisyMaskObservation(image: Float32Array, mask: Uint8Array, noiseStd: number, seed: number): Degraded {
  if (!(noiseStd >= 0) || !Number.isFinite(noiseStd)) throw rangeError('noiseStd', 'a non-negative finite number', noiseStd);
  const eps = gaussians(image.length, seed);
  const indices: number[] = [], values: number[] = [];
  const input = new Float32Array(image.length).fill(NaN);
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const v = image[i] + noiseStd * eps[i];
    indices.push(i);
    values.push(v);
    input[i] = v;
  }
  return { observed: noiseStd > 0 ? { indices, values, noiseStd } : { indices, values }, input };
}

/**
 * Super-resolution: the image's factor x factor block means (8x8 to 8/factor square) plus
 * noiseStd·ε (ε from `seed`), as observations.averagePool; the input drawn with each block's
 * observed mean in its pixels.
 */
export function pooledObservation(image: Float32Array, factor: number, noiseStd: number, seed: number): Degraded {
  positiveInteger('factor', factor);
  if (DIGIT_SIDE % factor !== 0) throw rangeError('factor', `a divisor of ${DIGIT_SIDE}`, factor);
  if (!(noiseStd >= 0) || !Number.isFinite(noiseStd)) throw rangeError('noiseStd', 'a non-negative finite number', noiseStd);
  const side = DIGIT_SIDE / factor;
  const eps = gaussians(side * side, seed);
  const y = new Float64Array(side * side);
  for (let a = 0; a < DIGIT_SIDE; a++) for (let b = 0; b < DIGIT_SIDE; b++) y[Math.floor(a / factor) * side + Math.floor(b / factor)] += image[a * DIGIT_SIDE + b] / (factor * factor);
  for (let k = 0; k < y.length; k++) y[k] += noiseStd * eps[k];
  const input = new Float32Array(DIGIT_DIM);
  for (let a = 0; a < DIGIT_SIDE; a++) for (let b = 0; b < DIGIT_SIDE; b++) input[a * DIGIT_SIDE + b] = y[Math.floor(a / factor) * side + Math.floor(b / factor)];
  return { observed: observations.averagePool({ height: DIGIT_SIDE, width: DIGIT_SIDE, channels: 1, factor }, Array.from(y), noiseStd), input };
}

/** Figures of merit of K restorations of one image, over every pixel. */
export interface RestorationStats {
  /** Mean squared error over pixels and restorations, in the [-1, 1] scale. */
  mse: number;
  /** Variance across restorations, averaged over pixels (its square root is the spread). */
  variance: number;
  /** Restorations the classifier puts in the original's class. */
  agree: number;
  completions: number;
  maxAbs: number;
  nonFinite: number;
}

export function restorationStats(samples: Float32Array, original: Float32Array, label: number, classifier: LinearClassifier): RestorationStats {
  const all = new Uint8Array(original.length);
  const st = completionStats(samples, original, all, label, classifier);
  return { mse: st.mse, variance: st.variance, agree: st.agree, completions: st.completions, maxAbs: st.maxAbs, nonFinite: st.nonFinite };
}

/** A multinomial logistic regression shipped as JSON (models/digits-classifier.json). */
export class LinearClassifier {
  private constructor(
    readonly classes: Int32Array,
    /** classes x dim */
    readonly coef: Float64Array,
    readonly intercept: Float64Array,
    readonly dim: number,
  ) {}

  static fromJSON(json: unknown): LinearClassifier {
    const j = json as { classes?: unknown; coef?: unknown; intercept?: unknown };
    if (typeof j !== 'object' || j === null || !Array.isArray(j.classes) || !Array.isArray(j.coef) || !Array.isArray(j.intercept)) {
      throw typeError('classifier', 'an object with classes, coef and intercept arrays', json);
    }
    const C = j.classes.length;
    if (C < 2 || j.coef.length !== C || j.intercept.length !== C) throw rangeError('classifier', `${C} rows of coef and intercepts (one per class)`, json);
    const dim = (j.coef[0] as unknown[]).length;
    const coef = new Float64Array(C * dim);
    (j.coef as unknown[][]).forEach((row, c) => {
      if (!Array.isArray(row) || row.length !== dim) throw rangeError(`classifier.coef[${c}]`, `an array of ${dim} numbers`, row);
      row.forEach((v, k) => (coef[c * dim + k] = Number(v)));
    });
    return new LinearClassifier(Int32Array.from(j.classes as number[]), coef, Float64Array.from(j.intercept as number[]), dim);
  }

  static load(file = path.join(MODELS_DIR, 'digits-classifier.json')): LinearClassifier {
    return LinearClassifier.fromJSON(readJsonFile(file, 'classifier'));
  }

  /** The most likely class of each row (rows x dim). */
  classify(rows: Float32Array): Int32Array {
    const D = this.dim, C = this.classes.length;
    if (rows.length % D !== 0) throw rangeError('rows.length', `a multiple of ${D}`, rows.length);
    const n = rows.length / D;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0, bestScore = -Infinity;
      for (let c = 0; c < C; c++) {
        let s = this.intercept[c];
        for (let k = 0; k < D; k++) s += this.coef[c * D + k] * rows[i * D + k];
        if (s > bestScore) {
          bestScore = s;
          best = c;
        }
      }
      out[i] = this.classes[best];
    }
    return out;
  }
}

/** Figures of merit of K completions of one image. */
export interface CompletionStats {
  /** Mean squared error over the hidden pixels and completions, in the [-1, 1] scale. */
  mse: number;
  /** Variance across completions, averaged over the hidden pixels (its square root is the spread). */
  variance: number;
  /** Completions the classifier puts in the original's class. */
  agree: number;
  completions: number;
  /** Observed pixels that differ from the observation (should be 0), and the largest |value| of any pixel. */
  observedMismatches: number;
  maxAbs: number;
  nonFinite: number;
}

export function completionStats(completions: Float32Array, original: Float32Array, mask: Uint8Array, label: number, classifier: LinearClassifier): CompletionStats {
  const D = original.length;
  const K = completions.length / D;
  let se = 0, hidden = 0, variance = 0, mismatches = 0, maxAbs = 0, nonFinite = 0;
  for (let i = 0; i < D; i++) {
    if (mask[i]) {
      for (let k = 0; k < K; k++) if (completions[k * D + i] !== original[i]) mismatches++;
      continue;
    }
    hidden++;
    let mean = 0;
    for (let k = 0; k < K; k++) mean += completions[k * D + i];
    mean /= K;
    for (let k = 0; k < K; k++) {
      const v = completions[k * D + i];
      se += (v - original[i]) ** 2;
      variance += (v - mean) ** 2 / Math.max(1, K - 1);
    }
  }
  for (const v of completions) {
    if (!Number.isFinite(v)) nonFinite++;
    else if (Math.abs(v) > maxAbs) maxAbs = Math.abs(v);
  }
  const classes = classifier.classify(completions);
  let agree = 0;
  for (const c of classes) if (c === label) agree++;
  return { mse: se / (hidden * K), variance: variance / hidden, agree, completions: K, observedMismatches: mismatches, maxAbs, nonFinite };
}

// ---------------------------------------------------------------------------------------
// PNG grid

interface SharpModule {
  (input: Buffer, options: { raw: { width: number; height: number; channels: 1 | 3 | 4 } }): {
    composite(images: { input: Buffer; top: number; left: number }[]): { png(): { toFile(file: string): Promise<unknown>; toBuffer(): Promise<Buffer> } };
    png(): { toFile(file: string): Promise<unknown>; toBuffer(): Promise<Buffer> };
  };
}

function loadSharp(): SharpModule {
  try {
    return require('sharp') as SharpModule;
  } catch (e) {
    throw new MissingDependencyError(
      'sharp',
      `writing PNG images needs the optional peer dependency sharp, and it ${(e as NodeJS.ErrnoException)?.code === 'MODULE_NOT_FOUND' ? 'is not installed' : `failed to load: ${(e as Error)?.message}`}. Install it with: npm install sharp`,
      { cause: e },
    );
  }
}

export interface GridOptions {
  /** Screen pixels per image pixel (default 5). */
  scale?: number;
  /** Gap between cells (default 2 screen pixels) and extra gap before the columns in `groupStarts`. */
  gap?: number;
  groupStarts?: number[];
  /** Column headers (one per column, '' for none) and row labels, drawn as SVG text above / left of the grid. */
  headers?: string[];
  rowLabels?: string[];
  /** Value range mapped to black..white (default [-1, 1]); values outside are clipped for display only. */
  range?: readonly [number, number];
}

/**
 * Renders rows of 8x8 images (null: an empty cell) into a grayscale PNG. Hidden pixels of
 * a masked input can be given as NaN: they are drawn in a mid blue.
 */
export async function renderGrid(cells: (Float32Array | null)[][], options: GridOptions = {}): Promise<Buffer> {
  const sharp = loadSharp();
  const scale = options.scale ?? 5, gap = options.gap ?? 2;
  const [lo, hi] = options.range ?? DIGIT_RANGE;
  const cols = Math.max(...cells.map((r) => r.length));
  const groupStarts = new Set(options.groupStarts ?? []);
  const cell = DIGIT_SIDE * scale;
  const headerH = options.headers ? 16 : 0;
  // About 7 screen pixels per character of the 11 px labels.
  const labelW = options.rowLabels ? Math.max(76, 7 * Math.max(0, ...options.rowLabels.map((l) => l.length)) + 6) : 0;
  const colX: number[] = [];
  let x = labelW + gap;
  for (let c = 0; c < cols; c++) {
    if (groupStarts.has(c) && c > 0) x += 3 * gap;
    colX.push(x);
    x += cell + gap;
  }
  const width = x, height = headerH + gap + cells.length * (cell + gap);
  const rgb = Buffer.alloc(width * height * 3, 255);
  cells.forEach((row, r) => {
    row.forEach((img, c) => {
      if (img === null) return;
      const x0 = colX[c], y0 = headerH + gap + r * (cell + gap);
      for (let i = 0; i < DIGIT_DIM; i++) {
        const v = img[i];
        let color: [number, number, number];
        if (Number.isNaN(v)) color = [70, 110, 200];
        else {
          const g = Math.round(255 * Math.min(1, Math.max(0, (v - lo) / (hi - lo))));
          color = [g, g, g];
        }
        const py = y0 + Math.floor(i / DIGIT_SIDE) * scale, px = x0 + (i % DIGIT_SIDE) * scale;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const o = ((py + dy) * width + px + dx) * 3;
            rgb[o] = color[0];
            rgb[o + 1] = color[1];
            rgb[o + 2] = color[2];
          }
        }
      }
    });
  });
  const base = sharp(rgb, { raw: { width, height, channels: 3 } });
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const texts: string[] = [];
  options.headers?.forEach((h, c) => {
    if (h && c < cols) texts.push(`<text x="${colX[c]}" y="12" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">${esc(h)}</text>`);
  });
  options.rowLabels?.forEach((l, r) => {
    const y = headerH + gap + r * (cell + gap) + cell / 2 + 4;
    texts.push(`<text x="2" y="${y}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">${esc(l)}</text>`);
  });
  if (texts.length === 0) return base.png().toBuffer();
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${texts.join('')}</svg>`);
  return base.composite([{ input: svg, top: 0, left: 0 }]).png().toBuffer();
}
