// The CPU kernels' instruction set (native/core/isa.h): the addon reports the one it runs,
// CONDIFF_MAX_ISA caps it, and every set gives the same bytes end to end: the samplers'
// samples and log-evidence on every score path of the built-in mixture, and the SVD filter's
// pin, run in child processes capped at each set this CPU has, hash alike (mixture_test test_instruction_sets compares the
// kernels themselves, block by block).
import { describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native, nativeBuild, INSTRUCTION_SETS, InstructionSet } from '../../lib/native';

const ROOT = path.join(__dirname, '..', '..');

// What the CPU offers, read from the kernel's flags (Linux x86-64), independently of isa.h.
function cpuSets(): InstructionSet[] {
  let flags: string[] = [];
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    flags = line ? line.split(':')[1].trim().split(/\s+/) : [];
  } catch {
    return [];
  }
  const sets: InstructionSet[] = ['baseline'];
  if (flags.includes('avx2') && flags.includes('fma')) sets.unshift('avx2');
  if (flags.includes('avx512f')) sets.unshift('avx512');
  return sets;
}

// Samples and log-evidence of smc and replacement on each score path, as one hash a line.
const SCRIPT = `
  const { createHash } = require('node:crypto');
  const { smc, replacement, GaussianMixture, schedules } = require('./lib/index');
  const { nativeBuild } = require('./lib/native');
  const grid = (d, j) => Array.from({ length: d }, (_, k) => 2 * ((k % 2 === 0 ? Math.floor(j / 5) : j % 5) - 2));
  const models = [];
  for (const d of [17, 80]) {
    const J = 25;
    const means = Array.from({ length: J }, (_, j) => grid(d, j));
    const ones = Array.from({ length: J }, () => new Array(d).fill(1));
    models.push(['isotropic', d, { weights: new Array(J).fill(1), means, variances: ones }]);
    models.push(['diagonal', d, { weights: new Array(J).fill(1), means, variances: ones.map((v, j) => v.map((_, k) => 0.5 + ((j + k) % 5) * 0.2)) }]);
    models.push(['shared', d, { weights: new Array(J).fill(1), means, variances: ones.map((v) => v.map((_, k) => 0.5 + (k % 3) * 0.25)) }]);
  }
  const d = 9, J = 4;
  const cov = (j) => Array.from({ length: d }, (_, r) => Array.from({ length: d }, (_, c) => (r === c ? 1 + 0.1 * j : Math.abs(r - c) === 1 ? 0.3 : 0)));
  models.push(['dense', d, { weights: [1, 2, 3, 4], means: Array.from({ length: J }, (_, j) => grid(d, j)), covariances: Array.from({ length: J }, (_, j) => cov(j)) }]);
  (async () => {
    const lines = [];
    for (const [name, dim, spec] of models) {
      const m = GaussianMixture.fromJSON(spec);
      const k = Math.floor(dim / 4);
      const observed = { indices: Array.from({ length: k }, (_, i) => i), values: Array.from({ length: k }, (_, i) => (i % 3) - 1) };
      const common = { score: m, schedule: schedules.ou({ T: 5 }), observed, threads: 2, seed: 11, steps: 12 };
      for (const method of ['smc', 'replacement']) {
        const r = method === 'smc' ? await smc({ ...common, particles: 16, samples: 24 }) : await replacement({ ...common, samples: 200 });
        const h = createHash('sha256');
        h.update(Buffer.from(r.samples.buffer, r.samples.byteOffset, r.samples.byteLength));
        if (r.logEvidence) h.update(Buffer.from(Float64Array.from(r.logEvidence).buffer));
        lines.push(method + ' ' + name + ' (' + m.scorePath + ') D=' + dim + ' ' + h.digest('hex'));
      }
    }
    // The SVD filter's pin (native/core/subspace.cc lift_one, per set): D = 83 (two 32- and one
    // 16-coordinate chunk on each set's width, and a tail), 7 of 9 directions, 3 runs x 5.
    const { native } = require('./lib/native');
    const u = (i) => Math.sin(12.9898 * i) * 43758.5453 % 1;
    const D = 83, R = 9, P = 5, RUNS = 3;
    const vt = Float64Array.from({ length: R * D }, (_, i) => u(i + 1) / 4);
    const index = Int32Array.of(8, 0, 3, 5, 1, 7, 2);
    const z = Float32Array.from({ length: RUNS * P * D }, (_, i) => 4 * u(i + 7000));
    const targets = Float32Array.from({ length: RUNS * index.length }, (_, i) => u(i + 9000));
    await native.svdPin(z, vt, index, targets, P, 2);
    lines.push('svdPin D=83 ' + createHash('sha256').update(Buffer.from(z.buffer)).digest('hex'));
    console.log(JSON.stringify({ set: nativeBuild.instructionSet, cap: nativeBuild.maxInstructionSet, lines }));
  })().catch((e) => { console.error(e); process.exit(1); });`;

function runCapped(cap: InstructionSet | null): { set: InstructionSet; cap: InstructionSet | null; lines: string[] } {
  const env = { ...process.env };
  delete env.CONDIFF_MAX_ISA;
  if (cap !== null) env.CONDIFF_MAX_ISA = cap;
  const out = execFileSync(process.execPath, ['-r', './tools/register-ts.js', '-e', SCRIPT], { cwd: ROOT, env, encoding: 'utf8' });
  return JSON.parse(out);
}

