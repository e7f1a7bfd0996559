// What a command writes to and is told: the output streams, whether stderr is a terminal,
// the cancelling signal and the environment; the signal that interrupted a run and its
// exit status; and the progress bar drawn on stderr.
import * as os from 'node:os';
import type { StepInfo } from '../driver';

/** Anything with a write(string) method: process.stdout, or a test's capture. */
export interface TextSink {
  write(chunk: string): unknown;
}

/** Where `--out -` sends bytes: process.stdout, or a test's capture. */
export interface ByteSink {
  /** Calls `callback` once the chunk is handed on, with the error when it could not be. */
  write(chunk: Uint8Array, callback: (error?: Error | null) => void): unknown;
  /** A terminal gets no binary output. */
  isTTY?: boolean;
}

export interface CliIO {
  stdout: TextSink;
  /** Where `--out -` writes (process.stdout when run as a script); without it `--out -` is refused. */
  data?: ByteSink;
  stderr: TextSink;
  /** Draw a progress bar on stderr (only on a terminal). */
  isTTY: boolean;
  /**
   * Cancels a running command: exit status 130, or 128 + the signal's number when its
   * reason is an Interrupt (SIGINT, SIGTERM or SIGHUP when run as a script).
   */
  signal?: AbortSignal;
  /** Environment (default process.env): CONDIFF_DEBUG prints the stack of internal errors. */
  env?: Record<string, string | undefined>;
}

/** The abort reason for a signal received: the run stops and the exit status says which. */
export class Interrupt extends Error {
  constructor(readonly signalName: NodeJS.Signals) {
    super(`interrupted by ${signalName}`);
    // The driver rejects with an AbortError reason as it is (lib/errors.ts abortError).
    this.name = 'AbortError';
  }
}

/** The exit status of a run cancelled for `reason`: 128 + the signal's number, 130 (SIGINT's) otherwise. */
export function interruptedStatus(reason: unknown): number {
  const n = reason instanceof Interrupt ? os.constants.signals[reason.signalName] : undefined;
  return 128 + (n ?? os.constants.signals.SIGINT);
}

/** The one line a cancelled run prints on stderr. */
export function interruptedMessage(reason: unknown): string {
  return reason instanceof Interrupt && reason.signalName !== 'SIGINT' ? `condiff: terminated by ${reason.signalName}` : 'condiff: interrupted';
}

/** A progress bar on stderr, drawn only on a terminal, at most ~10 redraws per second. */
export class Progress {
  private last = 0;
  private drawn = 0;
  private readonly started = Date.now();
  constructor(
    private readonly io: CliIO,
    private readonly label: string,
    private readonly unit = 'steps',
  ) {}
  readonly onStep = (info: StepInfo): void => {
    if (!this.io.isTTY) return;
    const now = Date.now();
    if (now - this.last < 100 && info.step < info.steps) return;
    this.last = now;
    const width = 30;
    const filled = Math.round((width * info.step) / info.steps);
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${info.step}/${info.steps} ${this.unit} ${((now - this.started) / 1000).toFixed(1)}s`;
    this.io.stderr.write('\r' + line + ' '.repeat(Math.max(0, this.drawn - line.length)));
    this.drawn = line.length;
  };
  /** A one-off status line (for work without steps). */
  status(text: string): void {
    if (!this.io.isTTY) return;
    this.io.stderr.write('\r' + text + ' '.repeat(Math.max(0, this.drawn - text.length)));
    this.drawn = text.length;
  }
  clear(): void {
    if (this.drawn > 0) this.io.stderr.write('\r' + ' '.repeat(this.drawn) + '\r');
    this.drawn = 0;
  }
}
