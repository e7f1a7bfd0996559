// Where the commands put their results, checked before the work that fills them:
// - a regular file (or a new one) is written whole or not at all: a temporary file beside
//   it, renamed over it once complete. A symbolic link is followed: its target is replaced
//   (keeping its permission bits) and the link kept.
// - a FIFO or character device is written through, never replaced;
// - `-` is stdout.
// Checking first means a mistake (no such directory, no permission) fails before any
// sampling; the check creates and removes a probe, so nothing is left behind. A write
// cancelled by the signal leaves an existing file untouched.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { promisify } from 'node:util';
import { abortError } from '../errors';
import { CliIO, ByteSink } from './io';
import { UsageError, OutputError } from './errors';

const writeFd = promisify(fs.write);
const fsyncFd = promisify(fs.fsync);

/** Bytes per write call: small enough that a cancel is seen between two of them. */
const CHUNK_BYTES = 1 << 20;
/** stdout chunks: a pipe is written synchronously on Linux, so one chunk holds the event loop until read. */
const STDOUT_CHUNK_BYTES = 1 << 16;
/** How often a FIFO without a reader, or a full one, is tried again (ms). */
const RETRY_MS = 2;
/** Symbolic links followed before giving up, as the kernel's own limit (ELOOP after 40). */
const MAX_LINKS = 40;

/** A checked output; `write` puts the bytes there (once). */
export interface Output {
  /** 'file': replaced by rename; 'stream': a FIFO or character device written through; 'stdout'. */
  readonly kind: 'file' | 'stream' | 'stdout';
  /** The absolute path as given (a link, not its target), or '-'. */
  readonly name: string;
  /** Writes `bytes`; an error here is an OutputError, a cancel the signal's AbortError. */
  write(bytes: Uint8Array, signal?: AbortSignal): Promise<void>;
}

export interface OutputOptions {
  /** How messages name the output, e.g. '--out' or '--json'. */
  flag: string;
  /** What is written, for the stdout messages, e.g. 'the .npy file'. */
  what: string;
  /** Whether `-` means stdout (else it is refused). */
  stdout?: boolean;
}

/** A system error's code and words, e.g. "no space left on device (ENOSPC)". */
export function reason(e: unknown): string {
  const code = typeof e === 'object' && e !== null ? (e as NodeJS.ErrnoException).code : undefined;
  const words: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on device',
    EDQUOT: 'disk quota exceeded',
    EFBIG: 'file too large',
    EISDIR: 'it is a directory',
    ENOTDIR: 'a component of the path is not a directory',
    ELOOP: 'too many levels of symbolic links',
    ENAMETOOLONG: 'file name too long',
    EPIPE: 'the reader closed the pipe',
    EIO: 'input/output error',
    ENXIO: 'no such device',
  };
  if (code !== undefined && words[code] !== undefined) return `${words[code]} (${code})`;
  return e instanceof Error ? e.message : String(e);
}

function codeOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? (e as NodeJS.ErrnoException).code : undefined;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A hidden name beside `file` for its temporary copy (or for the probe). */
function temporaryName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Checks that a file can be created in `dir` by creating and removing one: this sees
 * permissions, read-only mounts and ownership as the real write will.
 */
function probeDirectory(dir: string, fail: (why: string) => UsageError, shownDir: string): void {
  const probe = temporaryName(path.join(dir, 'probe'));
  let fd: number;
  try {
    fd = fs.openSync(probe, 'wx');
  } catch (e) {
    const code = codeOf(e);
    if (code === 'ENOENT' && !fs.existsSync(dir)) throw fail(`the directory ${JSON.stringify(shownDir)} does not exist`);
    if (code === 'ENOTDIR') throw fail(`${JSON.stringify(shownDir)} is not a directory`);
    if (code === 'EACCES' || code === 'EPERM') throw fail(`no permission to create files in ${JSON.stringify(shownDir)}`);
    throw fail(`cannot create files in ${JSON.stringify(shownDir)}: ${reason(e)}`);
  }
  fs.closeSync(fd);
  fs.unlinkSync(probe);
}

