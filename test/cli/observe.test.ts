// condiff sample --observe with a noisy mask and a matrix observation (docs/MATH.md §8):
// {"indices","values","noiseStd"} and {"A","y","noiseStd"} (noiseStd default 0), smc and
// replacement on them, and their errors, each naming the file and the field.
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../support/cli';
import { writeDemoFiles } from '../support/demo-files';
import { decodeNpy } from '../../lib/npy';

let dir: string;
let modelFile: string;
beforeAll(() => {
  ({ dir, modelFile } = writeDemoFiles('condiff-observe-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function observe(name: string, json: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof json === 'string' ? json : JSON.stringify(json));
  return file;
}
const small = ['--steps', '25', '--samples', '16', '--threads', '2'];

describe('condiff sample --observe, every form', () => {
  test.each([
    ['a noisy mask, smc', { indices: [2], values: [0.5], noiseStd: 0.2 }, 'smc'],
    ['a matrix, smc', { A: [[1, 0.5, 0], [0, 0, 1]], y: [1, 0.5], noiseStd: 0.1 }, 'smc'],
    ['a noiseless matrix, smc', { A: [[1, 1, 0]], y: [0.3] }, 'smc'],
    ['a matrix, replacement', { A: [[1, 0.5, 0]], y: [1], noiseStd: 0.1 }, 'replacement'],
  ])('%s', async (_name, json, method) => {
    const out = path.join(dir, `${method}-${Math.random().toString(36).slice(2)}.npy`);
    const r = await runCli(['sample', '--model', modelFile, '--observe', observe(`o-${method}.json`, json), '--method', method, '--out', out, ...small, ...(method === 'smc' ? ['--particles', '8'] : [])]);
    expect(r.stderr.replace(/^warning: .*\n/gm, '')).toBe('');
    expect(r.code).toBe(0);
    const npy = decodeNpy(fs.readFileSync(out), 'float32');
    expect(npy.shape).toEqual([16, 3]);
    expect(Array.from(npy.data).every(Number.isFinite)).toBe(true);
  }, 60_000);

  const errors: Array<[string, unknown, RegExp]> = [
    ['an unknown field', { A: [[1, 0, 0]], y: [1], noise: 0.1 }, /has an unknown field "noise"/],
    ['A with the wrong width', { A: [[1, 0]], y: [1] }, /observed\.A\[0\] must be a row of D = 3 numbers/],
    ['a negative noiseStd', { indices: [0], values: [1], noiseStd: -1 }, /observed\.noiseStd must be a non-negative finite number, got -1/],
    ['noiseStd not a number', { indices: [0], values: [1], noiseStd: '0.1' }, /"noiseStd" must be a number, got "0\.1"/],
    ['an infeasible noiseless y', { A: [[1, 0, 0], [2, 0, 0]], y: [1, 1] }, /observed\.y is infeasible with noiseStd = 0/],
    ['y missing', { A: [[1, 0, 0]] }, /has no "y" field/],
  ];
  test.each(errors)('%s is a usage error naming it', async (_name, json, message) => {
    const r = await runCli(['sample', '--model', modelFile, '--observe', observe('bad.json', json), '--method', 'smc', '--out', path.join(os.tmpdir(), 'never.npy')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
