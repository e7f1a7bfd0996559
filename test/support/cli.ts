// Runs the `condiff` command line in-process with its output captured, for the CLI tests.
import { main } from '../../lib/cli/main';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** The bytes written for `--out -`. */
  data: Buffer;
}

export interface CliRunOptions {
  /** Whether stderr is a terminal (the progress bar is drawn only then). Default false. */
  isTTY?: boolean;
  /** The environment the command sees. Default empty (no CONDIFF_DEBUG). */
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
  /** Whether the binary stdout (`--out -`) is a terminal. Default false. */
  dataIsTTY?: boolean;
}

export async function runCli(argv: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
  let stdout = '', stderr = '';
  const data: Buffer[] = [];
  const code = await main(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    data: {
      write: (chunk: Uint8Array, callback: (error?: Error | null) => void) => {
        data.push(Buffer.from(chunk));
        setImmediate(callback);
      },
      isTTY: options.dataIsTTY ?? false,
    },
    isTTY: options.isTTY ?? false,
    env: options.env ?? {},
    signal: options.signal,
  });
  return { code, stdout, stderr, data: Buffer.concat(data) };
}