/** The file a path that does not exist would create: the end of its chain of links, if any. */
function fileToCreate(abs: string, fail: (why: string) => UsageError): string {
  let p = abs;
  for (let links = 0; links <= MAX_LINKS; links++) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return p; // the end of the chain: a name that does not exist yet
    }
    if (!st.isSymbolicLink()) return p;
    p = path.resolve(path.dirname(p), fs.readlinkSync(p));
  }
  throw fail(reason(Object.assign(new Error('too many links'), { code: 'ELOOP' })));
}

/** Checks `given` (a path, or '-') before any work; throws a UsageError saying what is wrong. */
export function prepareOutput(given: string, io: CliIO, options: OutputOptions): Output {
  const fail = (why: string) => new UsageError(`cannot write ${options.flag} ${JSON.stringify(given)}: ${why}`);
  if (given === '-') {
    if (!options.stdout) throw new UsageError(`${options.flag} - (stdout) is not supported here; name a file`);
    const sink = io.data;
    if (sink === undefined) throw new UsageError(`${options.flag} -: this caller gives no stdout for binary output; name a file`);
    if (sink.isTTY) throw new UsageError(`${options.flag} -: refusing to write ${options.what} to a terminal; redirect stdout or name a file`);
    return { kind: 'stdout', name: '-', write: (bytes, signal) => writeStdout(sink, bytes, signal, options) };
  }
  const abs = path.resolve(given);
  let st: fs.Stats | null = null;
  try {
    st = fs.statSync(abs); // follows links
  } catch (e) {
    const code = codeOf(e);
    if (code === 'ENOTDIR') throw fail(`${JSON.stringify(path.dirname(given))} is not a directory`);
    if (code !== 'ENOENT') throw fail(reason(e));
  }
  if (st !== null && st.isDirectory()) throw fail('it is a directory');
  if (st !== null && (st.isFIFO() || st.isCharacterDevice())) {
    try {
      fs.accessSync(abs, fs.constants.W_OK);
    } catch (e) {
      throw fail(reason(e));
    }
    return { kind: 'stream', name: abs, write: (bytes, signal) => writeStream(abs, given, bytes, signal, options) };
  }
  if (st !== null && !st.isFile()) {
    const kind = st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a regular file';
    throw fail(`it is ${kind}; condiff writes regular files, FIFOs, character devices and stdout (-)`);
  }
  // A regular file or a new one: write the end of its chain of links, in a real directory.
  let target: string;
  if (st !== null) {
    target = fs.realpathSync(abs);
    try {
      fs.accessSync(target, fs.constants.W_OK);
    } catch {
      throw fail('the file is not writable (permission denied)');
    }
  } else {
    const end = fileToCreate(abs, fail);
    let dir: string;
    try {
      dir = fs.realpathSync(path.dirname(end));
    } catch (e) {
      const shown = end === abs ? path.dirname(given) : path.dirname(end);
      if (codeOf(e) === 'ENOENT') throw fail(`the directory ${JSON.stringify(shown)} does not exist`);
      if (codeOf(e) === 'ENOTDIR') throw fail(`${JSON.stringify(shown)} is not a directory`);
      throw fail(reason(e));
    }
    target = path.join(dir, path.basename(end));
  }
  probeDirectory(path.dirname(target), fail, path.dirname(target === abs ? given : target));
  return { kind: 'file', name: abs, write: (bytes, signal) => replaceFile(target, given, bytes, signal, options) };
}

/** Writes all of `bytes` to `fd` in chunks, checking the signal between them; waits out EAGAIN (a full FIFO). */
async function writeAll(fd: number, bytes: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    throwIfAborted(signal);
    try {
      const { bytesWritten } = await writeFd(fd, bytes, offset, Math.min(CHUNK_BYTES, bytes.length - offset), null);
      offset += bytesWritten;
    } catch (e) {
      if (codeOf(e) !== 'EAGAIN') throw e;
      await sleep(RETRY_MS);
    }
  }
}

