/**
 * Large host arrays for a run (the particles, the score buffer, a context path). Two costs of
 * fresh memory, both first-touch page faults, are met here:
 * - Reuse. An array a run has finished with is given back (`recycleHost`, only where it is
 *   known dead: never one a caller was handed) and the next run's array that fits it (HostPool)
 *   takes its memory instead of faulting fresh pages in: on this project's 2-vCPU VM a 20 MB
 *   state is ~5000 faults, 7–15 ms of a call's setup with 4 KiB pages and up to ~45 ms with
 *   huge pages from blocks the hypervisor had taken back. Idle memory is bounded
 *   (HOST_POOL_BYTES) and let go after HOST_POOL_IDLE_MS without a take, and none is kept
 *   under CONDIFF_HOST_POOL=off.
 * - Huge pages. A fresh array is first advised (native adviseHugePages) to be backed by
 *   transparent huge pages before anything touches it: on a VM where each 4 KiB page's
 *   first-touch fault costs ~12 µs (measured on a Firecracker VM: ~60 ms for 20 MB) that is
 *   one fault per 2 MiB instead. CONDIFF_HUGE_PAGES=off leaves every array to the system's
 *   defaults.
 * Both only change where the memory comes from: every array is the zeroed (or filled) array
 * `new` makes (hostFloat32Unset's excepted, for callers that write before they read), and
 * every answer is the same either way.
 */
import * as os from 'node:os';
import { native } from './native';

/** Arrays of at least this many bytes are advised and pooled: below two huge pages there is little to gain. */
export const HUGE_PAGE_ADVICE_BYTES = 4 << 20;
/**
 * Idle pooled bytes at most: 1 GiB, or an eighth of the memory the process may use where that
 * is less: the machine's (`total`), or a container's `limit` where one is set (os.totalmem
 * reports the host's inside a container; process.constrainedMemory answers 0, undefined or
 * ~2^64 where there is no limit).
 */
export function hostPoolBytes(total: number, limit: number | undefined): number {
  const available = limit !== undefined && limit > 0 && limit < total ? limit : total;
  return Math.min(1 << 30, Math.floor(available / 8));
}

/** This process's bound (hostPoolBytes). */
export const HOST_POOL_BYTES = hostPoolBytes(os.totalmem(), (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.());
/** Idle pooled memory is let go this long after the last take or give. */
export const HOST_POOL_IDLE_MS = 10_000;

const adviceEnabled = (): boolean => process.env.CONDIFF_HUGE_PAGES !== 'off';
const poolEnabled = (): boolean => process.env.CONDIFF_HOST_POOL !== 'off';

type HostArray = Float32Array | Float64Array | Int32Array;
type HostArrayType<A extends HostArray> = { new (buffer: ArrayBuffer, byteOffset: number, length: number): A; new (length: number): A; BYTES_PER_ELEMENT: number };

/**
 * Idle ArrayBuffers of finished runs, newest last. An array that may be handed to a caller
 * takes only a buffer of exactly its size, so that it spans its whole buffer (`a.buffer`,
 * which a caller may copy or post to a Worker whole, holds nothing of another run's). An
 * array that never leaves the library (hostFloat32Unset) takes the smallest buffer that holds
 * it and is under twice its size (a smaller run does not pin a much larger buffer's memory).
 */
class HostPool {
  private idle: ArrayBuffer[] = [];
  private bytes = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Buffers this module made whole: only these are ever taken back. */
  private readonly ours = new WeakSet<ArrayBuffer>();

  constructor(private readonly limit: number, private readonly idleMs: number) {}

  make<A extends HostArray>(type: HostArrayType<A>, length: number, internal = false): A {
    const bytes = length * type.BYTES_PER_ELEMENT;
    if (bytes < HUGE_PAGE_ADVICE_BYTES) return new type(length);
    const reused = poolEnabled() ? this.take(bytes, internal) : undefined;
    if (reused) {
      this.ours.add(reused);
      const a = new type(reused, 0, length);
      return internal ? a : (a.fill(0) as A);
    }
    const a = new type(length);
    if (adviceEnabled()) native.adviseHugePages(a);
    this.ours.add(a.buffer as ArrayBuffer);
    return a;
  }

  /** Keeps the memory of arrays that nothing will read or write again (see recycleHost). */
  give(arrays: Array<HostArray | null | undefined>): void {
    for (const a of arrays) {
      if (!a) continue;
      const buffer = a.buffer as ArrayBuffer;
      // Only a buffer this module made, given as the array that starts it (the whole buffer
      // goes idle), still attached (a detached one has no bytes) and not already idle.
      if (!this.ours.has(buffer) || a.byteOffset !== 0 || buffer.byteLength < HUGE_PAGE_ADVICE_BYTES) continue;
      this.ours.delete(buffer);
      if (!poolEnabled() || buffer.byteLength > this.limit) continue;
      while (this.bytes + buffer.byteLength > this.limit) this.bytes -= this.idle.shift()!.byteLength;
      this.idle.push(buffer);
      this.bytes += buffer.byteLength;
    }
    this.touch();
  }

  /** Lets every idle buffer go (the collector frees it). */
  clear(): void {
    this.idle = [];
    this.bytes = 0;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  get idleBytes(): number {
    return this.bytes;
  }

  private take(bytes: number, internal: boolean): ArrayBuffer | undefined {
    let best = -1;
    for (let i = 0; i < this.idle.length; i++) {
      const c = this.idle[i].byteLength;
      const fits = internal ? c >= bytes && c < 2 * bytes : c === bytes;
      if (fits && (best < 0 || c < this.idle[best].byteLength)) best = i;
    }
    if (best < 0) return undefined;
    const [buffer] = this.idle.splice(best, 1);
    this.bytes -= buffer.byteLength;
    this.touch();
    return buffer;
  }

  private touch(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.idle.length === 0) return;
    this.timer = setTimeout(() => this.clear(), this.idleMs);
    this.timer.unref();
  }
}

const pool = new HostPool(HOST_POOL_BYTES, HOST_POOL_IDLE_MS);

export const hostFloat32 = (length: number): Float32Array => pool.make(Float32Array, length);
/**
 * For an array that never leaves the library and is written whole before it is read: memory
 * another run used may come back as it was left, not zeroed (zeroing ~100 MB of a context
 * path costs ~12 ms), and on a larger buffer than it asks for.
 */
export const hostFloat32Unset = (length: number): Float32Array => pool.make(Float32Array, length, true);
export const hostInt32 = (length: number): Int32Array => pool.make(Int32Array, length);
/** Filled with `fill` (after the advice: a fill is a first touch). */
export const hostFloat64 = (length: number, fill = 0): Float64Array => {
  const a = pool.make(Float64Array, length);
  return fill === 0 ? a : a.fill(fill);
};

/**
 * Gives the memory of host arrays back for the next run. Call it only for an array that no
 * caller holds and no job still reads or writes: a run's own buffers after the run succeeded
 * (after a failure a job may still be in flight, e.g. an abandoned score call). Arrays this
 * module did not make, views that do not start at their buffer's first byte and small arrays
 * are ignored; an array that does gives its whole buffer back.
 */
export function recycleHost(...arrays: Array<HostArray | null | undefined>): void {
  pool.give(arrays);
}

/** Bytes held idle for the next run (for tests and diagnostics). */
export const hostPoolIdleBytes = (): number => pool.idleBytes;
/** Lets the idle memory go now. */
export const clearHostPool = (): void => pool.clear();
