/** @jest-environment ./test/support/onnx-environment.js */
// `condiff restore` (lib/cli/restore.ts): a small run's table, PNG grid and JSON table, and its
// usage errors.
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../support/cli';

describe('condiff restore', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condiff-restore-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a small run prints a row per task and method, writes the PNG grid and the JSON table', async () => {
    const png = path.join(dir, 'grid.png'), json = path.join(dir, 'table.json');
    const r = await runCli(['restore', '--digits', '2', '--completions', '3', '--steps', '10', '--particles', '8', '--tasks', 'random,superres', '--show', '1', '--shown', '2', '--threads', '2', '--out', png, '--json', json]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^\| (random|superres) \|/.test(l));
    expect(rows.length).toBe(10);
    const table = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(table.noiseStd).toBe(0.1);
    expect(table.rows.map((x: { task: string; method: string }) => `${x.task}/${x.method}`)).toEqual([
      'random/replacement', 'random/smc', 'random/mcgdiff', 'random/fps', 'random/tds',
      'superres/replacement', 'superres/smc', 'superres/mcgdiff', 'superres/fps', 'superres/tds',
    ]);
    for (const row of table.rows) {
      expect(row.completions).toBe(6);
      expect(row.agreement).toBeGreaterThanOrEqual(0);
      expect(row.agreement).toBeLessThanOrEqual(1);
      expect(Number.isFinite(row.mse)).toBe(true);
      expect(row.spread).toBeGreaterThan(0);
    }
    // Network evaluations per restoration: 10 steps in all (§9.1's grid keeps the total), 8 particles.
    const evaluations = Object.fromEntries(table.rows.filter((x: { task: string }) => x.task === 'superres').map((x: { method: string; evaluations: number }) => [x.method, x.evaluations]));
    expect(evaluations).toEqual({ replacement: 10, smc: 80, mcgdiff: 80, fps: 80, tds: 80 });
    const bytes = fs.readFileSync(png);
    expect(bytes.subarray(1, 4).toString()).toBe('PNG');
    // 2 rows (one digit per task) of 1 + 5 x 2 + 1 cells.
    expect(bytes.readUInt32BE(16)).toBeGreaterThan(12 * 40);
    expect(bytes.readUInt32BE(20)).toBeGreaterThan(2 * 40);
  });

  test('the same seed gives the same table, the table goes to stderr when the JSON takes stdout; --noise 0 runs', async () => {
    const args = ['restore', '--digits', '1', '--completions', '2', '--steps', '8', '--particles', '4', '--tasks', 'top', '--methods', 'smc,fps', '--no-picture', '--threads', '1', '--json', '-'];
    const first = await runCli(args);
    expect(first.stderr).toMatch(/\| top \| smc \| /);
    expect(first.stdout).toBe('');
    const a = JSON.parse(first.data.toString()), b = JSON.parse((await runCli(args)).data.toString());
    expect(b.rows.map((x: { mse: number }) => x.mse)).toEqual(a.rows.map((x: { mse: number }) => x.mse));
    const exact = await runCli([...args.slice(0, -2), '--noise', '0']);
    expect(exact.code).toBe(0);
    expect(exact.stdout).toMatch('noise std 0;');
  });

  test('usage errors', async () => {
    expect((await runCli(['restore', '--tasks', 'top,bottom'])).stderr).toMatch('--tasks must be a comma-separated list of top, left, random, superres, got "bottom"');
    expect((await runCli(['restore', '--methods', 'langevin'])).stderr).toMatch('--methods must be a comma-separated list of replacement, smc, mcgdiff, fps, tds, got "langevin"');
    expect((await runCli(['restore', '--noise', '-0.1', '--no-picture'])).stderr).toMatch('--noise must be a number in [0, 10]');
    expect((await runCli(['restore', '--kappa', '0', '--no-picture'])).stderr).toMatch('--kappa must be a positive number');
    expect((await runCli(['restore', '--digits', '361', '--no-picture'])).code).toBe(2);
    expect((await runCli(['restore', '--steps', '2000', '--no-picture'])).stderr).toMatch('--steps must be a positive integer at most 1000');
    expect((await runCli(['restore', '--model', path.join(dir, 'none.onnx'), '--no-picture'])).stderr).toMatch('cannot read the model file');
    const help = await runCli(['help', 'restore']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch('--tasks T');
  });
});
