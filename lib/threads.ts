import * as os from 'node:os';
import { positiveInteger } from './errors';

/** Threads used when a call does not say: every core the process may use. */
export function defaultThreads(): number {
  return Math.max(1, os.availableParallelism());
}

export function threadsOption(value: unknown): number {
  return value === undefined ? defaultThreads() : positiveInteger('threads', value, 1024);
}
