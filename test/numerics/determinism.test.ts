// Reproducibility (MATH.md §6): every random number is a function of (seed, run, step,
// purpose, element), so a sampler's output does not depend on the thread count or on how
// runs are batched. All checks here are exact (byte equality); nothing is statistical.
import { describe, expect, test } from '@jest/globals';
import { native } from '../../lib/native';
import { GaussianMixture } from '../../lib/mixture';
import { replacement, smc, ReplacementOptions, SmcOptions } from '../../lib/samplers';
import { schedules } from '../../lib/schedules';
import { ResamplingScheme } from '../../lib/driver';
import { selectBackend } from '../../lib/backend';

const bytes = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const sameBytes = (a: ArrayBufferView, b: ArrayBufferView): boolean => bytes(a).equals(bytes(b));

// D = 4, three components with full (non-diagonal) covariances.
const model = GaussianMixture.fromJSON({
  weights: [0.5, 0.3, 0.2],
  means: [
    [1, -1, 0.5, 0],
    [-2, 0.5, 1, 1],
    [0, 2, -1, -0.5],
  ],
  covariances: [
    [[1, 0.3, 0.1, 0], [0.3, 0.8, 0.2, 0.1], [0.1, 0.2, 1.2, 0.3], [0, 0.1, 0.3, 0.9]],
    [[0.5, -0.1, 0, 0.05], [-0.1, 0.6, 0.1, 0], [0, 0.1, 0.4, -0.1], [0.05, 0, -0.1, 0.7]],
    [[2, 0.5, 0.3, 0.2], [0.5, 1.5, 0.4, 0.1], [0.3, 0.4, 1, 0.2], [0.2, 0.1, 0.2, 0.8]],
  ],
});
const D = 4;
const observed = { indices: [1, 3], values: [0.2, 0.4] };
const schedule = schedules.ou({ T: 3 });

describe('the parallel loop really splits the work', () => {
  test('parallelProbe: 2 OS threads for threads = 2 on a large range, 1 for threads = 1', () => {
    expect(native.parallelProbe(100_000, 2)).toBe(2);
    expect(native.parallelProbe(100_000, 1)).toBe(1);
    expect(native.parallelProbe(100_000, 3)).toBe(3);
    expect(native.parallelProbe(1, 2)).toBe(1); // one item: nothing to split
  });
});

describe('mixture score is thread-independent', () => {
  test('scoreInto with 1 and 2 threads (and score()) give byte-identical scores', async () => {
    const rows = 3000; // > 2 x the 16-row grain of the score loop
    const z = new Float32Array(rows * D);
    await native.normals(z, { seed: 4, run: 0, step: 0, purpose: native.purposes.user }, 0, 1);
    for (let i = 0; i < z.length; i++) z[i] *= 2;
    for (const t of [0.01, 0.7, 3]) {
      const alpha = Math.exp(-t), sigma = Math.sqrt(1 - Math.exp(-2 * t));
      const ctx = { t, alpha, sigma, rows, dim: D };
      const one = new Float32Array(rows * D), two = new Float32Array(rows * D);
      await model.scoreInto(z, ctx, one, 1);
      await model.scoreInto(z, ctx, two, 2);
      expect(sameBytes(one, two)).toBe(true);
      expect(sameBytes(await model.score(z, t, ctx), one)).toBe(true);
      let finite = 0;
      for (let i = 0; i < one.length; i++) if (Number.isFinite(one[i]) && one[i] !== 0) finite++;
      expect(finite).toBe(one.length);
    }
  });
});

describe('replacement: threads 1 and 2 give byte-identical samples', () => {
  // 40,000 rows of D = 4: per-row loops split once a worker gets 2^16 / D = 16,384 rows
  // (native/core/particles.cc), so two threads really share the work.
  const base: ReplacementOptions = { score: model, schedule, steps: 25, observed, samples: 40000, seed: 12345 };
  const variants: Array<[string, Partial<ReplacementOptions>]> = [
    ['plain (forward context)', {}],
    ['fixed context', { context: 'fixed' }],
    ['Langevin corrector, gamma rule', { corrector: { kind: 'langevin', steps: 2, gamma: 0.05 } }],
    ['Langevin corrector, snr rule', { corrector: { kind: 'langevin', steps: 2, snr: 0.1 } }],
    ['RePaint, 2 jumps', { corrector: { kind: 'repaint', jumps: 2 } }],
    ['final noise', { finalNoise: true }],
  ];
  test.each(variants)('%s', async (_name, extra) => {
    const a = await replacement({ ...base, ...extra, threads: 1 });
    const b = await replacement({ ...base, ...extra, threads: 2 });
    expect(a.shape).toEqual([40000, D]);
    expect(b.threads).toBe(2);
    expect(sameBytes(a.samples, b.samples)).toBe(true);
    // observed coordinates are filled in, everything finite
    let bad = 0;
    for (let i = 0; i < a.samples.length; i++) if (!Number.isFinite(a.samples[i])) bad++;
    expect(bad).toBe(0);
    expect(a.samples[1]).toBeCloseTo(0.2, 6);
    expect(a.samples[3]).toBeCloseTo(0.4, 6);
    // a different seed changes the samples
    const c = await replacement({ ...base, ...extra, seed: base.seed! + 1, threads: 2 });
    expect(sameBytes(a.samples, c.samples)).toBe(false);
  });

  test('batching: the first 100 of 600 samples equal a run with samples = 100', async () => {
    const corr = { kind: 'langevin', steps: 1, gamma: 0.05 } as const;
    const big = await replacement({ ...base, corrector: corr, threads: 2 });
    const small = await replacement({ ...base, corrector: corr, samples: 100, threads: 1 });
    expect(sameBytes(small.samples, big.samples.subarray(0, 100 * D))).toBe(true);
  });
});

