// Where `condiff sample --out` writes (lib/cli/output.ts), in-process: a symbolic link's
// target is written and the link kept, a FIFO and a character device are written through
// (never replaced by a regular file), `-` is stdout, and an output that cannot be written
// fails before any sampling, leaving nothing behind. Signals: test/cli/signals.test.ts.
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { writeDemoFiles } from '../support/demo-files';
import { runCli } from '../support/cli';
import { decodeNpy } from '../../lib/npy';
import { prepareOutput } from '../../lib/cli/output';
import { main } from '../../lib/cli/main';

let dir: string;
let modelFile: string;
let observeFile: string;

beforeAll(() => {
  ({ dir, modelFile, observeFile } = writeDemoFiles('condiff-output-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

// 25 steps: the finest OU Euler step with no step warning (as cli.test.ts).
const small = ['--steps', '25', '--samples', '12', '--particles', '8', '--threads', '2', '--seed', '3'];

function sample(out: string, extra: string[] = []): string[] {
  return ['sample', '--model', modelFile, '--observe', observeFile, '--method', 'smc', '--out', out, ...small, ...extra];
}

/** The bytes a run of `small` writes to a plain new file: what every other kind of output must receive. */
let reference: Buffer;
beforeAll(async () => {
  const file = path.join(dir, 'reference.npy');
  const r = await runCli(sample(file));
  expect(r.code).toBe(0);
  reference = fs.readFileSync(file);
  expect(decodeNpy(reference).shape).toEqual([12, 3]);
});

/** Files a test left in `dir` beyond those it expects (temporary files, probes). */
function leftovers(): string[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith('.'));
}

describe('--out follows symbolic links', () => {
  test('a link to an existing file: the target is replaced, the link kept, the permission bits too', async () => {
    const target = path.join(dir, 'target.npy'), link = path.join(dir, 'link.npy');
    fs.writeFileSync(target, 'old');
    fs.chmodSync(target, 0o640);
    fs.symlinkSync('target.npy', link);
    const r = await runCli(sample(link));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).out).toBe(link);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.readlinkSync(link)).toBe('target.npy');
    expect(fs.readFileSync(target).equals(reference)).toBe(true);
    expect(fs.statSync(target).mode & 0o777).toBe(0o640);
    expect(leftovers()).toEqual([]);
  });

  test('a dangling link: its target is created, through a chain of links, in another directory', async () => {
    const sub = fs.mkdtempSync(path.join(dir, 'sub-'));
    const target = path.join(sub, 'made.npy'), hop = path.join(dir, 'hop.npy'), link = path.join(dir, 'dangling.npy');
    fs.symlinkSync(target, hop);
    fs.symlinkSync('hop.npy', link);
    const r = await runCli(sample(link));
    expect(r.code).toBe(0);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.lstatSync(hop).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(target).equals(reference)).toBe(true);
    expect(fs.readdirSync(sub)).toEqual(['made.npy']);
  });

  test('a link whose target directory does not exist fails before sampling, naming that directory', async () => {
    const link = path.join(dir, 'nowhere.npy');
    fs.symlinkSync(path.join(dir, 'missing-dir', 'x.npy'), link);
    const r = await runCli(sample(link));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot write --out .*nowhere\.npy": the directory ".*missing-dir" does not exist/);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
  });
});

describe('--out on devices and FIFOs', () => {
  // Through links in the test's folder, never the devices' own names: a regression that
  // replaced the output by rename would then replace the link, not /dev/null (tests may run as root).
  test('/dev/full (through a link): the write error, ENOSPC, is reported with exit 1; the device is untouched', async () => {
    if (!fs.existsSync('/dev/full')) return; // Linux only
    const link = path.join(dir, 'full.npy');
    fs.symlinkSync('/dev/full', link);
    const r = await runCli(sample(link));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`condiff: cannot write --out ${JSON.stringify(link)}: no space left on device (ENOSPC)\n`);
    expect(fs.readlinkSync(link)).toBe('/dev/full');
    expect(fs.statSync('/dev/full').isCharacterDevice()).toBe(true);
    expect(leftovers()).toEqual([]);
  });

  test('/dev/null (through a link) is written through', async () => {
    const link = path.join(dir, 'null.npy');
    fs.symlinkSync('/dev/null', link);
    const r = await runCli(sample(link));
    expect(r.code).toBe(0);
    expect(fs.readlinkSync(link)).toBe('/dev/null');
    expect(fs.statSync('/dev/null').isCharacterDevice()).toBe(true);
  });

  test('a device named directly is a stream output (checked without writing)', () => {
    const io = { stdout: { write: () => undefined }, stderr: { write: () => undefined }, isTTY: false };
    const out = prepareOutput('/dev/full', io, { flag: '--out', what: 'the .npy file' });
    expect({ kind: out.kind, name: out.name }).toEqual({ kind: 'stream', name: '/dev/full' });
  });

  test('a block device is refused before sampling', async () => {
    const isBlock = (f: string) => {
      try {
        return fs.statSync(f).isBlockDevice();
      } catch {
        return false;
      }
    };
    const block = fs.existsSync('/dev') ? fs.readdirSync('/dev').map((f) => path.join('/dev', f)).find(isBlock) : undefined;
    if (block === undefined) return; // none here
    const r = await runCli(sample(block));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/: it is a block device; condiff writes regular files, FIFOs, character devices and stdout/);
    expect(fs.statSync(block).isBlockDevice()).toBe(true);
  });

  test('a FIFO is written through to its reader (which may come after the run) and stays a FIFO', async () => {
    const fifo = path.join(dir, 'pipe.npy');
    execFileSync('mkfifo', [fifo]);
    // The reader opens the FIFO only once the run is under way: the write waits for it.
    const run = runCli(sample(fifo));
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    reader.stdout.on('data', (c: Buffer) => chunks.push(c));
    const readerDone = new Promise<number | null>((resolve) => reader.on('close', resolve));
    try {
      const r = await run;
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(fs.statSync(fifo).isFIFO()).toBe(true);
      // The writer has closed the FIFO: the reader sees its end at once.
      const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('the reader saw no end'), 10_000).unref());
      expect(await Promise.race([readerDone, timeout])).toBe(0);
      expect(Buffer.concat(chunks).equals(reference)).toBe(true);
    } finally {
      reader.kill();
    }
    expect(leftovers()).toEqual([]);
  });

  test('a FIFO nobody reads: the run waits for a reader and an abort still stops it (exit 130)', async () => {
    const fifo = path.join(dir, 'unread.npy');
    execFileSync('mkfifo', [fifo]);
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 1500);
    const r = await runCli(sample(fifo), { signal: controller.signal });
    expect(r.code).toBe(130);
    expect(r.stderr).toBe('condiff: interrupted\n');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
  });
});

