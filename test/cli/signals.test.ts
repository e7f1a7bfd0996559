// `condiff sample` as a real child process (lib/cli/main.ts run from the sources): SIGINT
// and SIGTERM stop a small-batch run mid-sampling at once, with exit status 130 / 143,
// leaving an existing output file untouched and no temporary file; `--out -` puts on
// process.stdout the bytes a file would get, the JSON summary on stderr.
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, ChildProcess } from 'node:child_process';
import { writeDemoFiles } from '../support/demo-files';

const ROOT = path.join(__dirname, '..', '..');
const CLI = ['-r', path.join(ROOT, 'tools', 'register-ts.js'), path.join(ROOT, 'lib', 'cli', 'main.ts')];

let dir: string;
let modelFile: string;
let observeFile: string;
/** 200 components in 32 dimensions: ~0.3 ms a step for 8 particles, still the small-batch (inline) path. */
let slowModelFile: string;

beforeAll(() => {
  ({ dir, modelFile, observeFile } = writeDemoFiles('condiff-signals-'));
  const K = 200, D = 32;
  const means = Array.from({ length: K }, (_, k) => Array.from({ length: D }, (_, j) => 2 * Math.sin(7 * k + j)));
  slowModelFile = path.join(dir, 'slow-model.json');
  fs.writeFileSync(slowModelFile, JSON.stringify({ weights: new Array(K).fill(1 / K), means, variances: means.map(() => new Array(D).fill(1)) }));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Child {
  child: ChildProcess;
  /** Settles when the output check's probe file appears: the run is about to sample. */
  checked: Promise<void>;
  /** The exit status and signal, and when the process ended (performance.now()). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stdout: () => Buffer;
  stderr: () => string;
}

/** Starts `condiff sample` writing in `dir`; the probe (a hidden file, created and removed) marks the end of its checks. */
function start(args: string[], model = modelFile): Child {
  const watcher = fs.watch(dir);
  const checked = new Promise<void>((resolve, reject) => {
    watcher.on('change', (_event, name) => {
      if (typeof name === 'string' && /^\.probe\.\d+\./.test(name)) resolve();
    });
    setTimeout(() => reject(new Error('the run never checked its output (no probe file seen)')), 60_000).unref();
  });
  checked.catch(() => undefined); // awaited only by the tests that need it
  const child = spawn(process.execPath, [...CLI, 'sample', '--model', model, '--observe', observeFile, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => {
      const at = performance.now();
      watcher.close();
      // 'close': the pipes are drained too.
      child.on('close', () => resolve({ code, signal, at }));
    }),
  );
  return { child, checked, exited, stdout: () => Buffer.concat(out), stderr: () => err };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// A small batch (8 particles, one run), 100000 steps of the slow model: about 5 s of steps too
// small to leave the main thread, the case where a run used never to give the event loop a
// turn. (Few steps: the per-step setup before the first step does not yield.)
const longRun = ['--method', 'smc', '--particles', '8', '--samples', '1', '--steps', '100000', '--threads', '1'];

describe('signals stop a run at once and leave the output untouched', () => {
  test.each([
    ['SIGINT', 130, 'condiff: interrupted\n'],
    ['SIGTERM', 143, 'condiff: terminated by SIGTERM\n'],
  ] as const)('%s: exit status %d within a second (about 10 ms of work), existing file untouched', async (signal, status, message) => {
    const out = path.join(dir, `existing-${signal}.npy`);
    fs.writeFileSync(out, 'old');
    const mtime = fs.statSync(out).mtimeMs;
    const run = start([...longRun, '--out', out], slowModelFile);
    await run.checked;
    await sleep(1000); // well into sampling
    expect(run.child.exitCode).toBeNull();
    const sent = performance.now();
    run.child.kill(signal);
    const { code, signal: killedBy, at } = await run.exited;
    const latencyMs = at - sent;
    expect({ code, killedBy, stderr: run.stderr() }).toEqual({ code: status, killedBy: null, stderr: message });
    // The run stops within ~10 ms of the signal on an idle machine (the driver yields every
    // 10 ms); a second leaves room for a loaded CI machine.
    expect(latencyMs).toBeLessThan(1000);
    expect(fs.readFileSync(out, 'utf8')).toBe('old');
    expect(fs.statSync(out).mtimeMs).toBe(mtime);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
    expect(run.stdout().length).toBe(0);
  });
});

describe('--out - from a real process', () => {
  test('stdout carries the bytes the file gets for the same seed; the summary goes to stderr', async () => {
    const args = ['--method', 'smc', '--particles', '8', '--samples', '40', '--steps', '25', '--seed', '5', '--threads', '2'];
    const file = path.join(dir, 'file.npy');
    const toFile = start([...args, '--out', file]);
    expect((await toFile.exited).code).toBe(0);
    const toStdout = start([...args, '--out', '-']);
    expect((await toStdout.exited).code).toBe(0);
    expect(toStdout.stdout().equals(fs.readFileSync(file))).toBe(true);
    expect(JSON.parse(toStdout.stderr())).toMatchObject({ method: 'smc', samples: 40, dim: 3, out: '-' });
    expect(JSON.parse(toFile.stdout().toString())).toMatchObject({ out: file });
  });
});
