// Helpers for the error tests: catching what a call throws or a promise rejects with, and
// comparing it by `name` and message. Addon errors come from another realm (jest runs each
// file in a vm context), so errors are compared by name, never with instanceof or
// toThrow(TypeError).
import { expect } from '@jest/globals';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

export type ErrorName = 'TypeError' | 'RangeError' | 'Error' | 'AbortError';

export function caught(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the call to throw, but it returned normally');
}

export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

export function expectError(err: Error, name: ErrorName, message: RegExp): void {
  expect({ name: err.name, message: err.message }).toEqual({ name, message: expect.stringMatching(message) });
}

export function throwsWith(f: () => unknown, name: ErrorName, message: RegExp): Error {
  const err = caught(f);
  expectError(err, name, message);
  return err;
}

export async function rejectsWith(p: Promise<unknown>, name: ErrorName, message: RegExp): Promise<Error> {
  const err = await rejection(p);
  expectError(err, name, message);
  return err;
}

/** A function called with arguments its declared type forbids. */
export type Loose = (...args: unknown[]) => unknown;

/** Transfers the backing store to a new owner: the old views become detached (length 0). */
export function detach(buffer: ArrayBufferLike): ArrayBuffer {
  return structuredClone(buffer as ArrayBuffer, { transfer: [buffer as ArrayBuffer] });
}

/** The garbage collector, exposed for this process if V8 allows it; undefined otherwise. */
export function getGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    const f = vm.runInNewContext('gc') as unknown;
    return typeof f === 'function' ? (f as () => void) : undefined;
  } catch {
    return undefined;
  }
}
