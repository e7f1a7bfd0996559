// What a command writes to and is told: the output streams, whether stderr is a terminal,
// the cancelling signal and the environment; and the progress bar drawn on stderr.
import type { StepInfo } from '../driver';

/** Anything with a write(string) method: process.stdout, or a test's capture. */
export interface TextSink {
  write(chunk: string): unknown;
}

export interface CliIO {
  stdout: TextSink;
  stderr: TextSink;
  /** Draw a progress bar on stderr (only on a terminal). */
  isTTY: boolean;
  /** Cancels a running command (Ctrl-C when run as a script): exit status 130. */
  signal?: AbortSignal;
  /** Environment (default process.env): CONDIFF_DEBUG prints the stack of internal errors. */
  env?: Record<string, string | undefined>;
}

/** A progress bar on stderr, drawn only on a terminal, at most ~10 redraws per second. */
export class Progress {
  private last = 0;
  private drawn = 0;
  private readonly started = Date.now();
  constructor(
    private readonly io: CliIO,
    private readonly label: string,
  ) {}
  readonly onStep = (info: StepInfo): void => {
    if (!this.io.isTTY) return;
    const now = Date.now();
    if (now - this.last < 100 && info.step < info.steps) return;
    this.last = now;
    const width = 30;
    const filled = Math.round((width * info.step) / info.steps);
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${info.step}/${info.steps} steps ${((now - this.started) / 1000).toFixed(1)}s`;
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