describe('the CPU kernels’ instruction set', () => {
  test('the addon reports the widest set the CPU has', () => {
    expect(INSTRUCTION_SETS).toContain(native.instructionSet);
    expect(nativeBuild.instructionSet).toBe(native.instructionSet);
    const sets = cpuSets();
    if (process.env.CONDIFF_MAX_ISA) {
      expect(nativeBuild.maxInstructionSet).toBe(process.env.CONDIFF_MAX_ISA);
    } else if (sets.length > 0) {
      expect(nativeBuild.maxInstructionSet).toBeNull();
      expect(native.instructionSet).toBe(sets[0]);
    }
  });

  test('CONDIFF_MAX_ISA: any other value is refused before the addon loads', () => {
    for (const bad of ['avx', 'AVX2', 'sse2']) {
      const r = spawnSync(process.execPath, ['-r', './tools/register-ts.js', '-e', "require('./lib/index')"], {
        cwd: ROOT,
        env: { ...process.env, CONDIFF_MAX_ISA: bad },
        encoding: 'utf8',
      });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`condiff: CONDIFF_MAX_ISA must be one of avx512, avx2, baseline, got ${JSON.stringify(bad)}`);
    }
  });

  test('a CUDA build older than the library (no instruction set): auto runs on the CPU and says why; cuda refuses', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condiff-old-addon-'));
    const file = path.join(dir, 'old_cuda.js');
    fs.writeFileSync(file, "module.exports = { cuda: { query: () => ({ available: true, reason: null }) } };\n");
    const info = (mode: string) =>
      spawnSync(process.execPath, ['-r', './tools/register-ts.js', 'lib/cli/main.ts', 'info', '--json'], {
        cwd: ROOT,
        env: { ...process.env, CONDIFF_NATIVE: mode, CONDIFF_CUDA_ADDON: file },
        encoding: 'utf8',
      });
    const auto = info('auto');
    expect(auto.status).toBe(0);
    const report = JSON.parse(auto.stdout);
    expect(report.addon).toBe('cpu');
    expect(report.cuda.reason).toContain('is older than this library (it does not report its instruction set): rebuild it (npm run build:cuda)');
    const cuda = info('cuda');
    expect(cuda.status).not.toBe(0);
    expect(cuda.stderr).toContain('could not be loaded (it is older than this library');
    // A build with the instruction set but without a later export is older too.
    fs.writeFileSync(file, "module.exports = { cuda: { query: () => ({ available: true, reason: null }) }, instructionSet: 'avx512', instructionSetCap: null };\n");
    const later = info('auto');
    expect(later.status).toBe(0);
    expect(JSON.parse(later.stdout).cuda.reason).toContain('is older than this library (it has no svdPathCorrection): rebuild it (npm run build:cuda)');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a Worker given its own CONDIFF_MAX_ISA reports and runs what the process read', () => {
    const register = JSON.stringify(path.join(ROOT, 'tools/register-ts.js'));
    const lib = JSON.stringify(path.join(ROOT, 'lib/native'));
    const inWorker = `require(${register}); const { nativeBuild } = require(${lib});
      require('node:worker_threads').parentPort.postMessage({ set: nativeBuild.instructionSet, cap: nativeBuild.maxInstructionSet, env: process.env.CONDIFF_MAX_ISA });`;
    const script = `
      const { Worker } = require('node:worker_threads');
      const { nativeBuild } = require('./lib/native');
      const w = new Worker(${JSON.stringify(inWorker)}, { eval: true, env: { ...process.env, CONDIFF_MAX_ISA: 'baseline' } });
      w.on('message', (m) => { console.log(JSON.stringify({ set: nativeBuild.instructionSet, worker: m })); w.terminate(); });
      w.on('error', (e) => { console.error(e); process.exit(1); });`;
    const env = { ...process.env };
    delete env.CONDIFF_MAX_ISA;
    const out = JSON.parse(execFileSync(process.execPath, ['-r', './tools/register-ts.js', '-e', script], { cwd: ROOT, env, encoding: 'utf8' }));
    expect(out.worker).toEqual({ set: out.set, cap: null, env: 'baseline' });
  });

  test('every set this CPU has gives the same samples and log-evidence on every score path', () => {
    const sets = cpuSets();
    if (sets.length === 0) {
      console.log('no /proc/cpuinfo flags: only the running set is checked');
      sets.push(native.instructionSet);
    }
    const runs = sets.map((s) => runCapped(s));
    runs.forEach((r, i) => {
      expect(r.set).toBe(sets[i]);
      expect(r.cap).toBe(sets[i]);
    });
    const want: string[] = [];
    for (const d of [17, 80]) for (const p of ['isotropic', 'diagonal', 'shared']) for (const m of ['smc', 'replacement']) want.push(`${m} ${p} (${p}) D=${d}`);
    want.push('smc dense (dense) D=9', 'replacement dense (dense) D=9', 'svdPin D=83');
    expect(runs[0].lines.map((l) => l.split(' ').slice(0, l.startsWith('svdPin') ? 2 : 4).join(' '))).toEqual(want);
    for (let i = 1; i < runs.length; ++i) expect(runs[i].lines).toEqual(runs[0].lines);
  }, 120_000);
});
