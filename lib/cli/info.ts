// `condiff info`: the backends this install can use (lib/backend.ts), the CUDA device's
// name and memory, and the CPU threads; `--json` prints the same as one JSON object.
import * as os from 'node:os';
import * as path from 'node:path';
import { backends } from '../backend';
import { native, InstructionSet } from '../native';
import { defaultThreads } from '../threads';
import { CliIO } from './io';
import { parseFlags } from './flags';

export const INFO_USAGE = `condiff info: the backends this install can use, the CUDA device and the CPU threads.

Usage:
  condiff info [--json]

  --json    one JSON object instead of text

Backends: 'cpu' always; 'cuda' when the CUDA-enabled addon is built (in a clone: npm run build:cuda;
an installed package loads one named by CONDIFF_CUDA_ADDON) and a device answers. Samplers and
building blocks take backend 'auto' (CUDA when available, else the CPU), 'cpu' or 'cuda'; the
CLI takes --backend. CONDIFF_NATIVE=cpu|cuda|auto chooses the
addon that is loaded (cuda: the CUDA build even with no device, its CPU operations serving 'cpu').
The CPU kernels run the widest instruction set the CPU has (avx512, avx2 with FMA, baseline);
CONDIFF_MAX_ISA=avx2|baseline caps it, to run or time a narrower set: every set gives the same bytes.`;

/** Bytes as GiB with one decimal. */
function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export interface InfoReport {
  backends: Array<'cpu' | 'cuda'>;
  auto: 'cpu' | 'cuda';
  cuda: {
    available: boolean;
    reason: string | null;
    build: string | null;
    device: { name: string; computeCapability: string | null; multiprocessors: number; totalMemory: number; freeMemory: number | null } | null;
    runtimeVersion: number | null;
    driverVersion: number | null;
  };
  addon: 'cpu' | 'cuda';
  nativeMode: 'auto' | 'cpu' | 'cuda';
  /** instructionSet: what the CPU kernels run (every set gives the same bytes); maxInstructionSet: CONDIFF_MAX_ISA. */
  cpu: { model: string; threads: number; instructionSet: InstructionSet; maxInstructionSet: InstructionSet | null };
  node: string;
  platform: string;
}

export function infoReport(): InfoReport {
  const b = backends();
  const q = b.native.cuda.query;
  // The free memory needs a CUDA context, which loading the addon does not create: info
  // asks for it only when it reports a usable device.
  const freeMemory = b.cudaReason === null ? (native.cuda?.query({ freeMemory: true }).freeMemory ?? null) : null;
  const cpus = os.cpus();
  return {
    backends: b.available,
    auto: b.auto,
    cuda: {
      available: b.cudaReason === null,
      reason: b.cudaReason,
      build: b.native.cuda.path,
      device: q?.name ? { name: q.name, computeCapability: q.computeCapability, multiprocessors: q.multiprocessors, totalMemory: q.totalMemory, freeMemory } : null,
      runtimeVersion: q?.runtimeVersion ?? null,
      driverVersion: q?.driverVersion ?? null,
    },
    addon: b.native.kind,
    nativeMode: b.native.mode,
    cpu: {
      model: cpus[0]?.model?.trim() ?? 'unknown',
      threads: defaultThreads(),
      instructionSet: b.native.instructionSet,
      maxInstructionSet: b.native.maxInstructionSet,
    },
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

export async function infoCommand(args: readonly string[], io: CliIO): Promise<number> {
  const flags = parseFlags(args, { json: 'switch', help: 'switch' }, 'info');
  if (flags.has('help')) {
    io.stdout.write(INFO_USAGE + '\n');
    return 0;
  }
  const r = infoReport();
  if (flags.has('json')) {
    io.stdout.write(JSON.stringify(r) + '\n');
    return 0;
  }
  const version = (v: number | null) => (v ? `${Math.floor(v / 1000)}.${(v % 1000) / 10}` : 'none');
  const lines = [
    `backends: ${r.backends.join(', ')} (auto runs on ${r.auto})`,
    r.cuda.available ? 'cuda: available' : `cuda: unavailable: ${r.cuda.reason}`,
    `addon: ${r.addon === 'cuda' ? `the CUDA build (${path.relative(process.cwd(), r.cuda.build ?? '') || r.cuda.build})` : 'the CPU build (binding.gyp)'}` +
      (r.nativeMode !== 'auto' ? `, chosen by CONDIFF_NATIVE=${r.nativeMode}` : ''),
  ];
  if (r.cuda.build && r.addon !== 'cuda') lines.push(`CUDA build: ${r.cuda.build} (not in use)`);
  if (r.cuda.runtimeVersion !== null) lines.push(`CUDA runtime ${version(r.cuda.runtimeVersion)} (static), driver ${version(r.cuda.driverVersion)}`);
  const d = r.cuda.device;
  lines.push(
    d
      ? `device: ${d.name}, compute capability ${d.computeCapability}, ${d.multiprocessors} multiprocessors, memory ${gib(d.totalMemory)}${d.freeMemory === null ? '' : ` (${gib(d.freeMemory)} free)`}`
      : 'device: none',
  );
  lines.push(
    `cpu: ${r.cpu.model}, ${r.cpu.threads} threads (the samplers' default --threads), kernels ${r.cpu.instructionSet}` +
      (r.cpu.maxInstructionSet !== null ? ` (CONDIFF_MAX_ISA=${r.cpu.maxInstructionSet})` : ''),
  );
  io.stdout.write(lines.join('\n') + '\n');
  return 0;
}
