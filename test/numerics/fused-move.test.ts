// Replacement's fused step (native moveStep, native/core/smc_step.h move_step): on the CPU
// the kernel mean and the move run as one job, a block of rows at a time, with the built-in
// mixture scored inside it. Everything must be the bytes, and the errors the messages, of
// the separate operations (score, kernelMean, propagate), which are forced by taking the
// fused step off the CPU backend for one call.
import { describe, expect, test } from '@jest/globals';
import { selectBackend } from '../../lib/backend';
import { GaussianMixture } from '../../lib/mixture';
import { native } from '../../lib/native';
import { replacement, ReplacementOptions } from '../../lib/samplers';
import { schedules } from '../../lib/schedules';
import type { ScoreContext } from '../../lib/score';

const bytes = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** The options run once as they are and once without the CPU backend's moveStep. */
async function bothWays<T>(run: () => Promise<T>): Promise<{ fused: T; separate: T }> {
  const cpu = selectBackend('cpu') as { moveStep?: unknown };
  const moveStep = cpu.moveStep;
  expect(typeof moveStep).toBe('function');
  const fused = await run();
  cpu.moveStep = undefined;
  try {
    return { fused, separate: await run() };
  } finally {
    cpu.moveStep = moveStep;
  }
}

async function outcome(options: ReplacementOptions): Promise<string> {
  try {
    return bytes((await replacement(options)).samples).toString('base64');
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

function mixture(kind: 'isotropic' | 'dense', D: number): GaussianMixture {
  const J = 4;
  const means = Array.from({ length: J }, (_, j) => Array.from({ length: D }, (_, k) => ((j * 7 + k * 3) % 11) / 3 - 1.5));
  if (kind === 'dense') {
    return GaussianMixture.fromJSON({
      weights: [1, 2, 3, 1],
      means,
      covariances: means.map((_, j) => Array.from({ length: D }, (_, a) => Array.from({ length: D }, (_, b) => (a === b ? 1 + j / 4 : 0.2 / (1 + Math.abs(a - b)))))),
    });
  }
  return GaussianMixture.fromJSON({ weights: [1, 2, 3, 1], means, variances: means.map((_, j) => Array.from({ length: D }, () => 0.5 + j / 4)) });
}

/** The same mixture as a score callback: the driver scores before the step, and moveStep takes the score. */
function callback(gm: GaussianMixture) {
  return { dim: gm.dim, score: async (z: Float32Array, _t: number, context: ScoreContext) => {
    const out = new Float32Array(z.length);
    await gm.scoreInto(z, context, out, 1);
    return out;
  } };
}

describe('replacement: the fused move step gives the bytes of the separate operations', () => {
  // D = 8: sixteen samples' normals at a time (a run's normals fit 256 elements), blocks of
  // 256 rows; D = 300: each sample's normals on its own, blocks of 16 rows; 37 samples: a
  // partial last block on both.
  const cases: Array<[string, 'isotropic' | 'dense', number, number]> = [
    ['isotropic D = 8, 3000 samples', 'isotropic', 8, 3000],
    ['isotropic D = 300, 37 samples', 'isotropic', 300, 37],
    ['dense D = 6, 700 samples', 'dense', 6, 700],
  ];
  test.each(cases)('%s: the mixture scored inside, a callback, the last step noised or not, correctors, 1 and 2 threads', async (_, kind, D, samples) => {
    const gm = mixture(kind, D);
    const base: ReplacementOptions = { score: gm, schedule: schedules.ou({ T: 4 }), observed: { indices: [0, 2], values: [0.3, -0.7] }, steps: 6, samples, seed: 7, threads: 2 };
    const variants: ReplacementOptions[] = [
      base,
      { ...base, threads: 1 },
      { ...base, score: callback(gm) },
      { ...base, finalNoise: true, context: 'fixed' },
      { ...base, corrector: { kind: 'langevin', steps: 1, snr: 0.1 } },
      { ...base, corrector: { kind: 'repaint', jumps: 1 } },
    ];
    const reference = await outcome(base);
    expect(reference).not.toMatch(/Error/);
    for (const options of variants) {
      const { fused, separate } = await bothWays(() => outcome(options));
      expect(fused).toBe(separate);
      if (options.threads === 1) expect(fused).toBe(reference);
    }
  });

  test('a non-finite score of the mixture: the same error, naming the same step, row and coordinate', async () => {
    // A component mean near float32's largest value: the score is NaN from the first step.
    const gm = GaussianMixture.fromJSON({ weights: [1, 1], means: [[0, 0, 3e37], [0, 0, 0]], variances: [[1, 1, 1], [1, 1, 1]] });
    const { fused, separate } = await bothWays(() => outcome({ score: gm, schedule: schedules.ou({ T: 3 }), observed: { indices: [2], values: [0] }, steps: 8, samples: 500, threads: 2, seed: 1 }));
    expect(fused).toMatch(/^RangeError: the score must be finite at step 1 of 8 \(t = 3\), got NaN at row 0, coordinate 0$/);
    expect(separate).toBe(fused);
  });

  test('a kernel mean that overflows in one late row: the same error, naming that row', async () => {
    // OU T = 5 in 3 steps: mu = (1 + h) z + 2h s with h = 5/3 overflows float32 for s = 3e38.
    // Rows 1000 and 1700 (blocks apart, on both threads) overflow at step 2; the first is named.
    const score = (z: Float32Array, _t: number, context: ScoreContext) => {
      const out = new Float32Array(z.length).fill(0.5);
      if (context.t < 5) for (const row of [1700, 1000]) out[row * 4 + 1] = 3e38;
      return out;
    };
    const { fused, separate } = await bothWays(() => outcome({ score, dim: 4, schedule: schedules.ou({ T: 5 }), observed: { indices: [3], values: [0] }, steps: 3, samples: 2000, threads: 2, seed: 3 }));
    expect(fused).toMatch(/^RangeError: the kernel mean must be finite at step 2 of 3 \(t = [0-9.]+\), got Infinity at row 1000/);
    expect(separate).toBe(fused);
  });
});

describe('moveStep against kernelMean then propagate, at the operation level', () => {
  // Batches replacement never makes (it has one particle per run): several particles per
  // run, so the step's blocks must hold whole runs where sixteen runs' normals are drawn at
  // a time (3 x 4 = 12 normals a run), and per-run keys, where each run draws on its own.
  const shapes: Array<[string, number, number, number, boolean]> = [
    ['3 particles x 700 runs, D = 4, run offset 5', 700, 3, 4, false],
    ['3 particles x 700 runs, D = 4, run keys', 700, 3, 4, true],
    ['40 particles x 30 runs, D = 20', 30, 40, 20, false],
    ['1 particle x 90 runs, D = 300', 90, 1, 300, false],
  ];
  test.each(shapes)('%s: the same bytes, with noise and without, on 1 and 2 threads', async (_, runs, particles, dim, keyed) => {
    const rows = runs * particles;
    const runKeys = keyed ? Uint32Array.from({ length: 3 * runs }, (_, i) => (i % 3 === 1 ? i % 1000 : (i * 2654435761) >>> 0)) : null;
    const batch = { runs, particles, dim, runOffset: 5, runKeys };
    const latent = Int32Array.from({ length: dim - 1 }, (_, i) => i + 1);
    const observed = Int32Array.of(0);
    const z = new Float32Array(rows * dim), score = new Float32Array(rows * dim);
    await native.normals(z, { seed: 2, run: 0, step: 0, purpose: native.purposes.user }, 0, 1);
    await native.normals(score, { seed: 3, run: 0, step: 0, purpose: native.purposes.user }, 0, 1);
    const y = Float32Array.from({ length: runs }, (_, r) => r / 7 - 1);
    const stream = { seed: 9, run: 0, step: 4, purpose: native.purposes.kernelNoise };
    for (const noise of [0.3, 0]) {
      for (const threads of [1, 2]) {
        const mu = new Float32Array(rows * dim), separate = new Float32Array(rows * dim);
        expect(await native.kernelMean(z, score, 0.9, 0.2, mu, threads)).toBe(-1);
        expect(await native.propagate(batch, latent, observed, mu, null, noise, y, stream, separate, threads)).toBeDefined();
        const fused = z.slice(), untouched = new Float32Array(rows * dim);
        expect(await native.moveStep(batch, latent, observed, fused, score, 0.9, 0.2, untouched, y, noise, stream, threads)).toEqual({ status: 'ok', index: -1 });
        expect(bytes(fused).equals(bytes(separate))).toBe(true);
        expect(untouched.every((v) => v === 0)).toBe(true);
      }
    }
  });
});
