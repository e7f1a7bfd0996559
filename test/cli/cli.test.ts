// The command line run in-process (lib/cli/): condiff sample, its errors and exit
// statuses, internal errors and cancellation, and condiff demo.
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../lib/cli/main';
import { DEMO_OBSERVATION } from '../../lib/cli/demo';
import { writeDemoFiles } from '../support/demo-files';
import { runCli } from '../support/cli';
import { decodeNpy, NPY_ALIGN } from '../../lib/npy';

let dir: string;
let modelFile: string;
let observeFile: string;
const Y = DEMO_OBSERVATION.values[0];

beforeAll(() => {
  ({ dir, modelFile, observeFile } = writeDemoFiles('condiff-cli-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Small, fast settings shared by the sampling tests. */
// 25 steps: OU's Euler step h |f| = 0.2, the finest that passes the step rule (no warning on stderr).
const small = ['--steps', '25', '--samples', '24', '--threads', '2'];

function base(method: string, out: string): string[] {
  return ['sample', '--model', modelFile, '--observe', observeFile, '--method', method, '--out', out];
}

function checkNpy(file: string, rows: number, dim: number): Float32Array {
  const bytes = fs.readFileSync(file);
  const npy = decodeNpy(bytes, 'float32');
  expect(npy.descr).toBe('<f4');
  expect(npy.fortranOrder).toBe(false);
  expect(npy.version).toEqual([1, 0]);
  expect(npy.shape).toEqual([rows, dim]);
  expect(npy.headerLength % NPY_ALIGN).toBe(0);
  expect(npy.data.length).toBe(rows * dim);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < dim; j++) expect(Number.isFinite(npy.data[i * dim + j])).toBe(true);
    // the observed coordinate is filled with its value
    expect(npy.data[i * dim + DEMO_OBSERVATION.indices[0]]).toBe(Math.fround(Y));
  }
  return npy.data;
}

describe('condiff sample', () => {
  const methods: [string, string[]][] = [
    ['replacement', ['--context', 'fixed']],
    ['replacement', []],
    ['langevin', ['--langevin-steps', '2', '--langevin-gamma', '0.2']],
    ['repaint', ['--jumps', '2']],
    ['smc', ['--particles', '8', '--resampling', 'stratified', '--ess-threshold', '0.5']],
    ['smc', ['--schedule', 'vp', '--kernel', 'ddpm', '--particles', '16']],
  ];
  test.each(methods)('%s %j writes a [K, D] float32 .npy and a JSON summary', async (method, extra) => {
    const out = path.join(dir, `out-${method}-${extra.length}.npy`);
    const r = await runCli([...base(method, out), ...small, ...extra]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const summary = JSON.parse(lines[0]);
    expect(Object.keys(summary)).toEqual(['method', 'samples', 'dim', 'seconds', 'meanLogEvidence', 'minEss', 'resamplingCount', 'backend', 'warnings', 'out']);
    expect(summary.warnings).toEqual([]);
    expect(summary).toMatchObject({ method, samples: 24, dim: 3, out: path.resolve(out) });
    expect(summary.seconds).toBeGreaterThanOrEqual(0);
    if (method === 'smc') {
      expect(Number.isFinite(summary.meanLogEvidence)).toBe(true);
      expect(summary.minEss).toBeGreaterThanOrEqual(1);
      expect(Number.isInteger(summary.resamplingCount)).toBe(true);
      if (!extra.includes('--ess-threshold')) expect(summary.resamplingCount).toBeGreaterThan(0); // tau = 1: (almost) every step
      expect(summary.resamplingCount).toBeLessThanOrEqual(25 * 24);
    } else {
      expect(summary.meanLogEvidence).toBeNull();
      expect(summary.minEss).toBeNull();
      expect(summary.resamplingCount).toBeNull();
    }
    checkNpy(out, 24, 3);
    // no temporary file is left behind
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('same seed, same bytes, whatever the thread count; another seed differs', async () => {
    const files = ['a', 'b', 'c'].map((n) => path.join(dir, `seed-${n}.npy`));
    const args = ['--steps', '8', '--samples', '16', '--particles', '8'];
    expect((await runCli([...base('smc', files[0]), ...args, '--seed', '7', '--threads', '1'])).code).toBe(0);
    expect((await runCli([...base('smc', files[1]), ...args, '--seed=7', '--threads=2'])).code).toBe(0);
    expect((await runCli([...base('smc', files[2]), ...args, '--seed', '8'])).code).toBe(0);
    const [a, b, c] = files.map((f) => fs.readFileSync(f));
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
  });

  test('overwrites an existing output file only on success', async () => {
    const out = path.join(dir, 'existing.npy');
    fs.writeFileSync(out, 'old');
    const bad = await runCli([...base('replacement', out), ...small, '--seed', '-1']);
    expect(bad.code).toBe(2);
    expect(fs.readFileSync(out, 'utf8')).toBe('old');
    const good = await runCli([...base('replacement', out), ...small]);
    expect(good.code).toBe(0);
    checkNpy(out, 24, 3);
  });

  test('progress bar on stderr only on a terminal', async () => {
    const quiet = await runCli([...base('replacement', path.join(dir, 'p1.npy')), ...small]);
    expect(quiet.stderr).toBe('');
    const tty = await runCli([...base('replacement', path.join(dir, 'p2.npy')), ...small], { isTTY: true });
    expect(tty.code).toBe(0);
    expect(tty.stderr).toContain('\r');
    expect(tty.stderr).toContain('25/25 steps');
    expect(tty.stdout).not.toContain('\r');
    expect(tty.stderr.endsWith('\r')).toBe(true); // the bar is erased before the summary
  });
});

describe('condiff errors', () => {
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  // [description, argv (out file appended by the test when it uses OUT), expected message]
  const cases: [string, (out: string) => string[], RegExp][] = [
    ['missing --model', (out) => ['sample', '--observe', observeFile, '--method', 'smc', '--out', out], /missing --model/],
    ['missing --out', () => ['sample', '--model', modelFile, '--observe', observeFile, '--method', 'smc'], /missing --out/],
    ['missing --method', (out) => ['sample', '--model', modelFile, '--observe', observeFile, '--out', out], /missing --method/],
    ['wrong method', (out) => [...base('sequential', out)], /--method must be one of replacement, langevin, repaint, smc, mcgdiff, fps, tds, particle-gibbs, pmmh, got "sequential"/],
    ['steps 0', (out) => [...base('smc', out), '--steps', '0'], /^--steps must be a positive integer, got 0$/],
    ['steps 2.5', (out) => [...base('smc', out), '--steps', '2.5'], /--steps must be a positive integer, got 2.5/],
    ['samples not a number', (out) => [...base('smc', out), '--samples', 'many'], /--samples must be a positive integer, got "many"/],
    ['negative seed', (out) => [...base('smc', out), '--seed', '-1'], /--seed must be a non-negative integer, got -1/],
    ['threads 0', (out) => [...base('smc', out), '--threads', '0'], /--threads must be a positive integer, got 0/],
    ['horizon 0', (out) => [...base('replacement', out), '--horizon', '0'], /--horizon must be a positive number, got 0/],
    ['ess threshold 1.5', (out) => [...base('smc', out), '--ess-threshold', '1.5'], /--ess-threshold must be a number in \[0, 1\], got 1.5/],
    ['gamma -1', (out) => [...base('langevin', out), '--langevin-gamma', '-1'], /--langevin-gamma must be a positive number/],
    ['bad schedule', (out) => [...base('smc', out), '--schedule', 've'], /--schedule must be one of ou, vp, got "ve"/],
    ['bad resampling', (out) => [...base('smc', out), '--resampling', 'bogus'], /--resampling must be one of systematic/],
    ['--context fixed with smc', (out) => [...base('smc', out), '--context', 'fixed'], /--context fixed cannot be used with --method smc/],
    ['--particles with replacement', (out) => [...base('replacement', out), '--particles', '8'], /--particles applies only to --method smc/],
    ['--jumps with langevin', (out) => [...base('langevin', out), '--jumps', '3'], /--jumps applies only to --method repaint/],
    ['--langevin-steps with smc', (out) => [...base('smc', out), '--langevin-steps', '3'], /--langevin-steps applies only to --method langevin/],
    ['unknown flag', (out) => [...base('smc', out), '--particle', '8'], /unknown option --particle/],
    ['flag without value', (out) => [...base('smc', out), '--steps'], /--steps needs a value/],
    ['flag given twice', (out) => [...base('smc', out), '--steps', '3', '--steps', '4'], /--steps given more than once/],
    ['stray argument', (out) => [...base('smc', out), 'extra'], /unexpected argument "extra"/],
    ['nonexistent model file', (out) => ['sample', '--model', path.join(dir, 'nope.json'), '--observe', observeFile, '--method', 'smc', '--out', out], /cannot read the model file .*nope\.json.*: no such file/],
    ['nonexistent observation file', (out) => ['sample', '--model', modelFile, '--observe', path.join(dir, 'nope.json'), '--method', 'smc', '--out', out], /cannot read the observation file/],
    ['malformed model JSON', (out) => ['sample', '--model', write('bad.json', '{"weights": [1,'), '--observe', observeFile, '--method', 'smc', '--out', out], /the model file .*bad\.json" is not valid JSON/],
    ['model without means', (out) => ['sample', '--model', write('nomeans.json', '{"weights":[1],"variances":[[1,1]]}'), '--observe', observeFile, '--method', 'smc', '--out', out], /model file .*: means must be an array of arrays, got undefined/],
    ['model with a bad covariance', (out) => ['sample', '--model', write('notpd.json', JSON.stringify({ weights: [1], means: [[0, 0, 0]], covariances: [[[1, 2, 0], [2, 1, 0], [0, 0, 1]]] })), '--observe', observeFile, '--method', 'smc', '--out', out], /positive definite/],
    ['observation without values', (out) => ['sample', '--model', modelFile, '--observe', write('novalues.json', '{"indices":[2]}'), '--method', 'smc', '--out', out], /observation file .* has no "values" field/],
    ['observation index out of range', (out) => ['sample', '--model', modelFile, '--observe', write('far.json', '{"indices":[3],"values":[1]}'), '--method', 'smc', '--out', out], /observed\.indices\[0\] must be an integer in \[0, 3\), got 3/],
    ['observation of every coordinate', (out) => ['sample', '--model', modelFile, '--observe', write('all.json', '{"indices":[0,1,2],"values":[1,2,3]}'), '--method', 'smc', '--out', out], /something must be unobserved/],
    ['output directory missing', () => [...base('smc', path.join(dir, 'no-such-dir', 'x.npy'))], /the directory .* does not exist/],
    ['unknown command', () => ['sampel'], /unknown command "sampel"/],
    ['unknown demo flag', () => ['demo', '--particles', '3'], /unknown option --particles for 'condiff demo'/],
  ];

  test.each(cases)('%s', async (_name, argv, message) => {
    const out = path.join(dir, `err-${_name.replace(/\W+/g, '-')}.npy`);
    const before = new Set(fs.readdirSync(dir));
    const r = await runCli(argv(out));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.startsWith('condiff: ')).toBe(true);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toContain('    at ');
    expect(r.stderr.slice('condiff: '.length).trimEnd()).toMatch(message);
    expect(fs.existsSync(out)).toBe(false);
    const created = fs.readdirSync(dir).filter((f) => !before.has(f) && !f.endsWith('.json'));
    expect(created).toEqual([]);
  });

  test('no command prints the usage on stderr and exits 2; help and --help exit 0', async () => {
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage:');
    for (const argv of [['help'], ['--help'], ['help', 'sample'], ['sample', '--help']]) {
      const r = await runCli(argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('condiff sample --model');
      expect(r.stderr).toBe('');
    }
  });
});

describe('condiff internal errors and cancellation', () => {
  test('an unexpected error is one line, exit 1; CONDIFF_DEBUG adds the stack', async () => {
    for (const debug of [undefined, '1']) {
      let err = '';
      const code = await main(['help'], {
        stdout: {
          write: () => {
            throw new Error('stdout is gone');
          },
        },
        stderr: { write: (s: string) => (err += s) },
        isTTY: false,
        env: { CONDIFF_DEBUG: debug },
      });
      expect(code).toBe(1);
      expect(err.split('\n')[0]).toBe('condiff: internal error: stdout is gone');
      if (debug) expect(err).toContain('    at ');
      else expect(err.trimEnd().split('\n')).toHaveLength(1);
    }
  });

  test('an aborted run exits 130 and writes nothing', async () => {
    const out = path.join(dir, 'aborted.npy');
    const controller = new AbortController();
    controller.abort();
    const r = await runCli([...base('smc', out), ...small], { signal: controller.signal });
    expect(r.code).toBe(130);
    expect(r.stderr).toBe('condiff: interrupted\n');
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('condiff demo', () => {
  test('--quick prints a row per method with distances and the noise floor', async () => {
    const r = await runCli(['demo', '--quick', '--samples', '100', '--threads', '2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^(replacement|langevin|repaint|smc)/.test(l));
    expect(rows).toHaveLength(5);
    for (const row of rows) {
      const nums = row.trim().split(/\s+/).slice(-4).map(Number);
      expect(nums.every(Number.isFinite)).toBe(true);
      expect(nums[0]).toBeGreaterThan(0); // SW2
      expect(nums[1]).toBeGreaterThan(0); // noise floor
    }
  });
});
