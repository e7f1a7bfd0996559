// The conditioning: which coordinates are observed (Y) and their values.
import { typeError, rangeError } from './errors';

export interface Observation {
  /** Observed coordinates, distinct, each in [0, D). */
  indices: ArrayLike<number>;
  /** Their values, one per index. */
  values: ArrayLike<number>;
}

export interface NormalizedObservation {
  indices: Int32Array;
  values: Float32Array;
  latent: Int32Array;
}

export function normalizeObservation(observed: unknown, dim: number): NormalizedObservation {
  if (typeof observed !== 'object' || observed === null) throw typeError('observed', 'an object { indices, values }', observed);
  const o = observed as Record<string, unknown>;
  const idx = o.indices as ArrayLike<number> | undefined;
  const vals = o.values as ArrayLike<number> | undefined;
  if (idx === undefined || typeof idx !== 'object' || typeof idx.length !== 'number') throw typeError('observed.indices', 'an array of integers', idx);
  if (vals === undefined || typeof vals !== 'object' || typeof vals.length !== 'number') throw typeError('observed.values', 'an array of numbers', vals);
  if (idx.length !== vals.length) {
    throw new RangeError(`observed.values must have one value per index (${idx.length}), got ${vals.length}`);
  }
  if (idx.length >= dim) throw rangeError('observed.indices', `fewer than D = ${dim} indices (something must be unobserved)`, idx);
  const indices = new Int32Array(idx.length);
  const values = new Float32Array(idx.length);
  const seen = new Uint8Array(dim);
  for (let i = 0; i < idx.length; i++) {
    const k = idx[i];
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= dim) throw rangeError(`observed.indices[${i}]`, `an integer in [0, ${dim})`, k);
    if (seen[k]) throw new RangeError(`observed.indices must be distinct, got index ${k} twice`);
    seen[k] = 1;
    indices[i] = k;
    const v = vals[i];
    // Finite as float32 too: 1e39 would become Infinity in the Float32Array.
    if (typeof v !== 'number' || !Number.isFinite(Math.fround(v))) throw rangeError(`observed.values[${i}]`, 'a finite float32 number', v);
    values[i] = v;
  }
  const latent = new Int32Array(dim - idx.length);
  for (let k = 0, j = 0; k < dim; k++) if (!seen[k]) latent[j++] = k;
  return { indices, values, latent };
}
