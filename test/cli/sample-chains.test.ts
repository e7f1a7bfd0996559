// condiff sample --method particle-gibbs | pmmh (MATH.md §11): the .npy holds the post-burn-in
// draws of every chain, thinned, chain-major (the library's `samples`, bit for bit); the JSON
// summary carries the chain diagnostics; flags that belong to other methods are refused.
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoFiles } from '../support/demo-files';
import { runCli } from '../support/cli';
import { decodeNpy } from '../../lib/npy';
import { particleGibbs, pmmh, GaussianMixture, schedules } from '../../lib/index';
import { DEMO_MODEL, DEMO_OBSERVATION } from '../../lib/cli/demo';

let dir: string;
let modelFile: string;
let observeFile: string;

beforeAll(() => {
  ({ dir, modelFile, observeFile } = writeDemoFiles('condiff-chains-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const small = ['--steps', '25', '--samples', '3', '--particles', '8', '--threads', '2', '--seed', '3', '--sweeps', '12', '--burn-in', '2', '--thin', '3'];
const lib = { score: GaussianMixture.fromJSON(DEMO_MODEL), schedule: schedules.ou({ T: 5 }), kernel: 'euler' as const, steps: 25,
  observed: DEMO_OBSERVATION, samples: 3, particles: 8, threads: 2, seed: 3, sweeps: 12, burnIn: 2, thin: 3 };

describe('condiff sample, chain methods', () => {
  test.each([
    ['particle-gibbs', ['--refresh', 'forward'], () => particleGibbs({ ...lib, refresh: 'forward' })],
    ['pmmh', ['--pcn-beta', '0.5'], () => pmmh({ ...lib, pcnBeta: 0.5 })],
  ] as const)('%s: K * floor((M - B) / T) rows as the library draws them, diagnostics in the summary', async (method, extra, run) => {
    const out = path.join(dir, `${method}.npy`);
    const r = await runCli(['sample', '--model', modelFile, '--observe', observeFile, '--method', method, ...small, ...extra, '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const npy = decodeNpy(fs.readFileSync(out), 'float32');
    expect(npy.shape).toEqual([3 * 3, 3]);
    const expected = await run();
    expect(Buffer.from(npy.data.buffer)).toEqual(Buffer.from(expected.samples.buffer));
    const summary = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({ method, samples: 9, dim: 3, chains: 3, sweeps: 12, burnIn: 2, thin: 3, moveRate: expected.moveRate, coordinates: Array.from(expected.coordinates) });
    expect((summary.iat as number[]).length).toBe(expected.coordinates.length);
    expect((summary.ess as number[]).length).toBe(expected.coordinates.length);
    if (method === 'pmmh') expect(summary).toMatchObject({ pcnBeta: 0.5, acceptanceRate: (expected as { acceptanceRate: number }).acceptanceRate });
    else expect(summary).toMatchObject({ refresh: 'forward', refreshAcceptance: 1 });
  });

  test.each([
    [['--method', 'smc', '--sweeps', '5'], 'condiff: --sweeps applies only to --method particle-gibbs, pmmh, not smc\n'],
    [['--method', 'pmmh', '--refresh', 'mh'], 'condiff: --refresh applies only to --method particle-gibbs, not pmmh\n'],
    [['--method', 'particle-gibbs', '--pcn-beta', '0.5'], 'condiff: --pcn-beta applies only to --method pmmh, not particle-gibbs\n'],
    [['--method', 'replacement', '--particles', '5'], 'condiff: --particles applies only to --method smc or mcgdiff or fps or tds or particle-gibbs or pmmh, not replacement\n'],
    [['--method', 'pmmh', '--resampling', 'systematic'], 'condiff: --resampling applies only to --method smc or mcgdiff or fps or tds, not pmmh\n'],
    [['--method', 'pmmh', '--sweeps', '10', '--burn-in', '10'], 'condiff: --burn-in must be below --sweeps (10), got 10\n'],
    [['--method', 'pmmh', '--sweeps', '10', '--burn-in', '4', '--thin', '7'], 'condiff: --thin must be at most --sweeps minus --burn-in (6), so that one draw is kept, got 7\n'],
    [['--method', 'pmmh', '--pcn-beta', '1'], 'condiff: --pcn-beta must be a number in [0, 1), got 1\n'],
    [['--method', 'particle-gibbs', '--refresh', 'both'], 'condiff: --refresh must be one of mh, forward, got "both"\n'],
    [['--method', 'particle-gibbs', '--context', 'fixed'], "condiff: --context fixed cannot be used with --method particle-gibbs: the particle filter's weights assume the forward (noising) path of the observed coordinates\n"],
    [['--method', 'pmmh', '--sweeps', '70000'], 'condiff: --sweeps must be a positive integer at most 65535, got 70000\n'],
  ])('%j is refused', async (args, message) => {
    const r = await runCli(['sample', '--model', modelFile, '--observe', observeFile, '--out', path.join(dir, 'x.npy'), ...args]);
    expect(r.stderr).toBe(message);
    expect(r.code).toBe(2);
  });
});
