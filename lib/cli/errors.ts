// The command line's errors: a UsageError is the user's mistake (one line on stderr, exit
// status 2), an OutputError a result that could not be written (one line, exit status 1);
// the library's bad-input errors (TypeError / RangeError, told apart by name, see
// lib/errors.ts) met while running a command become UsageErrors.
import { isErrorNamed } from '../errors';

/** A mistake in the command line or its input files: one line on stderr, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * The output could not be written after the work was done (a full disk, a closed pipe):
 * one line on stderr, exit status 1. Problems found before the work are UsageErrors.
 */
export class OutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputError';
  }
}

/** Runs `fn`, turning the library's TypeError/RangeError (bad input) into a UsageError. */
export function userInput<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (isErrorNamed(e, 'TypeError', 'RangeError')) throw new UsageError(`${prefix}${e.message}`);
    throw e;
  }
}

/** userInput for an async `fn`. */
export async function userInputAsync<T>(prefix: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isErrorNamed(e, 'TypeError', 'RangeError')) throw new UsageError(`${prefix}${e.message}`);
    throw e;
  }
}
