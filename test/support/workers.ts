// `condiff worker` processes for the queue tests, run from the TypeScript sources; each one's
// stdout lines (the chunks it started and ended) are kept. Only the processes started here are
// ever killed, by their own pid.
import { spawn, ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

export interface WorkerProcess {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first stdout line that matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startWorkerProcess(args: string[]): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['-r', path.join(ROOT, 'tools/register-ts.js'), path.join(ROOT, 'lib/cli/main.ts'), 'worker', ...args], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  let buffer = '', stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) if (w.re.test(line)) waiters.splice(waiters.indexOf(w), 1), w.resolve(line);
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = child.exitCode !== null;
  child.once('exit', () => (exited = true));
  const waitFor = (re: RegExp, timeoutMs = 30000) => {
    const seen = lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`worker ${child.pid}: no line matching ${re} in ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
      waiters.push({ re, resolve: (l) => (clearTimeout(t), resolve(l)) });
    });
  };
  const w: WorkerProcess = {
    child, lines, waitFor,
    stop: (signal = 'SIGTERM') => new Promise<void>((resolve) => {
      if (exited) return resolve();
      child.once('exit', () => resolve());
      child.kill(signal);
    }),
  };
  await waitFor(/condiff worker: ready/);
  return w;
}

/** The chunk ids a worker finished (its {"chunk": id, …} lines without an error). */
export function finishedChunks(w: WorkerProcess): string[] {
  return w.lines.filter((l) => l.startsWith('{"chunk"')).map((l) => JSON.parse(l)).filter((j) => !j.error).map((j) => j.chunk as string);
}
