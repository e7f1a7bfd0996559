#!/usr/bin/env node
// The `condiff` command line, its one entry point (the package's bin): dispatches to the
// commands (sample.ts, demo.ts, bench.ts, inpaint.ts, restore.ts, info.ts) and turns what they throw
// into an exit status: 2 for the user's mistakes, 128 + the signal's number when
// interrupted (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP), 1 otherwise.
// `main` runs in-process so tests can call it; run as a script, it handles those signals.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isErrorNamed } from '../errors';
import { CliIO, Interrupt, interruptedStatus, interruptedMessage } from './io';
import { UsageError, OutputError } from './errors';
import { USAGE, SAMPLE_USAGE, DEMO_USAGE } from './usage';
import { sampleCommand } from './sample';
import { demoCommand } from './demo';
import { benchCommand, BENCH_USAGE } from './bench';
import { inpaintCommand, INPAINT_USAGE } from './inpaint';
import { restoreCommand, RESTORE_USAGE } from './restore';
import { infoCommand, INFO_USAGE } from './info';
import { serveCommand, SERVE_USAGE } from './serve';
import { workerCommand, WORKER_USAGE } from './worker';

export type { CliIO, TextSink } from './io';

/** The package's version, from its package.json (two levels up from dist/cli/ or lib/cli/). */
function version(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Runs the command line `argv` (without "node main.js"); resolves to the exit status. */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const env = io.env ?? process.env;
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case undefined:
        io.stderr.write(USAGE + '\n');
        return 2;
      case 'help':
      case '--help':
      case '-h':
        if (rest.length === 1 && rest[0] === 'inpaint') {
          io.stdout.write(INPAINT_USAGE + '\n');
          return 0;
        }
        if (rest.length === 1 && rest[0] === 'restore') {
          io.stdout.write(RESTORE_USAGE + '\n');
          return 0;
        }
        if (rest.length === 1 && rest[0] === 'bench') {
          io.stdout.write(BENCH_USAGE + '\n');
          return 0;
        }
        if (rest.length === 1 && rest[0] === 'serve') {
          io.stdout.write(SERVE_USAGE + '\n');
          return 0;
        }
        if (rest.length === 1 && rest[0] === 'worker') {
          io.stdout.write(WORKER_USAGE + '\n');
          return 0;
        }
        if (rest.length === 1 && rest[0] === 'info') {
          io.stdout.write(INFO_USAGE + '\n');
          return 0;
        }
        if (rest.length > 1 || (rest.length === 1 && !['sample', 'demo'].includes(rest[0]))) {
          throw new UsageError(`unknown help topic ${JSON.stringify(rest.join(' '))} (try condiff help)`);
        }
        io.stdout.write((rest[0] === 'sample' ? SAMPLE_USAGE : rest[0] === 'demo' ? DEMO_USAGE : USAGE) + '\n');
        return 0;
      case '--version':
      case 'version':
        io.stdout.write(version() + '\n');
        return 0;
      case 'sample':
        return await sampleCommand(rest, io);
      case 'demo':
        return await demoCommand(rest, io);
      case 'bench':
        return await benchCommand(rest, io);
      case 'inpaint':
        return await inpaintCommand(rest, io);
      case 'restore':
        return await restoreCommand(rest, io);
      case 'info':
        return await infoCommand(rest, io);
      case 'serve':
        return await serveCommand(rest, io);
      case 'worker':
        return await workerCommand(rest, io);
      default:
        if (command.startsWith('-')) throw new UsageError(`unknown option ${command} (commands: sample, demo, bench, inpaint, restore, info, serve, worker, help)`);
        throw new UsageError(`unknown command ${JSON.stringify(command)} (commands: sample, demo, bench, inpaint, restore, info, serve, worker, help)`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`condiff: ${e.message}\n`);
      return 2;
    }
    if (e instanceof OutputError || isErrorNamed(e, 'QueueJobError')) {
      io.stderr.write(`condiff: ${e.message}\n`);
      return 1;
    }
    if (isErrorNamed(e, 'AbortError')) {
      const reason = io.signal?.reason;
      io.stderr.write(interruptedMessage(reason) + '\n');
      return interruptedStatus(reason);
    }
    const err = typeof e === 'object' && e !== null ? (e as Error) : undefined;
    const message = typeof err?.message === 'string' ? err.message.split('\n')[0] : String(e);
    io.stderr.write(`condiff: internal error: ${message}\n`);
    if (env.CONDIFF_DEBUG && typeof err?.stack === 'string') io.stderr.write(err.stack + '\n');
    return 1;
  }
}

/**
 * After a signal the run has this long to stop by itself (it normally takes a few ms: the
 * driver yields every 10 ms and rejects at once on abort) before the process exits anyway.
 */
const GRACE_MS = 200;

/** The signals that stop a run: the first cancels it, a second (or the grace period) exits at once. */
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

if (require.main === module) {
  const controller = new AbortController();
  // Exiting directly does not wait for work the cancelled run abandoned (a native step
  // still computing); 'exit' listeners remove a temporary output file (output.ts).
  const exitNow = () => {
    process.stderr.write(interruptedMessage(controller.signal.reason) + '\n');
    process.exit(interruptedStatus(controller.signal.reason));
  };
  // `serve` and `worker` drain on a signal (running requests or chunks finish) and return 0: no grace period.
  const serving = process.argv[2] === 'serve' || process.argv[2] === 'worker';
  for (const name of SIGNALS) {
    process.on(name, () => {
      if (controller.signal.aborted) exitNow();
      controller.abort(new Interrupt(name));
      if (!serving) setTimeout(exitNow, GRACE_MS).unref();
    });
  }
  // A closed stdout (EPIPE) is reported where it is written (output.ts), not thrown here.
  process.stdout.on('error', () => undefined);
  main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    data: process.stdout,
    isTTY: Boolean(process.stderr.isTTY),
    signal: controller.signal,
  }).then(
    (code) => {
      // Interrupted: nothing left to wait for, whatever the cancelled run left running.
      if (controller.signal.aborted) process.exit(code);
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`condiff: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
