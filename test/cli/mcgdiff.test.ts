// condiff sample --method mcgdiff and --method fps (docs/MATH.md §9.2, §9.3): the same bytes as the
// library, --kappa and --final-weight passed on, their flags refused elsewhere, and the library's
// refusals reported as usage errors.
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoFiles } from '../support/demo-files';
import { runCli } from '../support/cli';
import { decodeNpy } from '../../lib/npy';
import { mcgdiff, fps, GaussianMixture, schedules } from '../../lib/index';
import { DEMO_MODEL } from '../../lib/cli/demo';

let dir: string;
let modelFile: string;
let matrixFile: string;
let noiselessFile: string;
const observed = { A: [[1, 0.5, 0], [0, -0.7, 1]], y: [0.3, -0.2], noiseStd: 0.2 };

beforeAll(() => {
  ({ dir, modelFile } = writeDemoFiles('condiff-mcgdiff-'));
  matrixFile = path.join(dir, 'matrix.json');
  fs.writeFileSync(matrixFile, JSON.stringify(observed));
  noiselessFile = path.join(dir, 'noiseless.json');
  fs.writeFileSync(noiselessFile, JSON.stringify({ A: [[1, 0.5, 0]], y: [0.3] }));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const small = ['--steps', '25', '--samples', '6', '--particles', '16', '--threads', '2', '--seed', '3'];
const lib = { score: GaussianMixture.fromJSON(DEMO_MODEL), schedule: schedules.ou({ T: 5 }), kernel: 'euler' as const, steps: 25, samples: 6, particles: 16, threads: 2, seed: 3 };

describe('condiff sample --method mcgdiff | fps', () => {
  test('mcgdiff: the library\'s draws and evidence, with --kappa and --final-weight off', async () => {
    const out = path.join(dir, 'm.npy'), evidence = path.join(dir, 'm-e.npy');
    const r = await runCli(['sample', '--model', modelFile, '--observe', matrixFile, '--method', 'mcgdiff', ...small, '--kappa', '0.001', '--final-weight', 'off', '--out', out, '--out-evidence', evidence]);
    expect(r.stderr.replace(/^warning: .*\n/gm, '')).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).method).toBe('mcgdiff');
    const want = await mcgdiff({ ...lib, observed, kappa: 0.001, finalWeight: false });
    expect(Buffer.from(decodeNpy(fs.readFileSync(out), 'float32').data.buffer)).toEqual(Buffer.from(want.samples.buffer));
    expect(Buffer.from(decodeNpy(fs.readFileSync(evidence), 'float64').data.buffer)).toEqual(Buffer.from(want.logEvidence.buffer));
  }, 60_000);

  test('fps: the library\'s draws', async () => {
    const out = path.join(dir, 'f.npy');
    const r = await runCli(['sample', '--model', modelFile, '--observe', matrixFile, '--method', 'fps', ...small, '--out', out]);
    expect(r.code).toBe(0);
    const want = await fps({ ...lib, observed });
    expect(Buffer.from(decodeNpy(fs.readFileSync(out), 'float32').data.buffer)).toEqual(Buffer.from(want.samples.buffer));
  }, 60_000);

  test('flags: --kappa and --final-weight belong to mcgdiff; bad values and refusals are usage errors', async () => {
    const base = ['sample', '--model', modelFile, '--observe', matrixFile, '--steps', '25', '--samples', '4'];
    const smcKappa = await runCli([...base, '--method', 'smc', '--kappa', '0.01', '--out', path.join(dir, 'x.npy')]);
    expect(smcKappa.stderr).toBe('condiff: --kappa applies only to --method mcgdiff, not smc\n');
    const fpsWeight = await runCli([...base, '--method', 'fps', '--final-weight', 'on', '--out', path.join(dir, 'x.npy')]);
    expect(fpsWeight.stderr).toBe('condiff: --final-weight applies only to --method mcgdiff, not fps\n');
    const badKappa = await runCli([...base, '--method', 'mcgdiff', '--kappa', '-1', '--out', path.join(dir, 'x.npy')]);
    expect(badKappa.code).toBe(2);
    expect(badKappa.stderr).toMatch(/--kappa/);
    const badWeight = await runCli([...base, '--method', 'mcgdiff', '--final-weight', 'yes', '--out', path.join(dir, 'x.npy')]);
    expect(badWeight.code).toBe(2);
    expect(badWeight.stderr).toMatch(/--final-weight must be one of on, off/);
    const noiseless = await runCli(['sample', '--model', modelFile, '--observe', noiselessFile, '--steps', '25', '--samples', '4', '--method', 'mcgdiff', '--final-weight', 'on', '--out', path.join(dir, 'x.npy')]);
    expect(noiseless.code).toBe(2);
    expect(noiseless.stderr).toMatch(/finalWeight must be false \(or left out\) with noiseStd = 0/);
    const context = await runCli([...base, '--method', 'mcgdiff', '--context', 'forward', '--out', path.join(dir, 'x.npy')]);
    expect(context.code).toBe(2);
    expect(context.stderr).toMatch(/--context applies to replacement, langevin, repaint and smc, not mcgdiff/);
  }, 60_000);
});
