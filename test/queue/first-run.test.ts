// firstRun: a job's runs split into chunks at any place give the bytes of one call (samples,
// log-evidence, ESS, context path), for every method the queue runs and both observation kinds.
import { describe, expect, test } from '@jest/globals';
import { GaussianMixture, schedules, smc, replacement } from '../../lib/index';
import type { SmcResult, SampleResult } from '../../lib/samplers';
import { DEMO_MODEL, DEMO_OBSERVATION } from '../../lib/cli/demo';

const mixture = GaussianMixture.fromJSON(DEMO_MODEL);
const common = { score: mixture, schedule: schedules.ou({ T: 5 }), steps: 20, seed: 2 ** 33 + 7, threads: 2 };
const dense = { A: [[1, 0.5, 0], [0, 1, -1]], y: [0.3, -0.2], noiseStd: 0.1 };
const K = 7;
// Chunk boundaries: a chunk of one run, uneven chunks, and the whole job in one.
const splits = [[0, 1, 7], [0, 3, 5, 7]];

function bytes(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** The chunks' runs-major arrays concatenated, and their steps x runs arrays interleaved back into steps x K. */
function joinRows<T extends Float32Array | Float64Array>(parts: T[], make: (n: number) => T): T {
  const out = make(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), (at += p.length);
  return out;
}
function joinSteps(parts: Float64Array[], counts: number[]): Float64Array {
  const steps = parts[0].length / counts[0];
  const out = new Float64Array(steps * K);
  let first = 0;
  parts.forEach((p, c) => {
    for (let g = 0; g < steps; g++) out.set(p.subarray(g * counts[c], (g + 1) * counts[c]), g * K + first);
    first += counts[c];
  });
  return out;
}

describe.each([
  ['an exact mask', DEMO_OBSERVATION],
  ['a noisy dense observation', dense],
])('firstRun, %s', (_label, observed) => {
  test.each(splits)('smc split at %p… gives the bytes of one call', async (...cuts: number[]) => {
    const whole = await smc({ ...common, observed, particles: 16, samples: K });
    const parts: SmcResult[] = [];
    for (let i = 0; i + 1 < cuts.length; i++) parts.push(await smc({ ...common, observed, particles: 16, samples: cuts[i + 1] - cuts[i], firstRun: cuts[i] }));
    const counts = parts.map((q) => q.shape[0]);
    expect(bytes(joinRows(parts.map((q) => q.samples), (n) => new Float32Array(n)))).toEqual(bytes(whole.samples));
    expect(bytes(joinRows(parts.map((q) => q.logEvidence), (n) => new Float64Array(n)))).toEqual(bytes(whole.logEvidence));
    expect(bytes(joinRows(parts.map((q) => q.logPy), (n) => new Float64Array(n)))).toEqual(bytes(whole.logPy));
    expect(bytes(joinSteps(parts.map((q) => q.ess), counts))).toEqual(bytes(whole.ess));
  });

  test.each([
    ['replacement', undefined],
    ['langevin', { kind: 'langevin' as const, steps: 2, gamma: 0.1 }],
    ['repaint', { kind: 'repaint' as const, jumps: 2 }],
  ])('%s split into chunks gives the bytes of one call', async (_name, corrector) => {
    const whole = await replacement({ ...common, observed, samples: K, corrector });
    const parts: SampleResult[] = [];
    for (const [a, b] of [[0, 2], [2, 3], [3, 7]]) parts.push(await replacement({ ...common, observed, samples: b - a, firstRun: a, corrector }));
    expect(bytes(joinRows(parts.map((q) => q.samples), (n) => new Float32Array(n)))).toEqual(bytes(whole.samples));
  });
});

describe('firstRun errors', () => {
  test('a negative or fractional firstRun names the option', async () => {
    await expect(smc({ ...common, observed: DEMO_OBSERVATION, particles: 4, samples: 2, firstRun: -1 })).rejects.toThrow(/firstRun/);
    await expect(replacement({ ...common, observed: DEMO_OBSERVATION, samples: 2, firstRun: 1.5 })).rejects.toThrow(/firstRun/);
  });
  test('a chunk past the 32-bit run word is refused', async () => {
    await expect(replacement({ ...common, observed: DEMO_OBSERVATION, samples: 2, firstRun: 2 ** 32 - 1 })).rejects.toThrow(/firstRun/);
  });
});
