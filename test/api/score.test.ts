// Score models (MATH.md §1): callbacks (sync and async) see all runs' particles in one
// call per step, and epsilon / x0 networks are converted to the same score.
import { describe, expect, test } from '@jest/globals';
import { GaussianMixture } from '../../lib/mixture';
import { schedules } from '../../lib/schedules';
import { replacement, smc } from '../../lib/samplers';
import { fromPrediction, ScoreContext } from '../../lib/score';

const SPEC = {
  weights: [0.3, 0.7],
  means: [[-1, 0.5, 2], [1.5, -1, 0]],
  covariances: [
    [[1, 0.3, 0.1], [0.3, 0.8, 0.2], [0.1, 0.2, 0.5]],
    [[0.6, -0.2, 0], [-0.2, 1.2, 0.4], [0, 0.4, 0.9]],
  ],
};
const observed = { indices: [2], values: [0.7] };
const base = { schedule: schedules.ou({ T: 4 }), steps: 30, observed, seed: 11, threads: 1 } as const;

describe('score callbacks', () => {
  const model = GaussianMixture.fromJSON(SPEC);

  test('a JS callback returning the mixture score gives byte-identical samples to the native model', async () => {
    const calls: number[] = [];
    const callback = async (z: Float32Array, t: number, ctx: ScoreContext) => {
      calls.push(ctx.rows);
      return model.score(z, t, ctx);
    };
    const a = await smc({ ...base, score: model, particles: 16, samples: 5 });
    const b = await smc({ ...base, score: callback, dim: 3, particles: 16, samples: 5 });
    expect(Buffer.from(b.samples.buffer).equals(Buffer.from(a.samples.buffer))).toBe(true);
    expect(Array.from(b.logEvidence)).toEqual(Array.from(a.logEvidence));
    // One call per step with every run's particles (runs x particles rows).
    expect(calls).toEqual(new Array(30).fill(80));
  });

  test('a synchronous callback works the same', async () => {
    const native = await replacement({ ...base, score: model, samples: 50 });
    const sync = (z: Float32Array, _t: number, ctx: ScoreContext) => {
      // Exact score of one isotropic Gaussian would do; reuse the mixture through a copy.
      return lastScore.get(ctx.t) ?? new Float32Array(z.length);
    };
    const lastScore = new Map<number, Float32Array>();
    const recorder = async (z: Float32Array, t: number, ctx: ScoreContext) => {
      const s = await model.score(z, t, ctx);
      lastScore.set(t, s);
      return s;
    };
    const recorded = await replacement({ ...base, score: recorder, dim: 3, samples: 50 });
    expect(Buffer.from(recorded.samples.buffer).equals(Buffer.from(native.samples.buffer))).toBe(true);
    const replayed = await replacement({ ...base, score: sync, dim: 3, samples: 50 });
    expect(Buffer.from(replayed.samples.buffer).equals(Buffer.from(native.samples.buffer))).toBe(true);
  });

  test('epsilon and x0 parameterizations convert to the same score (MATH.md §1)', async () => {
    const reference = await smc({ ...base, score: model, particles: 8, samples: 4 });
    // epsilon = -sigma s ; x0 = (z + sigma^2 s) / alpha (Tweedie)
    const eps = fromPrediction(
      async (z, t, ctx) => {
        const s = await model.score(z, t, ctx);
        return s.map((v) => -ctx.sigma * v);
      },
      'epsilon',
      3,
    );
    const x0 = fromPrediction(
      async (z, t, ctx) => {
        const s = await model.score(z, t, ctx);
        return s.map((v, i) => (z[i] + ctx.sigma * ctx.sigma * v) / ctx.alpha);
      },
      'x0',
      3,
    );
    for (const score of [eps, x0]) {
      const r = await smc({ ...base, score, particles: 8, samples: 4 });
      // Float32 rounding of the round trip only: a few steps agree closely.
      let maxDiff = 0;
      for (let i = 0; i < r.samples.length; i++) maxDiff = Math.max(maxDiff, Math.abs(r.samples[i] - reference.samples[i]));
      expect(maxDiff).toBeLessThan(1e-3);
    }
  });
});

describe('other schedules, kernels and correctors run and keep the observation', () => {
  const model = GaussianMixture.fromJSON(SPEC);
  const cases = [
    { name: 'vp + euler', schedule: schedules.vp(), kernel: 'euler' as const },
    { name: 'vp + ddpm', schedule: schedules.vp(), kernel: 'ddpm' as const },
    { name: 'discrete ddpm (cosine)', schedule: schedules.ddpm({ K: 1000, betas: 'cosine' }), kernel: 'ddpm' as const },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const r = await smc({ score: model, schedule: c.schedule, kernel: c.kernel, steps: 50, observed, particles: 32, samples: 20, seed: 2 });
      for (let i = 0; i < 20; i++) expect(r.samples[i * 3 + 2]).toBeCloseTo(0.7, 6);
      expect(r.samples.every(Number.isFinite)).toBe(true);
      expect(r.logEvidence.every(Number.isFinite)).toBe(true);
    });
  }
  test('RePaint jumps and the SNR Langevin rule', async () => {
    for (const corrector of [{ kind: 'repaint' as const, jumps: 3 }, { kind: 'langevin' as const, steps: 2, snr: 0.16 }]) {
      const r = await replacement({ score: model, schedule: schedules.ou(), steps: 40, observed, samples: 30, seed: 4, corrector });
      expect(r.method).toBe(corrector.kind);
      for (let i = 0; i < 30; i++) expect(r.samples[i * 3 + 2]).toBeCloseTo(0.7, 6);
      expect(r.samples.every(Number.isFinite)).toBe(true);
    }
  });
  test("output 'all' returns every particle with normalised log-weights", async () => {
    const r = await smc({ score: model, schedule: schedules.ou(), steps: 20, observed, particles: 10, samples: 3, seed: 5, essThreshold: 0.5, output: 'all' });
    expect(r.particles?.length).toBe(3 * 10 * 3);
    expect(r.logWeights?.length).toBe(30);
    for (let run = 0; run < 3; run++) {
      let s = 0;
      for (let k = 0; k < 10; k++) s += Math.exp(r.logWeights![run * 10 + k]);
      expect(s).toBeCloseTo(1, 12);
    }
    expect(r.ess.length).toBe(20 * 3);
    expect(r.resampled.length).toBe(20 * 3);
  });
});
