// `condiff bench` (lib/cli/bench.ts, lib/cli/plots.ts): tiny sweeps, the files they
// write, and the errors for bad lists. The plots are drawn in a child process (vega is an
// ES module, which jest's module system cannot load); everything else runs in-process.
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeDemoFiles } from '../support/demo-files';
import { runCli } from '../support/cli';
import type { BenchResults } from '../../lib/cli/bench';
import { loadPlotLibraries, logLogSpec } from '../../lib/cli/plots';

const ROOT = path.join(__dirname, '..', '..');

let dir: string;
let modelFile: string;
let observeFile: string;

beforeAll(() => {
  ({ dir, modelFile, observeFile } = writeDemoFiles('condiff-bench-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const STEPS = 5, SAMPLES = 16;
const tiny = ['--samples', String(SAMPLES), '--steps', String(STEPS), '--threads', '2'];

function readResults(out: string): BenchResults {
  return JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
}

describe('condiff bench sweeps', () => {
  test('a particle sweep writes results.json with every field, one row per N', async () => {
    const out = path.join(dir, 'smc');
    const r = await runCli(['bench', '--model', modelFile, '--observe', observeFile, '--particles', '4,8', ...tiny, '--out', out, '--no-plots']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/psteps\/s/);
    expect(r.stdout).toMatch(/N=4/);
    const results = readResults(out);
    expect(results.command).toContain('--particles 4,8');
    expect(Number.isNaN(Date.parse(results.date))).toBe(false);
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.problem).toMatchObject({ dim: 3, components: 2, latent: [0, 1] });
    expect(results.settings).toMatchObject({ methods: ['smc'], samples: SAMPLES, steps: STEPS, resampling: 'systematic', essThreshold: 1 });
    expect(results.noiseFloor.replicates).toBe(50);
    expect(results.noiseFloor.value).toBeGreaterThan(0);
    expect(results.plots).toEqual([]);
    expect(results.rows.map((row) => row.particles)).toEqual([4, 8]);
    for (const row of results.rows) {
      expect(row.method).toBe('smc');
      expect(row.seconds).toBeGreaterThan(0);
      expect(row.scoreEvaluationsPerDraw).toBe(row.particles! * STEPS);
      expect(row.particleStepsPerSecond).toBeCloseTo((SAMPLES * row.particles! * STEPS) / row.seconds, 6);
      expect(row.ess!.min).toBeGreaterThanOrEqual(1);
      expect(row.ess!.min).toBeLessThanOrEqual(row.ess!.mean);
      expect(row.ess!.mean).toBeLessThanOrEqual(row.particles! + 1e-9);
      expect(row.resamplingCount).toBe(STEPS * SAMPLES); // essThreshold 1: every step of every run
      expect(Number.isFinite(row.logEvidence!.mean)).toBe(true);
      expect(row.logEvidence!.sd).toBeGreaterThan(0);
      expect(row.sw2).toBeGreaterThan(0);
    }
    expect(fs.readdirSync(out).sort()).toEqual(['results.json']);
  });

  test('every method at once, on the built-in problem; Langevin with L = 0 is replacement', async () => {
    const out = path.join(dir, 'all');
    const argv = ['bench', '--method', 'smc,langevin,replacement,repaint', '--particles', '4', '--langevin-steps', '0,2', '--jumps', '1', ...tiny, '--out', out, '--no-plots'];
    const r = await runCli(argv, { isTTY: true });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('[1/5] smc N=4'); // progress bar on a terminal
    const results = readResults(out);
    expect(results.problem.model).toBe('demo');
    const summary = results.rows.map((row) => [row.method, row.label, row.scoreEvaluationsPerDraw]);
    expect(summary).toEqual([
      ['smc', 'N=4', 4 * STEPS],
      ['langevin', 'L=0', STEPS],
      ['langevin', 'L=2', 3 * STEPS],
      ['replacement', `S=${STEPS}`, STEPS],
      ['repaint', 'U=1', 2 * STEPS],
    ]);
    const [, langevin0, , replacementRow] = results.rows;
    expect(langevin0.sw2).toBe(replacementRow.sw2); // same seed and forward context: the same draws
    expect(replacementRow.ess).toBeNull();
    expect(replacementRow.logEvidence).toBeNull();
    expect(replacementRow.resamplingCount).toBeNull();
  });

  test('draws error and seconds plots as SVG and PNG (child process)', async () => {
    const out = path.join(dir, 'plots');
    const args = ['-r', path.join(ROOT, 'tools', 'register-ts.js'), path.join(ROOT, 'lib', 'cli', 'main.ts'), 'bench', '--particles', '4,8', ...tiny, '--out', out];
    await promisify(execFile)(process.execPath, args, { cwd: ROOT, timeout: 60_000 });
    const results = readResults(out);
    expect(results.plots).toEqual(['error.svg', 'error.png', 'seconds.svg', 'seconds.png']);
    for (const name of ['error', 'seconds']) {
      const svg = fs.readFileSync(path.join(out, `${name}.svg`), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('particles N');
      const png = fs.readFileSync(path.join(out, `${name}.png`));
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    }
    expect(fs.readFileSync(path.join(out, 'error.svg'), 'utf8')).toContain('noise floor');
  });
});

describe('condiff bench errors', () => {
  const bad: [string, string[], RegExp][] = [
    ['a non-number in a list', ['--particles', '16,x'], /--particles must be a comma-separated list of positive integers, got "16,x": "x" is not a positive integer/],
    ['an empty entry', ['--particles', '16,,64'], /got "16,,64": an empty entry/],
    ['zero particles', ['--particles', '0,4'], /"0" is not a positive integer/],
    ['a repeated value', ['--particles', '4,4'], /--particles lists 4 more than once/],
    ['a negative Langevin step count', ['--method', 'langevin', '--langevin-steps', '1,-1'], /--langevin-steps must be a comma-separated list of non-negative integers/],
    ['a fractional jump count', ['--method', 'repaint', '--jumps', '1.5'], /--jumps must be a comma-separated list of non-negative integers/],
    ['an unknown method', ['--method', 'smc,foo'], /--method must be one of smc, langevin, repaint, replacement/],
    ['a repeated method', ['--method', 'smc,smc'], /--method lists a method more than once/],
    ['a sweep of a method not run', ['--jumps', '1,2'], /--jumps applies only to --method repaint/],
    ['--context with the filter alone', ['--context', 'fixed'], /--context applies only to replacement, langevin and repaint/],
    ['too many rows', ['--particles', '1000000', '--samples', '10000'], /must be at most 2\^31 - 1/],
    ['a model without an observation', ['--model', 'model.json'], /give both --model and --observe, or neither/],
    ['an unknown option', ['--bogus', '1'], /unknown option --bogus for 'condiff bench'/],
  ];
  test.each(bad)('%s', async (_what, argv, message) => {
    const r = await runCli(['bench', ...argv, '--out', path.join(dir, 'unused'), '--no-plots']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('an --out that is a file', async () => {
    const r = await runCli(['bench', '--out', modelFile, '--no-plots']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot write to --out .*: it is not a directory/);
  });

  test('help', async () => {
    for (const argv of [['help', 'bench'], ['bench', '--help']]) {
      const r = await runCli(argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^condiff bench: the particle-count study/);
    }
    expect((await runCli(['help'])).stdout).toMatch(/condiff bench/);
  });
});

describe('plots', () => {
  test('a missing vega or sharp is an error that says what to install', async () => {
    const missing = async (name: string) => {
      throw Object.assign(new Error(`Cannot find package '${name}' imported from here`), { code: 'ERR_MODULE_NOT_FOUND' });
    };
    await expect(loadPlotLibraries(missing)).rejects.toMatchObject({
      name: 'MissingDependencyError',
      message: expect.stringMatching(/npm install vega sharp.*--no-plots/),
    });
    const broken = async () => {
      throw new SyntaxError('something else');
    };
    await expect(loadPlotLibraries(broken)).rejects.toMatchObject({ name: 'SyntaxError' });
  });

  test('the spec leaves out points that cannot sit on log axes; one-point series may be flat lines', () => {
    const points = [
      { series: 'a', x: 1, y: 2, label: '' },
      { series: 'a', x: 10, y: 0, label: '' },
      { series: 'a', x: 100, y: 1, label: '' },
      { series: 'b', x: 5, y: 3, label: 'S=5' },
    ];
    const data = (spec: ReturnType<typeof logLogSpec>, name: string) => (spec.data ?? []).find((d) => d.name === name) as { values: unknown[] };
    const flat = logLogSpec({ title: 't', xTitle: 'x', yTitle: 'y', points, singlePointsAsLines: true, reference: { y: 0.5, label: 'floor' } });
    expect(data(flat, 'points').values).toHaveLength(3);
    expect(data(flat, 'lines').values).toHaveLength(2);
    expect(data(flat, 'flat').values).toEqual([points[3]]);
    expect(data(flat, 'reference').values).toHaveLength(1);
    const plain = logLogSpec({ title: 't', xTitle: 'x', yTitle: 'y', points });
    expect(data(plain, 'flat').values).toEqual([]);
    expect(data(plain, 'reference').values).toEqual([]);
  });
});