/** The temporary file, complete and synced, renamed over `target`; removed on any failure or cancel. */
async function replaceFile(target: string, given: string, bytes: Uint8Array, signal: AbortSignal | undefined, options: OutputOptions): Promise<void> {
  throwIfAborted(signal);
  const tmp = temporaryName(target);
  // A second signal ends the process at once (main.ts): the temporary file goes with it.
  const remove = () => {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // not created, or already renamed
    }
  };
  let fd = -1;
  process.on('exit', remove);
  try {
    fd = fs.openSync(tmp, 'wx');
    // The replaced file's permission bits carry over (a rename would otherwise reset them).
    const old = fs.statSync(target, { throwIfNoEntry: false });
    if (old !== undefined) fs.fchmodSync(fd, old.mode & 0o777);
    await writeAll(fd, bytes, signal);
    await fsyncFd(fd);
    fs.closeSync(fd);
    fd = -1;
    throwIfAborted(signal);
    fs.renameSync(tmp, target);
  } catch (e) {
    if (fd >= 0) fs.closeSync(fd);
    remove();
    if (signal?.aborted) throw abortError(signal);
    throw new OutputError(`cannot write ${options.flag} ${JSON.stringify(given)}: ${reason(e)}`);
  } finally {
    process.off('exit', remove);
  }
}

/**
 * A FIFO or character device, opened without blocking (a FIFO with no reader yet is tried
 * again until one comes or the signal fires) and written through, never truncated or replaced.
 */
async function writeStream(abs: string, given: string, bytes: Uint8Array, signal: AbortSignal | undefined, options: OutputOptions): Promise<void> {
  // O_NONBLOCK: a blocking open or write would hold a libuv thread that no cancel can free,
  // and the process could not exit until a reader came.
  const flags = fs.constants.O_WRONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY;
  let fd = -1;
  try {
    for (;;) {
      throwIfAborted(signal);
      try {
        fd = fs.openSync(abs, flags);
        break;
      } catch (e) {
        if (codeOf(e) !== 'ENXIO') throw e; // ENXIO: a FIFO with no reader
        await sleep(RETRY_MS * 10);
      }
    }
    await writeAll(fd, bytes, signal);
  } catch (e) {
    if (signal?.aborted) throw abortError(signal);
    throw new OutputError(`cannot write ${options.flag} ${JSON.stringify(given)}: ${reason(e)}`);
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

async function writeStdout(sink: ByteSink, bytes: Uint8Array, signal: AbortSignal | undefined, options: OutputOptions): Promise<void> {
  try {
    for (let offset = 0; offset < bytes.length; offset += STDOUT_CHUNK_BYTES) {
      throwIfAborted(signal);
      const chunk = bytes.subarray(offset, Math.min(bytes.length, offset + STDOUT_CHUNK_BYTES));
      await new Promise<void>((resolve, reject) => sink.write(chunk, (error) => (error ? reject(error) : resolve())));
    }
  } catch (e) {
    if (signal?.aborted) throw abortError(signal);
    throw new OutputError(`cannot write ${options.what} to stdout: ${reason(e)}`);
  }
}

/**
 * An output directory (condiff bench): checked before any work, created (with its parents)
 * only when the first file is written, so a run that fails leaves no empty directory.
 */
export interface OutputDirectory {
  readonly path: string;
  /** Writes `name` in the directory as prepareOutput's files are written (whole, links followed). */
  write(name: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void>;
}

export function prepareOutputDirectory(given: string, io: CliIO, flag: string): OutputDirectory {
  const fail = (why: string) => new UsageError(`cannot write to ${flag} ${JSON.stringify(given)}: ${why}`);
  if (given === '-') throw new UsageError(`${flag} names a directory for several files; it cannot be - (stdout)`);
  const abs = path.resolve(given);
  // The nearest existing ancestor must be a directory we can create in.
  let existing = abs;
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(existing, { throwIfNoEntry: false });
    } catch (e) {
      throw fail(reason(e));
    }
    if (st !== undefined) {
      if (!st.isDirectory()) throw fail(existing === abs ? 'it is not a directory' : `${JSON.stringify(existing)} is not a directory`);
      break;
    }
    existing = path.dirname(existing);
  }
  probeDirectory(existing, fail, existing);
  return {
    path: abs,
    write: async (name, bytes, signal) => {
      const file = path.join(abs, name);
      try {
        fs.mkdirSync(abs, { recursive: true });
      } catch (e) {
        throw new OutputError(`cannot create ${flag} ${JSON.stringify(given)}: ${reason(e)}`);
      }
      let out: Output;
      try {
        out = prepareOutput(file, io, { flag, what: name });
      } catch (e) {
        // Checked before the work already: what fails now is a failed write.
        if (e instanceof UsageError) throw new OutputError(e.message);
        throw e;
      }
      await out.write(bytes, signal);
    },
  };
}