describe('--out - writes the .npy to stdout', () => {
  test('the bytes equal the file output for the same seed; the JSON summary goes to stderr', async () => {
    const r = await runCli(sample('-'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.data.equals(reference)).toBe(true);
    const summary = JSON.parse(r.stderr);
    expect(summary).toMatchObject({ method: 'smc', samples: 12, dim: 3, out: '-' });
  });

  test('a terminal gets no binary output: refused before sampling', async () => {
    const r = await runCli(sample('-'), { dataIsTTY: true });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^condiff: --out -: refusing to write the \.npy file to a terminal/);
    expect(r.data.length).toBe(0);
  });
});

describe('an output that cannot be written fails before sampling, leaving nothing behind', () => {
  // A run this long (10^6 steps of 10^6 draws) shows it never started by returning at all.
  const long = () => ['sample', '--model', modelFile, '--observe', observeFile, '--method', 'replacement', '--steps', '1000000', '--samples', '1000000'];

  async function failsFast(out: string, message: RegExp): Promise<void> {
    const before = fs.readdirSync(dir).sort();
    const started = Date.now();
    const r = await runCli([...long(), '--out', out]);
    const seconds = (Date.now() - started) / 1000;
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(seconds).toBeLessThan(5);
    expect(fs.readdirSync(dir).sort()).toEqual(before);
  }

  test('a directory that does not exist', async () => {
    await failsFast(path.join(dir, 'no-such-dir', 'x.npy'), /the directory .*no-such-dir" does not exist/);
  });

  test('a file where a directory should be', async () => {
    await failsFast(path.join(modelFile, 'x.npy'), /model\.json" is not a directory/);
  });

  test('a directory', async () => {
    await failsFast(dir, /: it is a directory$/m);
  });

  test('a directory without write permission (or a read-only one, for root)', async () => {
    let readOnly = fs.mkdtempSync(path.join(dir, 'ro-'));
    fs.chmodSync(readOnly, 0o555);
    try {
      fs.writeFileSync(path.join(readOnly, 'probe'), '');
      // Root writes anyway: take a directory the kernel refuses even to root, if there is one.
      fs.unlinkSync(path.join(readOnly, 'probe'));
      readOnly = '/sys';
      try {
        fs.writeFileSync(path.join(readOnly, 'condiff-probe'), '');
        return; // nothing here refuses a write: nothing to test
      } catch {
        // refused: use it
      }
    } catch {
      // refused: use it
    }
    const r = await runCli([...long(), '--out', path.join(readOnly, 'x.npy')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot write --out .*: (no permission to create files in|read-only file system)/);
    expect(fs.existsSync(path.join(readOnly, 'x.npy'))).toBe(false);
  });

  test('a read-only existing file is not replaced', async () => {
    if (process.getuid?.() === 0) return; // root may write any file
    const file = path.join(dir, 'readonly.npy');
    fs.writeFileSync(file, 'keep');
    fs.chmodSync(file, 0o444);
    await failsFast(file, /the file is not writable/);
    expect(fs.readFileSync(file, 'utf8')).toBe('keep');
  });

  test('--out - where the caller gives no binary stdout', async () => {
    let err = '';
    const code = await main([...long(), '--out', '-'], { stdout: { write: () => undefined }, stderr: { write: (s: string) => (err += s) }, isTTY: false });
    expect(code).toBe(2);
    expect(err).toMatch(/--out -: this caller gives no stdout/);
  });
});
