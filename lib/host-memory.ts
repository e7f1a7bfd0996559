/**
 * Large host arrays for a run (the particles, the score buffer, a context path): a typed
 * array as `new` makes it, first advised (native adviseHugePages) to be backed by
 * transparent huge pages before anything touches it. A run's buffers are fresh memory, and
 * on some virtual machines each 4 KiB page's first-touch fault costs ~12 µs (measured on a
 * Firecracker VM: ~60 ms for 20 MB, as long as dozens of filter steps' arithmetic), against
 * one fault per 2 MiB page. Only advice: the contents, and every answer, are the same either
 * way. CONDIFF_HUGE_PAGES=off leaves every array to the system's defaults.
 */
import { native } from './native';

/** Arrays of at least this many bytes are advised: below two huge pages there is little to gain. */
export const HUGE_PAGE_ADVICE_BYTES = 4 << 20;

const enabled = (): boolean => process.env.CONDIFF_HUGE_PAGES !== 'off';

function advised<A extends Float32Array | Float64Array | Int32Array>(a: A): A {
  if (a.byteLength >= HUGE_PAGE_ADVICE_BYTES && enabled()) native.adviseHugePages(a);
  return a;
}

export const hostFloat32 = (length: number): Float32Array => advised(new Float32Array(length));
export const hostInt32 = (length: number): Int32Array => advised(new Int32Array(length));
/** Filled with `fill` after the advice (a fill is a first touch). */
export const hostFloat64 = (length: number, fill = 0): Float64Array => {
  const a = advised(new Float64Array(length));
  return fill === 0 ? a : a.fill(fill);
};
