// Uniforms of the random streams of MATH.md §6 for the draws a chain makes on the host
// (conditional resampling, the final index, backward sampling, Metropolis–Hastings
// acceptances): word `element` of the stream (seed, run, step, purpose word) from the
// native Philox, as a double in [0, 1) (x · 2^-32, MATH.md §6). A function of those words
// alone, so a chain draws the same numbers whatever the batch or thread count.
import { native } from '../native';

export class ChainUniforms {
  private readonly counter = new Uint32Array(4);
  private readonly key: Uint32Array;
  private block = -1;
  private words: Uint32Array = new Uint32Array(4);

  constructor(seed: number, run: number, step: number, purposeWord: number) {
    this.key = Uint32Array.of(seed % 2 ** 32, Math.floor(seed / 2 ** 32));
    this.counter[1] = run;
    this.counter[2] = step;
    this.counter[3] = purposeWord;
  }

  /** The uniform of `element` (elements 4b..4b+3 share Philox block b). */
  at(element: number): number {
    const b = Math.floor(element / 4);
    if (b !== this.block) {
      this.counter[0] = b;
      this.words = native.philox4x32(this.counter, this.key, 10);
      this.block = b;
    }
    return this.words[element % 4] * 2 ** -32;
  }
}

/**
 * Cumulative weights C_k of exp(logW[offset + k] − max), k < n, into c (float64, MATH.md §5),
 * with `exclude` (−1: none) given weight 0. Returns C_{n−1}: 0 when no weight is positive.
 */
export function cumulativeWeights(logW: ArrayLike<number>, offset: number, n: number, c: Float64Array, exclude = -1): number {
  let max = -Infinity;
  for (let k = 0; k < n; k++) if (k !== exclude && logW[offset + k] > max) max = logW[offset + k];
  if (!(max > -Infinity)) return 0;
  let total = 0;
  for (let k = 0; k < n; k++) {
    total += k === exclude ? 0 : Math.exp(logW[offset + k] - max);
    c[k] = total;
  }
  return total;
}

/** The smallest k with C_k > u · C_{n−1} (MATH.md §5): a zero weight never wins, u < 1 never runs past the end. */
export function searchCumulative(c: Float64Array, n: number, u: number): number {
  const target = u * c[n - 1];
  let lo = 0, hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (c[mid] > target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * The index drawn by the uniform u from unnormalised weights exp(logW[offset + k]), k < n,
 * skipping `exclude` (−1: none). Returns −1 when no weight is positive.
 */
export function drawIndex(logW: ArrayLike<number>, offset: number, n: number, u: number, exclude = -1, scratch?: Float64Array): number {
  const c = scratch && scratch.length >= n ? scratch : new Float64Array(n);
  return cumulativeWeights(logW, offset, n, c, exclude) > 0 ? searchCumulative(c, n, u) : -1;
}
