// condiff sample with --class and --guidance (docs/MATH.md §12): a class-conditional mixture
// file, the same bytes as the library, and the flags refused where they mean nothing.
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../support/cli';
import { decodeNpy } from '../../lib/npy';
import { replacement, smc, tds, schedules, ConditionalGaussianMixture } from '../../lib/index';
import { GUIDED } from '../support/guidance-cases';

let dir: string, modelFile: string, plainFile: string, observeFile: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condiff-guidance-'));
  modelFile = path.join(dir, 'model.json');
  plainFile = path.join(dir, 'plain.json');
  observeFile = path.join(dir, 'none.json');
  fs.writeFileSync(modelFile, JSON.stringify(GUIDED));
  const { classes: _classes, ...plain } = GUIDED;
  fs.writeFileSync(plainFile, JSON.stringify(plain));
  fs.writeFileSync(observeFile, JSON.stringify({ indices: [], values: [] }));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const small = ['--steps', '30', '--samples', '8', '--threads', '1', '--seed', '3'];
const read = (file: string) => decodeNpy(fs.readFileSync(file)).data as Float32Array;
const common = { score: ConditionalGaussianMixture.fromJSON(GUIDED), schedule: schedules.ou({ T: 5 }), steps: 30, observed: { indices: [], values: [] }, samples: 8, threads: 1, seed: 3 };

describe('condiff sample --class --guidance', () => {
  test('cfg with replacement writes what the library returns', async () => {
    const out = path.join(dir, 'cfg.npy');
    const r = await runCli(['sample', '--model', modelFile, '--observe', observeFile, '--method', 'replacement', ...small, '--class', '1', '--guidance', 'cfg', '--guidance-scale', '3', '--guidance-rescale', '0.5', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lib = await replacement({ ...common, condition: 1, guidance: { kind: 'cfg', scale: 3, rescale: 0.5 } });
    expect(Array.from(read(out))).toEqual(Array.from(lib.samples));
  });

  test('weighted cfg with smc, and classifier guidance, write what the library returns', async () => {
    const out = path.join(dir, 'w.npy');
    const r = await runCli(['sample', '--model', modelFile, '--observe', observeFile, '--method', 'smc', ...small, '--particles', '8', '--class', '0', '--guidance', 'cfg', '--guidance-scale', '2', '--guidance-weighted', '--out', out]);
    expect(r.code).toBe(0);
    const lib = await smc({ ...common, particles: 8, condition: 0, guidance: { kind: 'cfg', scale: 2, weighted: true } });
    expect(Array.from(read(out))).toEqual(Array.from(lib.samples));
    const out2 = path.join(dir, 'k.npy');
    const r2 = await runCli(['sample', '--model', modelFile, '--observe', observeFile, '--method', 'replacement', ...small, '--class', '0', '--guidance', 'classifier', '--guidance-scale', '2', '--out', out2]);
    expect(r2.code).toBe(0);
    // Classifier guidance with the exact noisy classifier at scale W is CFG at W (docs/MATH.md §12), up to float32 rounding.
    const cfg = await replacement({ ...common, condition: 0, guidance: { kind: 'cfg', scale: 2 } });
    const got = read(out2);
    for (let k = 0; k < got.length; k++) expect(Math.abs(got[k] - cfg.samples[k])).toBeLessThan(1e-4);
  });

  test('weighted cfg with tds writes what the library returns', async () => {
    const out = path.join(dir, 'wt.npy');
    const r = await runCli(['sample', '--model', modelFile, '--observe', observeFile, '--method', 'tds', ...small, '--particles', '8', '--class', '0', '--guidance', 'cfg', '--guidance-scale', '2', '--guidance-weighted', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lib = await tds({ ...common, particles: 8, condition: 0, guidance: { kind: 'cfg', scale: 2, weighted: true } });
    expect(Array.from(read(out))).toEqual(Array.from(lib.samples));
    // Unweighted, the guided chain itself: other draws.
    const plain = await tds({ ...common, particles: 8, condition: 0, guidance: { kind: 'cfg', scale: 2 } });
    expect(Array.from(plain.samples)).not.toEqual(Array.from(lib.samples));
  });

  test('--class alone generates the class', async () => {
    const out = path.join(dir, 'c.npy');
    const r = await runCli(['sample', '--model', modelFile, '--observe', observeFile, '--method', 'replacement', ...small, '--class', '1', '--out', out]);
    expect(r.code).toBe(0);
    const lib = await replacement({ ...common, condition: 1 });
    expect(Array.from(read(out))).toEqual(Array.from(lib.samples));
  });

  test('mistakes are usage errors', async () => {
    const run = (...a: string[]) => runCli(['sample', '--model', modelFile, '--observe', observeFile, '--out', path.join(dir, 'x.npy'), ...small, ...a]);
    const cases: [string[], RegExp][] = [
      [['--method', 'replacement', '--guidance', 'cfg'], /--guidance needs --class/],
      [['--method', 'replacement', '--class', '2'], /--class must be .*1/],
      [['--method', 'replacement', '--class', '0', '--guidance', 'cfg', '--guidance-weighted'], /--guidance-weighted applies only to --method smc or tds/],
      [['--method', 'replacement', '--class', '0', '--guidance-scale', '2'], /--guidance-scale needs --guidance/],
      [['--method', 'replacement', '--class', '0', '--guidance', 'classifier', '--guidance-rescale', '0.5'], /--guidance-rescale applies to --guidance cfg/],
      [['--method', 'pmmh', '--class', '0'], /--class applies to replacement, langevin, repaint, smc and tds, not pmmh/],
      // A queue job carries no class: refused before any connection is tried.
      [['--method', 'replacement', '--class', '0', '--redis', 'redis://127.0.0.1:1'], /--redis runs plain mixtures: a class-conditional model, --class and --guidance run locally only/],
      [['--method', 'replacement', '--redis', 'redis://127.0.0.1:1'], /--redis runs plain mixtures/],
    ];
    for (const [args, message] of cases) {
      const r = await run(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const r = await runCli(['sample', '--model', plainFile, '--observe', observeFile, '--out', path.join(dir, 'x.npy'), ...small, '--method', 'replacement', '--class', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--class needs a class-conditional model: a model file with "classes"/);
  });
});
