// Sizes a run needs, checked before anything is allocated: a request past what a typed array
// can hold or past the machine's memory becomes one RangeError naming the arguments that set
// the size and how much memory it would take, instead of V8's "Invalid typed array length" /
// "Array buffer allocation failed" or the kernel's out-of-memory killer part-way through.
import { constants } from 'node:buffer';
import * as os from 'node:os';

/** The most elements one typed array can have in this Node (2^32 on 64-bit Node 20). */
export const MAX_TYPED_ARRAY_LENGTH = constants.MAX_LENGTH;

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes, u = 0;
  while (v >= 1024 && u < units.length - 1) (v /= 1024), u++;
  return `${v.toPrecision(3)} ${units[u]}`;
}

/** One array of a request: what it is (named by the arguments that size it), its elements and bytes per element. */
export interface ArrayNeed {
  what: string;
  elements: number;
  bytesPerElement: number;
}

/**
 * Throws a RangeError when one of `arrays` is longer than a typed array can be, or when all
 * of them together (host memory) exceed the machine's memory. `where` names the call.
 */
export function requireSizes(where: string, arrays: ArrayNeed[], totalMemory = os.totalmem()): void {
  let total = 0;
  for (const a of arrays) {
    if (a.elements > MAX_TYPED_ARRAY_LENGTH) {
      throw new RangeError(
        `${where}: ${a.what} would have ${a.elements} elements (${formatBytes(a.elements * a.bytesPerElement)}), more than a typed array can hold (${MAX_TYPED_ARRAY_LENGTH}): use fewer particles or samples per call`,
      );
    }
    total += a.elements * a.bytesPerElement;
  }
  if (total > totalMemory) {
    const list = arrays.filter((a) => a.elements > 0).map((a) => `${a.what} ${formatBytes(a.elements * a.bytesPerElement)}`).join(', ');
    throw new RangeError(
      `${where}: the run needs ${formatBytes(total)} of memory (${list}), more than this machine's ${formatBytes(totalMemory)}: use fewer particles or samples per call`,
    );
  }
}

/** Runs `allocate`, turning V8's allocation failures into a RangeError naming `what` and its size. */
export function allocating<T>(where: string, what: string, bytes: number, allocate: () => T): T {
  try {
    return allocate();
  } catch (e) {
    if (e instanceof RangeError && /allocation failed|Invalid typed array length|Array buffer/i.test(e.message)) {
      throw new RangeError(`${where}: cannot allocate ${formatBytes(bytes)} for ${what} (${e.message})`);
    }
    throw e;
  }
}
