// `condiff info` and the --backend flag (lib/cli/info.ts, lib/cli/flags.ts): the backends,
// the device and the CPU threads; --backend cuda where no device answers is a usage error
// naming the reason.
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backends, cudaUnavailableReason } from '../../lib/backend';
import { nativeBuild } from '../../lib/native';
import { runCli } from '../support/cli';

const reason = cudaUnavailableReason();
const device = reason === null;

describe('condiff info and --backend', () => {
  test('info prints the backends, the device and the CPU threads', async () => {
    const r = await runCli(['info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^backends: ${backends().available.join(', ')} \\(auto runs on ${backends().auto}\\)`));
    expect(r.stdout).toMatch(device ? /\ncuda: available\n/ : new RegExp(`\\ncuda: unavailable: ${reason!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`));
    expect(r.stdout).toMatch(device ? /\ndevice: .+, compute capability \d+\.\d+, \d+ multiprocessors, memory [\d.]+ GiB \([\d.]+ GiB free\)\n/ : /\ndevice: none\n/);
    expect(r.stdout).toMatch(/\ncpu: .+, \d+ threads/);
    expect(r.stdout).toContain(`threads (the samplers' default --threads), kernels ${nativeBuild.instructionSet}`);
    const json = JSON.parse((await runCli(['info', '--json'])).stdout);
    expect(json.backends).toEqual(backends().available);
    expect(json.cuda.available).toBe(device);
    expect(json.cuda.reason).toBe(reason);
    expect(json.cpu.threads).toBeGreaterThanOrEqual(1);
    expect(json.cpu.instructionSet).toBe(nativeBuild.instructionSet);
    expect(json.cpu.maxInstructionSet).toBe(process.env.CONDIFF_MAX_ISA || null);
    expect((await runCli(['help', 'info'])).stdout).toMatch(/^condiff info/);
    expect((await runCli(['info', '--bogus'])).code).toBe(2);
  });

  test('sample --backend: cpu runs and says so; cuda without a device exits 2 with the reason', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condiff-info-'));
    const file = path.join(dir, 's.npy');
    const base = ['sample', '--model', 'examples/model.json', '--observe', 'examples/observe.json', '--method', 'smc', '--particles', '8', '--samples', '4', '--steps', '4', '--out', file];
    const cpu = await runCli([...base, '--backend', 'cpu']);
    expect(cpu.code).toBe(0);
    expect(JSON.parse(cpu.stdout).backend).toBe('cpu');
    const bad = await runCli([...base, '--backend', 'gpu']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--backend must be one of auto, cpu, cuda, got "gpu"/);
    if (!device) {
      const r = await runCli([...base, '--backend', 'cuda']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`condiff: --backend cuda is not available: ${reason}\n`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
