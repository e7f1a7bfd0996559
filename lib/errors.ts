// One error vocabulary: what was expected, what was received, and where. Bad arguments are
// TypeError / RangeError, a cancelled run an AbortError, and the two named classes below a
// missing optional package or an unreadable file; callers tell them apart by `name`.
export function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an Array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as { length: number }).length}`;
  return 'an object';
}

/**
 * What a class's factory passes its private constructor. TypeScript keeps its own callers
 * from `new`, not JavaScript's, whose `new GaussianMixture(spec)` would otherwise fail
 * deep inside on a missing field; requireFactory refuses it naming the factory.
 */
export const FACTORY: unique symbol = Symbol('condiff factory');

export function requireFactory(token: unknown, cls: string, factory: string): void {
  if (token !== FACTORY) throw new TypeError(`${cls} is not built with new: use ${factory}`);
}

export function typeError(name: string, expected: string, got: unknown): TypeError {
  return new TypeError(`${name} must be ${expected}, got ${describe(got)}`);
}

export function rangeError(name: string, expected: string, got: unknown): RangeError {
  return new RangeError(`${name} must be ${expected}, got ${describe(got)}`);
}

export function positiveInteger(name: string, value: unknown, max = 2 ** 31 - 1): number {
  if (typeof value !== 'number') throw typeError(name, 'a positive integer', value);
  if (!Number.isInteger(value) || value < 1 || value > max) throw rangeError(name, `a positive integer (at most ${max})`, value);
  return value;
}

export function nonNegativeInteger(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number') throw typeError(name, 'a non-negative integer', value);
  if (!Number.isInteger(value) || value < 0 || value > max) throw rangeError(name, `a non-negative integer (at most ${max})`, value);
  return value;
}

export function finiteNumber(name: string, value: unknown): number {
  if (typeof value !== 'number') throw typeError(name, 'a finite number', value);
  if (!Number.isFinite(value)) throw rangeError(name, 'a finite number', value);
  return value;
}

export function positiveNumber(name: string, value: unknown): number {
  const v = finiteNumber(name, value);
  if (!(v > 0)) throw rangeError(name, 'a positive number', value);
  return v;
}

export function oneOf<T extends string>(name: string, value: unknown, options: readonly T[]): T {
  if (typeof value !== 'string' || !options.includes(value as T)) {
    throw (typeof value === 'string' ? rangeError : typeError)(name, `one of ${options.map((o) => `'${o}'`).join(', ')}`, value);
  }
  return value as T;
}

/** The error an aborted run rejects with (same name as fetch's, so `err.name === 'AbortError'`). */
export function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  // By name, not instanceof: the reason may come from another realm (vm, jest).
  if (isErrorNamed(reason, 'AbortError')) return reason;
  const err = new Error(`the operation was aborted${reason !== undefined ? `: ${String(reason)}` : ''}`);
  err.name = 'AbortError';
  return err;
}

/**
 * Whether `e` is an Error with one of these names. By name, not instanceof: the addon's
 * errors and those of a vm context (jest) come from another realm's constructors.
 */
export function isErrorNamed(e: unknown, ...names: string[]): e is Error {
  return typeof e === 'object' && e !== null && names.includes((e as Error).name) && typeof (e as Error).message === 'string';
}

/**
 * An optional peer dependency (onnxruntime-node, sharp, vega) is not installed or does not
 * load; the message says what to install.
 */
export class MissingDependencyError extends Error {
  constructor(
    readonly dependency: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'MissingDependencyError';
  }
}

/** A file the caller named cannot be read, or does not hold what it should; `path` names it. */
export class FileError extends Error {
  constructor(
    readonly path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'FileError';
  }
}
