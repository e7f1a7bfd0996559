// Public building blocks for users composing their own SMC (MATH.md §5): resampling and
// row gathering, each with an optional preallocated `out` so hot loops allocate nothing.
import { native } from './native';
import { typeError, positiveInteger, nonNegativeInteger, oneOf } from './errors';
import { ResamplingScheme, RESAMPLING_SCHEMES } from './driver';
import { threadsOption } from './threads';
import { selectBackend, BackendName } from './backend';
import { optionsOf } from './options';

const BLOCK_KEYS = ['threads', 'backend'];
const IN_PLACE_KEYS = ['order', 'threads'];

/** Options of the building blocks: where they run ('auto': CUDA when available, same ancestors and rows). */
export interface BlockOptions {
  backend?: BackendName;
}

export interface RandomCounter {
  /** Seed (key of MATH.md §6). */
  seed: number;
  /** Your loop's counter (e.g. the step): different counters give independent draws. */
  counter: number;
  /** Optional run index, for several independent streams under one seed. Default 0. */
  run?: number;
}

function resampleArgs(logWeights: unknown, scheme: unknown, rng: unknown, out: unknown) {
  if (!(logWeights instanceof Float64Array)) throw typeError('logWeights', 'a Float64Array', logWeights);
  const code = native.codes.schemes[oneOf('scheme', scheme, RESAMPLING_SCHEMES)];
  if (typeof rng !== 'object' || rng === null) throw typeError('rng', 'an object { seed, counter }', rng);
  const r = rng as RandomCounter;
  const stream = {
    seed: nonNegativeInteger('rng.seed', r.seed),
    step: nonNegativeInteger('rng.counter', r.counter, 2 ** 32 - 1),
    run: nonNegativeInteger('rng.run', r.run ?? 0, 2 ** 32 - 1),
    purpose: native.purposes.user,
  };
  const target = out === undefined ? new Int32Array(logWeights.length) : out;
  if (!(target instanceof Int32Array)) throw typeError('out', 'an Int32Array', out);
  return { code, stream, target };
}

/**
 * Resamples N log-weights into N ancestor indices (MATH.md §5): exact 64-bit fixed-point CDF
 * (§5b), O(N), never a zero-weight ancestor; the same ancestors on every backend.
 * Synchronous: for N beyond ~10^6 prefer resampleAsync. `threads` (default: every core)
 * splits the passes over the weights and the systematic/stratified sweep into fixed
 * blocks; the ancestors do not depend on it.
 */
export function resample(
  logWeights: Float64Array,
  scheme: ResamplingScheme,
  rng: RandomCounter,
  out?: Int32Array,
  given?: { threads?: number } & BlockOptions,
): Int32Array {
  const options = optionsOf('resample', given, BLOCK_KEYS);
  const { code, stream, target } = resampleArgs(logWeights, scheme, rng, out);
  selectBackend(options.backend ?? 'auto').userOps.resample(logWeights, code, stream, target, threadsOption(options.threads));
  return target;
}

/** resample, off the event loop. The arrays must not be transferred until it settles. */
export async function resampleAsync(
  logWeights: Float64Array,
  scheme: ResamplingScheme,
  rng: RandomCounter,
  out?: Int32Array,
  given?: { threads?: number } & BlockOptions,
): Promise<Int32Array> {
  const options = optionsOf('resampleAsync', given, BLOCK_KEYS);
  const { code, stream, target } = resampleArgs(logWeights, scheme, rng, out);
  await selectBackend(options.backend ?? 'auto').userOps.resampleAsync(logWeights, code, stream, target, threadsOption(options.threads));
  return target;
}

function gatherArgs(rows: unknown, dim: unknown, ancestors: unknown, out: unknown) {
  if (!(rows instanceof Float32Array)) throw typeError('rows', 'a Float32Array', rows);
  const d = positiveInteger('dim', dim);
  if (!(ancestors instanceof Int32Array)) throw typeError('ancestors', 'an Int32Array', ancestors);
  const target = out === undefined ? new Float32Array(ancestors.length * d) : out;
  if (!(target instanceof Float32Array)) throw typeError('out', 'a Float32Array', out);
  return { d, target };
}

/** out[i] = rows[ancestors[i]] for rows of `dim` floats. */
export function gatherRows(rows: Float32Array, dim: number, ancestors: Int32Array, out?: Float32Array, given?: { threads?: number } & BlockOptions): Float32Array {
  const options = optionsOf('gatherRows', given, BLOCK_KEYS);
  const { d, target } = gatherArgs(rows, dim, ancestors, out);
  selectBackend(options.backend ?? 'auto').userOps.gatherRows(rows, d, ancestors, target, threadsOption(options.threads));
  return target;
}

/** gatherRows, off the event loop. */
export async function gatherRowsAsync(rows: Float32Array, dim: number, ancestors: Int32Array, out?: Float32Array, given?: { threads?: number } & BlockOptions): Promise<Float32Array> {
  const options = optionsOf('gatherRowsAsync', given, BLOCK_KEYS);
  const { d, target } = gatherArgs(rows, dim, ancestors, out);
  await selectBackend(options.backend ?? 'auto').userOps.gatherRowsAsync(rows, d, ancestors, target, threadsOption(options.threads));
  return target;
}

/** Options of gatherRowsInPlace: `order` receives where each particle went. */
export interface InPlaceOptions {
  /**
   * Receives the survivor order: rows[i] is now the old rows[order[i]]. Length N. It is also
   * the call's scratch: without it each call allocates N int32s.
   */
  order?: Int32Array;
  threads?: number;
}

function inPlaceArgs(rows: unknown, dim: unknown, ancestors: unknown, options: Partial<InPlaceOptions>) {
  if (!(rows instanceof Float32Array)) throw typeError('rows', 'a Float32Array', rows);
  const d = positiveInteger('dim', dim);
  if (!(ancestors instanceof Int32Array)) throw typeError('ancestors', 'an Int32Array', ancestors);
  const order = options.order === undefined ? new Int32Array(ancestors.length) : options.order;
  if (!(order instanceof Int32Array)) throw typeError('order', 'an Int32Array', options.order);
  return { d, order, threads: threadsOption(options.threads) };
}

/**
 * Resamples N rows in place: afterwards the rows are the population gatherRows would give
 * for `ancestors` (the same multiset of particles), but every particle that survives keeps
 * its row and only the rows of particles that died are overwritten, by the extra copies.
 * `options.order` (optional) receives which old row each row now holds: order[k] = k for
 * every survivor k. Ancestors may come in any order (every resampling scheme works).
 * About half the memory traffic of gatherRows into a second buffer; no second state. CPU only.
 */
export function gatherRowsInPlace(rows: Float32Array, dim: number, ancestors: Int32Array, options?: InPlaceOptions): Float32Array {
  const { d, order, threads } = inPlaceArgs(rows, dim, ancestors, optionsOf('gatherRowsInPlace', options, IN_PLACE_KEYS));
  native.gatherRowsInPlace(rows, d, ancestors, order, threads);
  return rows;
}

/** gatherRowsInPlace, off the event loop. The arrays must not be transferred until it settles. */
export async function gatherRowsInPlaceAsync(rows: Float32Array, dim: number, ancestors: Int32Array, options?: InPlaceOptions): Promise<Float32Array> {
  const { d, order, threads } = inPlaceArgs(rows, dim, ancestors, optionsOf('gatherRowsInPlaceAsync', options, IN_PLACE_KEYS));
  await native.gatherRowsInPlaceAsync(rows, d, ancestors, order, threads);
  return rows;
}
