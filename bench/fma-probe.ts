// Builds bench/fma-probe.cc with g++ (when the binary is missing or older
// than the source) and measures the float32 FMA peak on 1 and 2 threads, for the best
// instruction set the CPU supports and, for reference, every other one. Each
// measurement is a fresh process of the probe; the median of 5 is reported.
// bench/filter-throughput.ts uses measureFmaPeak() for the score's fraction of peak.
//
//   node -r ./tools/register-ts.js bench/fma-probe.ts [--quick] [--dry-run]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { OUT_DIR, ROOT, TRIALS, machineLines, machineRecord, markdownTable, median, parseScriptArgs, runMeasured, sig, writeSection } from './common';

const SOURCE = path.join(ROOT, 'bench', 'fma-probe.cc');
const BINARY = path.join(OUT_DIR, 'fma-probe');
const BUILD = ['-O2', '-std=c++17', '-Wall', '-Wextra', '-pthread', SOURCE, '-o', BINARY];
const ISAS = ['avx512f', 'avx2', 'default'] as const;
export type Isa = (typeof ISAS)[number];

/** Builds the probe unless an up-to-date binary exists; returns the g++ command line. */
export function buildProbe(): string {
  const stale = !fs.existsSync(BINARY) || fs.statSync(BINARY).mtimeMs < fs.statSync(SOURCE).mtimeMs;
  if (stale) {
    fs.mkdirSync(OUT_DIR, { recursive: true });
    execFileSync('g++', BUILD, { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return `g++ ${BUILD.map((a) => path.relative(ROOT, a) || a).join(' ')}`;
}

/** register: the peak; broadcast: the structured kernels' inner loop (fma-probe.cc). */
export type Operand = 'register' | 'broadcast';

interface ProbeRun {
  isa: Isa;
  threads: number;
  gflops: number;
}

/** One run of the probe, or null where the instruction set is not supported. */
async function probe(isa: Isa | 'best', threads: number, seconds: number, operand: Operand = 'register'): Promise<ProbeRun | null> {
  try {
    return (await runMeasured<ProbeRun>(BINARY, ['--isa', isa, '--threads', String(threads), '--seconds', String(seconds), '--operand', operand])).result;
  } catch {
    return null;
  }
}

export interface FmaPeak {
  /** The widest instruction set the CPU supports (what condiff's dispatcher picks). */
  best: Isa;
  /** Median GFLOP/s of the best instruction set, by thread count. */
  gflops: Record<number, number>;
  /** Every supported instruction set: GFLOP/s trials by thread count. */
  all: { isa: Isa; threads: number; trials: number[] }[];
  build: string;
}

/**
 * The structured kernels' inner loop (fma-probe.cc --operand broadcast) on the best
 * instruction set, median GFLOP/s by thread count; null where the probe has no such loop
 * (it has one for AVX-512 only).
 */
export async function measureBroadcastCeiling(threadCounts: number[], seconds = 0.5): Promise<Record<number, number> | null> {
  buildProbe();
  const out: Record<number, number> = {};
  for (const threads of threadCounts) {
    const trials: number[] = [];
    for (let t = 0; t < TRIALS; t++) {
      const r = await probe('best', threads, seconds, 'broadcast');
      if (r === null) return null;
      trials.push(r.gflops);
    }
    out[threads] = median(trials);
  }
  return out;
}

export async function measureFmaPeak(threadCounts: number[] = [1, 2], options: { everyIsa?: boolean; seconds?: number } = {}): Promise<FmaPeak> {
  const build = buildProbe();
  const best = (await probe('best', 1, 0.05))?.isa;
  if (best === undefined) throw new Error('the FMA probe did not run');
  const all: FmaPeak['all'] = [];
  for (const isa of options.everyIsa ? ISAS : [best]) {
    for (const threads of threadCounts) {
      const trials: number[] = [];
      for (let t = 0; t < TRIALS; t++) {
        const r = await probe(isa, threads, options.seconds ?? 0.5);
        if (r !== null) trials.push(r.gflops);
      }
      if (trials.length > 0) all.push({ isa, threads, trials });
    }
  }
  const gflops: Record<number, number> = {};
  for (const a of all) if (a.isa === best) gflops[a.threads] = median(a.trials);
  return { best, gflops, all, build };
}

async function main(): Promise<void> {
  const args = parseScriptArgs();
  const machine = machineRecord();
  const peak = await measureFmaPeak([1, 2], { everyIsa: true, seconds: args.quick ? 0.2 : 0.5 });
  const g = sig(4);
  const rows = peak.all.map((a) => [a.isa + (a.isa === peak.best ? ' (best)' : ''), a.threads, g(median(a.trials)), `${g(Math.min(...a.trials))}–${g(Math.max(...a.trials))}`]);
  const markdown = `## 2b. Float32 FMA peak (probe)

${machineLines(machine)}
- Probe: \`bench/fma-probe.cc\`, built with \`${peak.build}\`; 12 independent accumulator
  chains per thread, FMA = 2 FLOPs per lane (the SSE2 path: a multiply and an add); the
  instruction set is chosen at run time with \`__builtin_cpu_supports\`. Median of ${TRIALS} runs,
  each a fresh process.

${markdownTable(['instruction set', 'threads', 'GFLOP/s (median)', 'range'], rows)}
`;
  writeSection({ name: 'fma-probe', title: 'FMA peak', machine, verdicts: [], data: peak }, markdown, args);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  });
}