describe('smc: threads 1 and 2 give byte-identical samples and log-evidence', () => {
  // 64 particles x 520 runs = 33,280 rows: the row loops (2^16 / D = 16,384 rows per worker)
  // split across 2 workers.
  const base: SmcOptions = { score: model, schedule, steps: 25, observed, particles: 64, samples: 520, seed: 777 };
  const cases: Array<[ResamplingScheme, number]> = [
    ['systematic', 1],
    ['stratified', 1],
    ['multinomial', 1],
    ['residual', 1],
    ['systematic', 0.5], // adaptive: some steps skip resampling
  ];
  test.each(cases)('%s, essThreshold %p', async (resampling, essThreshold) => {
    const opts = { ...base, resampling, essThreshold, output: 'all' as const };
    const a = await smc({ ...opts, threads: 1 });
    const b = await smc({ ...opts, threads: 2 });
    // 3 threads: chunks of 11,094 rows, so the split falls inside a run's 64 particles.
    const b3 = await smc({ ...opts, threads: 3 });
    expect(sameBytes(a.samples, b.samples)).toBe(true);
    expect(sameBytes(a.samples, b3.samples)).toBe(true);
    expect(sameBytes(a.logEvidence, b3.logEvidence)).toBe(true);
    expect(sameBytes(a.particles!, b3.particles!)).toBe(true);
    expect(sameBytes(a.logEvidence, b.logEvidence)).toBe(true);
    expect(Array.from(b.logEvidence)).toEqual(Array.from(a.logEvidence));
    expect(sameBytes(a.ess, b.ess)).toBe(true);
    expect(sameBytes(a.resampled, b.resampled)).toBe(true);
    expect(sameBytes(a.contextPath, b.contextPath)).toBe(true);
    expect(sameBytes(a.particles!, b.particles!)).toBe(true);
    expect(sameBytes(a.logWeights!, b.logWeights!)).toBe(true);
    let finite = 0;
    for (const v of a.logEvidence) if (Number.isFinite(v)) finite++;
    expect(finite).toBe(520);
    if (essThreshold === 1) expect(a.resampled.every((f) => f === 1)).toBe(true);
    else expect(a.resampled.some((f) => f === 0)).toBe(true);
    const c = await smc({ ...opts, seed: 778, threads: 2 });
    expect(sameBytes(a.samples, c.samples)).toBe(false);
    expect(sameBytes(a.logEvidence, c.logEvidence)).toBe(false);
  });

  test('batching: runs 0..4 of samples = 520 equal a call with samples = 5 (logEvidence and samples)', async () => {
    const big = await smc({ ...base, threads: 2 });
    const small = await smc({ ...base, samples: 5, threads: 1 });
    expect(Array.from(small.logEvidence)).toEqual(Array.from(big.logEvidence.subarray(0, 5)));
    expect(sameBytes(small.samples, big.samples.subarray(0, 5 * D))).toBe(true);
  });
});

describe('the fused native filter step (native/core/smc_step.h)', () => {
  // The CPU backend runs kernel mean, weights, reweighting, resampling and the move of a
  // bootstrap step in one native job; the same operations called one by one (the path
  // every other backend takes) must give the same bytes.
  test.each(['systematic', 'residual'] as ResamplingScheme[])('%s, tau = 1 and 0.5, 2 runs of 40000 particles, 2 threads: byte-identical to the separate operations', async (resampling) => {
    const cpu = selectBackend('cpu') as { smcStep?: unknown };
    const fused = cpu.smcStep;
    expect(typeof fused).toBe('function');
    for (const essThreshold of [1, 0.5]) {
      const options: SmcOptions = { score: model, schedule, steps: 6, observed, particles: 40000, samples: 2, output: 'all', resampling, essThreshold, threads: 2, seed: 11 };
      const a = await smc(options);
      cpu.smcStep = undefined;
      let b;
      try {
        b = await smc(options);
      } finally {
        cpu.smcStep = fused;
      }
      expect(sameBytes(a.samples, b.samples)).toBe(true);
      expect(sameBytes(a.logEvidence, b.logEvidence)).toBe(true);
      expect(sameBytes(a.ess, b.ess)).toBe(true);
      expect(sameBytes(a.resampled, b.resampled)).toBe(true);
      expect(a.logWeights && b.logWeights && sameBytes(a.logWeights, b.logWeights)).toBe(true);
    }
  });
});
