// Distance to the exact posterior (MATH.md §7): sliced Wasserstein-2 and its noise floor.
import { native } from './native';
import { positiveInteger, nonNegativeInteger, typeError, rangeError } from './errors';
import { GaussianMixture } from './mixture';
import { ObservationInput } from './observation';
import { optionsOf } from './options';

const SLICED_KEYS = ['directions', 'seed', 'coordinates'];

export interface SlicedOptions {
  /** Random unit directions L (default 128). */
  directions?: number;
  /** Seed of the directions (default 0). Compare methods with the same seed. */
  seed?: number;
  /** Restrict to these coordinates (e.g. the latent ones); default all. */
  coordinates?: ArrayLike<number>;
}

/** Unit directions, L x k, from Philox normals (purpose 'user' index 1, apart from resample()'s index 0). */
async function directions(count: number, k: number, seed: number): Promise<Float64Array> {
  const raw = new Float32Array(count * k);
  await native.normals(raw, { seed, run: 0, step: 0, purpose: native.purposes.user, index: 1 }, 0, 1);
  const out = new Float64Array(count * k);
  for (let l = 0; l < count; l++) {
    let norm = 0;
    for (let j = 0; j < k; j++) norm += raw[l * k + j] ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < k; j++) out[l * k + j] = raw[l * k + j] / norm;
  }
  return out;
}

/**
 * SW_2 between two equal-size samples (rows of `dim`): (mean over directions of the 1-D
 * W_2^2 of the projections)^{1/2}, where 1-D W_2^2 is the mean squared difference of the
 * sorted values (MATH.md §7).
 */
export async function slicedWasserstein(a: Float32Array, b: Float32Array, dim: number, given?: SlicedOptions): Promise<number> {
  const options = optionsOf('slicedWasserstein', given, SLICED_KEYS);
  if (!(a instanceof Float32Array)) throw typeError('a', 'a Float32Array', a);
  if (!(b instanceof Float32Array)) throw typeError('b', 'a Float32Array', b);
  positiveInteger('dim', dim);
  if (a.length % dim !== 0 || a.length === 0) throw rangeError('a.length', `a positive multiple of dim ${dim}`, a.length);
  if (b.length !== a.length) throw rangeError('b.length', `a.length = ${a.length} (equal sample sizes)`, b.length);
  const L = positiveInteger('directions', options.directions ?? 128);
  const seed = nonNegativeInteger('seed', options.seed ?? 0);
  const coords = options.coordinates ? Array.from(options.coordinates) : Array.from({ length: dim }, (_, i) => i);
  coords.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c >= dim) throw rangeError(`coordinates[${i}]`, `an integer in [0, ${dim})`, c);
  });
  const n = a.length / dim, k = coords.length;
  const dirs = await directions(L, k, seed);
  const pa = new Float64Array(n), pb = new Float64Array(n);
  let total = 0;
  for (let l = 0; l < L; l++) {
    for (let i = 0; i < n; i++) {
      let sa = 0, sb = 0;
      for (let j = 0; j < k; j++) {
        const w = dirs[l * k + j];
        sa += w * a[i * dim + coords[j]];
        sb += w * b[i * dim + coords[j]];
      }
      pa[i] = sa;
      pb[i] = sb;
    }
    pa.sort();
    pb.sort();
    let w2 = 0;
    for (let i = 0; i < n; i++) w2 += (pa[i] - pb[i]) ** 2;
    total += w2 / n;
  }
  return Math.sqrt(total / L);
}

export interface NoiseFloor {
  /** The chosen quantile of the exact-vs-exact distances. */
  floor: number;
  quantile: number;
  replicates: number[];
}

/**
 * The noise floor of SW_2 at sample size n: a high quantile of `replicates` (>= 50)
 * distances between two independent exact samples (MATH.md §7), never a single draw.
 */
export async function noiseFloor(
  model: GaussianMixture,
  observed: ObservationInput,
  n: number,
  given?: SlicedOptions & { replicates?: number; quantile?: number; exactSeed?: number; threads?: number },
): Promise<NoiseFloor> {
  const options = optionsOf('noiseFloor', given, [...SLICED_KEYS, 'replicates', 'quantile', 'exactSeed', 'threads']);
  const R = positiveInteger('replicates', options.replicates ?? 50);
  const q = options.quantile ?? 0.95;
  if (typeof q !== 'number') throw typeError('quantile', 'a number in (0, 1)', q);
  if (!(q > 0 && q < 1)) throw rangeError('quantile', 'a number in (0, 1)', q);
  const seed = nonNegativeInteger('exactSeed', options.exactSeed ?? 1000);
  const reps: number[] = [];
  for (let r = 0; r < R; r++) {
    const a = await model.sampleExact(observed, n, { seed, run: 2 * r, threads: options.threads });
    const b = await model.sampleExact(observed, n, { seed, run: 2 * r + 1, threads: options.threads });
    reps.push(await slicedWasserstein(a, b, model.dim, { directions: options.directions, seed: options.seed, coordinates: options.coordinates }));
  }
  const sorted = [...reps].sort((x, y) => x - y);
  return { floor: sorted[Math.min(R - 1, Math.ceil(q * R) - 1)], quantile: q, replicates: reps };
}
