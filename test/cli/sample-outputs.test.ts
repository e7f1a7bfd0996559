// condiff sample's extra outputs for smc (--out-evidence, --out-ess: float64 .npy files NumPy
// reads, holding what the library returns), and the help of one command at a time.
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoFiles } from '../support/demo-files';
import { runCli } from '../support/cli';
import { decodeNpy } from '../../lib/npy';
import { smc, GaussianMixture, schedules } from '../../lib/index';
import { DEMO_MODEL, DEMO_OBSERVATION } from '../../lib/cli/demo';

let dir: string;
let modelFile: string;
let observeFile: string;

beforeAll(() => {
  ({ dir, modelFile, observeFile } = writeDemoFiles('condiff-outputs-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

// 25 steps: OU's Euler step at the step rule's limit (no warning on stderr).
const small = ['--steps', '25', '--samples', '12', '--particles', '16', '--threads', '2', '--seed', '3'];

describe('condiff sample --out-evidence, --out-ess', () => {
  test('float64 arrays of the run: log-evidence [samples], ESS [steps, samples], as the library gives them', async () => {
    const files = { out: path.join(dir, 's.npy'), evidence: path.join(dir, 'evidence.npy'), ess: path.join(dir, 'ess.npy') };
    const r = await runCli(['sample', '--model', modelFile, '--observe', observeFile, '--method', 'smc', ...small,
      '--out', files.out, '--out-evidence', files.evidence, '--out-ess', files.ess]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { meanLogEvidence: number; minEss: number; outEvidence: string; outEss: string };
    expect(summary.outEvidence).toBe(path.resolve(files.evidence));
    expect(summary.outEss).toBe(path.resolve(files.ess));
    const evidence = decodeNpy(fs.readFileSync(files.evidence), 'float64');
    const ess = decodeNpy(fs.readFileSync(files.ess), 'float64');
    expect(evidence.shape).toEqual([12]);
    expect(ess.shape).toEqual([25, 12]);
    // The same run through the library: the files hold its arrays bit for bit.
    const lib = await smc({ score: GaussianMixture.fromJSON(DEMO_MODEL), schedule: schedules.ou({ T: 5 }), kernel: 'euler', steps: 25,
      observed: DEMO_OBSERVATION, samples: 12, particles: 16, threads: 2, seed: 3 });
    expect(Buffer.from(evidence.data.buffer)).toEqual(Buffer.from(lib.logEvidence.buffer));
    expect(Buffer.from(ess.data.buffer)).toEqual(Buffer.from(lib.ess.buffer));
    expect(summary.meanLogEvidence).toBeCloseTo(lib.logEvidence.reduce((a, b) => a + b, 0) / 12, 12);
    expect(summary.minEss).toBe(Math.min(...lib.ess));
  });

  test('smc only, different files, checked before sampling', async () => {
    const base = ['sample', '--model', modelFile, '--observe', observeFile, ...small.slice(0, 6)];
    const replacement = await runCli([...base.filter((a, i) => !(a === '--particles' || base[i - 1] === '--particles')), '--method', 'replacement',
      '--out', path.join(dir, 'r.npy'), '--out-evidence', path.join(dir, 'r-e.npy')]);
    expect(replacement.code).toBe(2);
    expect(replacement.stderr).toBe('condiff: --out-evidence applies only to --method smc or mcgdiff or fps or tds, not replacement\n');
    const same = path.join(dir, 'same.npy');
    const twice = await runCli([...base, '--method', 'smc', '--out', same, '--out-ess', same]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/^condiff: --out, --out-evidence and --out-ess must name different files, got ".*same\.npy" twice\n$/);
    const missing = await runCli([...base, '--method', 'smc', '--out', path.join(dir, 'm.npy'), '--out-evidence', path.join(dir, 'no-dir', 'e.npy')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/does not exist/);
    expect(fs.existsSync(path.join(dir, 'm.npy'))).toBe(false);
  });
});

describe('help of one command', () => {
  test('sample --help and help sample print the help of sample only', async () => {
    for (const argv of [['sample', '--help'], ['help', 'sample'], ['sample', '-h']]) {
      const r = await runCli(argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^condiff sample: /);
      expect(r.stdout).toContain('--out-evidence FILE');
      expect(r.stdout).not.toMatch(/^\s*condiff (demo|bench|inpaint|info)\b/m);
    }
  });

  test('demo --help and help demo print the help of demo only; help prints every command', async () => {
    for (const argv of [['demo', '--help'], ['help', 'demo']]) {
      const r = await runCli(argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^condiff demo: /);
      expect(r.stdout).not.toMatch(/^\s*condiff (sample|bench|inpaint|info)\b/m);
    }
    const all = (await runCli(['help'])).stdout;
    for (const command of ['sample', 'demo', 'bench', 'inpaint', 'info']) expect(all).toContain(`condiff ${command}`);
    expect(all).toContain('--out-evidence FILE');
  });

  test('the demo says first how long it will take, and at the end how long it took', async () => {
    const r = await runCli(['demo', '--quick', '--samples', '50', '--threads', '2']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[3]).toMatch(/^expected time: about \d+ s on free cores$/);
    expect(r.stdout).toMatch(/\nTook \d+\.\d s\.\n$/);
  });
});
