/** @jest-environment ./test/support/onnx-environment.js */
// `condiff inpaint` (lib/cli/inpaint.ts): a small run's table, PNG grid and JSON table, and
// its usage errors.
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../support/cli';

describe('condiff inpaint', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condiff-inpaint-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a small run prints a row per mask and method, writes the PNG grid and the JSON table', async () => {
    const png = path.join(dir, 'grid.png'), json = path.join(dir, 'table.json');
    const r = await runCli(['inpaint', '--digits', '2', '--completions', '3', '--steps', '10', '--particles', '8', '--langevin-steps', '1', '--jumps', '1', '--show', '1', '--shown', '2', '--threads', '2', '--out', png, '--json', json]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^\| (top|left|random) \|/.test(l));
    expect(rows.length).toBe(15);
    const table = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(table.rows.length).toBe(15);
    for (const row of table.rows) {
      expect(row.completions).toBe(6);
      expect(row.agreement).toBeGreaterThanOrEqual(0);
      expect(row.agreement).toBeLessThanOrEqual(1);
      expect(Number.isFinite(row.mse)).toBe(true);
    }
    // Network evaluations per completion: 10 steps, smc 8 particles, tds its default 8, L = U = 1.
    const evaluations = Object.fromEntries(table.rows.filter((x: { mask: string }) => x.mask === 'top').map((x: { method: string; evaluations: number }) => [x.method, x.evaluations]));
    expect(evaluations).toEqual({ replacement: 10, langevin: 20, repaint: 20, smc: 80, tds: 80 });
    const bytes = fs.readFileSync(png);
    expect(bytes.subarray(1, 4).toString()).toBe('PNG');
    // 3 rows (one digit per mask) of 1 + 5 x 2 + 1 cells.
    const width = bytes.readUInt32BE(16), height = bytes.readUInt32BE(20);
    expect(width).toBeGreaterThan(12 * 40);
    expect(height).toBeGreaterThan(3 * 40);
  });

  test('usage errors', async () => {
    expect((await runCli(['inpaint', '--masks', 'top,bottom'])).stderr).toMatch('--masks must be a comma-separated list of top, left, random, got "bottom"');
    expect((await runCli(['inpaint', '--digits', '0'])).code).toBe(2);
    expect((await runCli(['inpaint', '--steps', '2000', '--no-picture'])).stderr).toMatch('--steps must be a positive integer at most 1000');
    expect((await runCli(['inpaint', '--model', path.join(dir, 'none.onnx'), '--no-picture'])).stderr).toMatch('cannot read the model file');
    const help = await runCli(['help', 'inpaint']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch('--particles N');
  });
});
