// condiff sample --method tds: the twisted filter from the command line, the same bytes as
// the library, a noisy observation from the file's "noiseStd", a noisy matrix observation, and
// its flags refused elsewhere.
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoFiles } from '../support/demo-files';
import { runCli } from '../support/cli';
import { decodeNpy } from '../../lib/npy';
import { tds, GaussianMixture, schedules } from '../../lib/index';
import { DEMO_MODEL, DEMO_OBSERVATION } from '../../lib/cli/demo';

let dir: string;
let modelFile: string;
let observeFile: string;
let noisyFile: string;

beforeAll(() => {
  ({ dir, modelFile, observeFile } = writeDemoFiles('condiff-tds-'));
  noisyFile = path.join(dir, 'noisy.json');
  fs.writeFileSync(noisyFile, JSON.stringify({ ...DEMO_OBSERVATION, noiseStd: 0.2 }));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const small = ['--steps', '25', '--samples', '6', '--particles', '16', '--threads', '2', '--seed', '3'];

describe('condiff sample --method tds', () => {
  test('writes what the library returns for the same problem, noisy observation included', async () => {
    const out = path.join(dir, 't.npy'), evidence = path.join(dir, 't-e.npy');
    const r = await runCli(['sample', '--model', modelFile, '--observe', noisyFile, '--method', 'tds', ...small, '--twist-tau2', '2',
      '--gradient', 'identity', '--out', out, '--out-evidence', evidence]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { method: string; meanLogEvidence: number };
    expect(summary.method).toBe('tds');
    const lib = await tds({ score: GaussianMixture.fromJSON(DEMO_MODEL), schedule: schedules.ou({ T: 5 }), kernel: 'euler', steps: 25,
      observed: { ...DEMO_OBSERVATION, noiseStd: 0.2 }, samples: 6, particles: 16, threads: 2, seed: 3, twistTau2: 2, gradient: 'identity' });
    const samples = decodeNpy(fs.readFileSync(out), 'float32');
    expect(samples.shape).toEqual([6, 3]);
    expect(Buffer.from(samples.data.buffer)).toEqual(Buffer.from(lib.samples.buffer));
    expect(Buffer.from(decodeNpy(fs.readFileSync(evidence), 'float64').data.buffer)).toEqual(Buffer.from(lib.logEvidence.buffer));
  });

  test('a noisy matrix observation {"A", "y", "noiseStd"}: the library\'s bytes', async () => {
    const matrixFile = path.join(dir, 'noisy-matrix.json');
    const A = [[1, 0.5, 0], [0, -0.3, 1]], y = [2.9, 1.5];
    fs.writeFileSync(matrixFile, JSON.stringify({ A, y, noiseStd: 0.3 }));
    const out = path.join(dir, 'm.npy');
    const r = await runCli(['sample', '--model', modelFile, '--observe', matrixFile, '--method', 'tds', ...small, '--gradient', 'exact', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lib = await tds({ score: GaussianMixture.fromJSON(DEMO_MODEL), schedule: schedules.ou({ T: 5 }), kernel: 'euler', steps: 25,
      observed: { A, y, noiseStd: 0.3 }, samples: 6, particles: 16, threads: 2, seed: 3, gradient: 'exact' });
    expect(Buffer.from(decodeNpy(fs.readFileSync(out), 'float32').data.buffer)).toEqual(Buffer.from(lib.samples.buffer));
  });

  test('its flags belong to it; a negative noise is refused', async () => {
    const base = ['sample', '--model', modelFile, '--steps', '25', '--samples', '4'];
    const smcTwist = await runCli([...base, '--observe', observeFile, '--method', 'smc', '--twist-tau2', '2', '--out', path.join(dir, 'x.npy')]);
    expect(smcTwist.stderr).toBe('condiff: --twist-tau2 applies only to --method tds, not smc\n');
    const badGradient = await runCli([...base, '--observe', observeFile, '--method', 'tds', '--gradient', 'newton', '--out', path.join(dir, 'z.npy')]);
    expect(badGradient.code).toBe(2);
    expect(badGradient.stderr).toMatch(/--gradient must be one of auto, exact, vjp, finite-difference, identity, none/);
    const badNoise = path.join(dir, 'bad-noise.json');
    fs.writeFileSync(badNoise, JSON.stringify({ ...DEMO_OBSERVATION, noiseStd: -1 }));
    const negative = await runCli([...base, '--observe', badNoise, '--method', 'tds', '--out', path.join(dir, 'w.npy')]);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toMatch(/noiseStd.*-1/);
  });
});
