// The CLI prints a result's diagnostics to stderr, each line starting `warning:`, and a
// healthy run prints none (README, Diagnostics).
import { afterAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../support/cli';

describe('condiff sample warnings', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condiff-warn-'));
  const model = path.join(dir, 'model.json'), observe = path.join(dir, 'observe.json');
  fs.writeFileSync(model, JSON.stringify({ weights: [1], means: [[0, 0]], covariances: [[[1, 0.9], [0.9, 1]]] }));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('an observation far in the tails: one warning line on stderr, the same sentence in the JSON summary', async () => {
    fs.writeFileSync(observe, JSON.stringify({ indices: [1], values: [30] }));
    const r = await runCli(['sample', '--model', model, '--observe', observe, '--method', 'smc', '--particles', '64', '--samples', '50', '--steps', '100', '--out', path.join(dir, 'a.npy')]);
    expect(r.code).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.length > 0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^warning: smc: the weights collapsed in \d+ of 50 runs/);
    expect(JSON.parse(r.stdout).warnings).toEqual([lines[0].replace(/^warning: smc: /, '')]);
  });

  test('a healthy run prints nothing on stderr', async () => {
    fs.writeFileSync(observe, JSON.stringify({ indices: [1], values: [0.5] }));
    const r = await runCli(['sample', '--model', model, '--observe', observe, '--method', 'smc', '--particles', '64', '--samples', '50', '--steps', '100', '--out', path.join(dir, 'b.npy')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).warnings).toEqual([]);
  });
});
