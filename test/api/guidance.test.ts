// The guidance and condition options (docs/MATH.md §12): what the score model sees, how many
// calls a step costs, and the errors for bad input.
import { describe, expect, test } from '@jest/globals';
import { replacement, smc } from '../../lib/samplers';
import { tds } from '../../lib/tds';
import { schedules } from '../../lib/schedules';
import { ConditionalGaussianMixture } from '../../lib/conditional-mixture';
import { GaussianMixture } from '../../lib/mixture';
import { NULL_CLASS, ClassifierScore } from '../../lib/guidance';
import type { ScoreContext } from '../../lib/score';
import { GUIDED } from '../support/guidance-cases';

const ROOT = { indices: [] as number[], values: [] as number[] };
const base = { schedule: schedules.ou(), steps: 4, observed: ROOT, seed: 1 };

function recorder() {
  const calls: { rows: number; condition?: number[] }[] = [];
  const score = { dim: 2, score: (z: Float32Array, _t: number, ctx: ScoreContext) => {
    calls.push({ rows: ctx.rows, condition: ctx.condition && Array.from(ctx.condition) });
    return new Float32Array(z.length).map((_, k) => -z[k] + (ctx.condition?.[Math.floor(k / 2)] === 1 ? 1 : 0));
  } };
  return { calls, score };
}

describe('condition', () => {
  test('one class per sample reaches the model per row (run-major, particles of a run together)', async () => {
    const { calls, score } = recorder();
    await smc({ ...base, score, samples: 3, particles: 2, condition: [0, null, 2] });
    expect(calls.length).toBe(4);
    expect(calls[0]).toEqual({ rows: 6, condition: [0, 0, NULL_CLASS, NULL_CLASS, 2, 2] });
  });

  test('one class for all samples; no condition leaves context.condition undefined', async () => {
    const { calls, score } = recorder();
    await replacement({ ...base, score, samples: 2, condition: 5 });
    expect(calls[0].condition).toEqual([5, 5]);
    await replacement({ ...base, score, samples: 2 });
    expect(calls[4].condition).toBeUndefined();
  });

  test('tds passes the condition to the score model', async () => {
    const { calls, score } = recorder();
    const likelihood = (x: Float32Array, ctx: { rows: number }) => ({ value: new Float64Array(ctx.rows), gradient: new Float32Array(x.length) });
    await tds({ ...base, observed: undefined, score, samples: 1, particles: 2, condition: 1, likelihood, gradient: 'none' });
    expect(calls[0].condition).toEqual([1, 1]);
  });

  test('bad conditions are named', async () => {
    const { score } = recorder();
    await expect(replacement({ ...base, score, samples: 2, condition: [1] })).rejects.toThrow(/condition must be one class for all samples or 2 \(one per sample\), got 1 classes/);
    await expect(replacement({ ...base, score, samples: 2, condition: 1.5 })).rejects.toThrow(/condition must be an integer class >= 0, or null \/ -1 for unconditional, got 1.5/);
    await expect(replacement({ ...base, score, samples: 2, condition: [0, -2] })).rejects.toThrow(/condition\[1\] must be an integer class/);
    await expect(replacement({ ...base, score: ConditionalGaussianMixture.fromJSON(GUIDED), samples: 2, condition: 2 }))
      .rejects.toThrow(/the condition of row 0 must be a class in 0 … 1 or -1 \(unconditional\), got 2/);
  });

  test('a model that takes no class refuses condition (a silent unconditional answer otherwise), except under classifier guidance', async () => {
    const { classes: _classes, ...plainSpec } = GUIDED;
    const plain = GaussianMixture.fromJSON(plainSpec);
    expect(plain.takesCondition).toBe(false);
    for (const run of [
      () => replacement({ ...base, score: plain, samples: 2, condition: 0 }),
      () => smc({ ...base, score: plain, samples: 2, particles: 2, condition: [0, 1] }),
      () => tds({ ...base, score: plain, samples: 1, particles: 2, condition: 0, observed: { indices: [0], values: [0.5] } }),
    ]) {
      await expect(run()).rejects.toThrow(/condition needs a class-conditional score model .*GaussianMixture\(dim 2, 4 components.* takes no class/);
    }
    await expect(replacement({ ...base, score: plain, samples: 2, condition: 0, guidance: { kind: 'cfg', scale: 2 } })).rejects.toThrow(/takes no class \(classifier-free guidance needs/);
    // Classifier guidance reads the class through its classifier: the unconditional model is right.
    const classifierGradient = (z: Float32Array) => new Float32Array(z.length);
    const r = await replacement({ ...base, score: plain, samples: 2, condition: 0, guidance: { kind: 'classifier', scale: 1, classifierGradient } });
    expect(r.samples.length).toBe(4);
    // The same model without condition runs.
    expect((await replacement({ ...base, score: plain, samples: 2 })).samples.length).toBe(4);
  });
});

describe('classifier-free guidance', () => {
  test('one model call per step with twice the rows: the classes, then the null class', async () => {
    const { calls, score } = recorder();
    await smc({ ...base, score, samples: 2, particles: 2, condition: [1, 0], guidance: { kind: 'cfg', scale: 3 } });
    expect(calls.length).toBe(4);
    expect(calls[0]).toEqual({ rows: 8, condition: [1, 1, 0, 0, NULL_CLASS, NULL_CLASS, NULL_CLASS, NULL_CLASS] });
  });

  test('weighted cfg makes one call per step too', async () => {
    const { calls, score } = recorder();
    await smc({ ...base, score, samples: 1, particles: 3, condition: 1, guidance: { kind: 'cfg', scale: 3, weighted: true } });
    expect(calls.map((c) => c.rows)).toEqual([6, 6, 6, 6]);
  });

  test("weighted cfg's deterministic last step is the conditional kernel's mean, unweighted", async () => {
    // One step, one particle: x0 = μ_1(x_T), the draw replacement makes with the conditional model.
    const model = ConditionalGaussianMixture.fromJSON(GUIDED);
    const one = { score: model, schedule: schedules.ou(), steps: 1, observed: ROOT, samples: 4, seed: 2, condition: 0 };
    const w = await smc({ ...one, particles: 1, guidance: { kind: 'cfg', scale: 4, weighted: true } });
    const plain = await replacement(one);
    expect(Array.from(w.samples)).toEqual(Array.from(plain.samples));
    expect(Array.from(w.logEvidence)).toEqual([0, 0, 0, 0]);
  });

  test('bad options are named', async () => {
    const { score } = recorder();
    const run = (o: object) => replacement({ ...base, score, samples: 1, ...o });
    await expect(run({ guidance: { kind: 'cfg', scale: 2 } })).rejects.toThrow(/guidance of kind 'cfg' needs condition/);
    await expect(run({ condition: 1, guidance: { kind: 'cfg' } })).rejects.toThrow(/guidance.scale must be a finite number, got undefined/);
    await expect(run({ condition: 1, guidance: { kind: 'cfg', scale: 2, rescale: 2 } })).rejects.toThrow(/guidance.rescale must be a number in \[0, 1\], got 2/);
    await expect(run({ condition: 1, guidance: { kind: 'cfg', scale: 2, scal: 3 } })).rejects.toThrow(/unknown guidance option "scal" for kind 'cfg'/);
    await expect(run({ condition: 1, guidance: { kind: 'free', scale: 2 } })).rejects.toThrow(/guidance.kind must be one of/);
    await expect(run({ condition: 1, guidance: { kind: 'cfg', scale: 2, weighted: true } })).rejects.toThrow(/guidance.weighted .* is an option of smc and tds only, not of replacement/);
    await expect(smc({ ...base, score, samples: 1, particles: 2, observed: { A: [[1, 0]], y: [0], noiseStd: 0.1 }, condition: 1, guidance: { kind: 'cfg', scale: 2, weighted: true } }))
      .rejects.toThrow(/guidance.weighted needs an exact mask observation/);
  });
});

describe('classifier guidance', () => {
  test('the model sees the null class; the gradient callback sees the classes; scale multiplies it', async () => {
    const { calls, score } = recorder();
    const seen: number[][] = [];
    const classifierGradient = (z: Float32Array, _t: number, c: Int32Array) => (seen.push(Array.from(c)), new Float32Array(z.length).fill(1));
    const plain = await replacement({ ...base, score, samples: 2, seed: 3 });
    const guided = await replacement({ ...base, score, samples: 2, seed: 3, condition: [0, 1], guidance: { kind: 'classifier', scale: 0, classifierGradient } });
    expect(Array.from(guided.samples)).toEqual(Array.from(plain.samples));
    expect(calls[4].condition).toEqual([NULL_CLASS, NULL_CLASS]);
    expect(seen[0]).toEqual([0, 1]);
  });

  test('a clean classifier at x̂₀ with the identity Jacobian: g = c_t ∇, c_t = τ²/(α(τ² + σ²/α²))', async () => {
    const score = { dim: 1, score: (z: Float32Array) => new Float32Array(z.length) };
    const seen: number[] = [];
    const classifier = (x0: Float32Array, _c: Int32Array, ctx: ScoreContext) => (seen.push(x0[0] * ctx.alpha), new Float32Array(x0.length).fill(1));
    const m = new ClassifierScore(score, { kind: 'classifier', scale: 2, gradient: undefined, clean: classifier, jacobian: 'identity', tau2: 1 });
    const out = await m.score(Float32Array.of(0.5), 1, { t: 1, alpha: 0.5, sigma: 0.8, rows: 1, dim: 1, condition: Int32Array.of(0) });
    // s = 0, so x̂₀ = z/α; s̃ = 0 + 2 c_t, c_t = 1/(0.5 (1 + 0.64/0.25)) = 1/1.78.
    expect(seen[0]).toBeCloseTo(0.5, 6);
    expect(out[0]).toBeCloseTo(2 / 1.78, 6);
    const wide = new ClassifierScore(score, { kind: 'classifier', scale: 2, gradient: undefined, clean: classifier, jacobian: 'identity', tau2: 1e12 });
    // τ² → ∞: J = I/α.
    expect((await wide.score(Float32Array.of(0.5), 1, { t: 1, alpha: 0.5, sigma: 0.8, rows: 1, dim: 1, condition: Int32Array.of(0) }))[0]).toBeCloseTo(4, 5);
    const fd = new ClassifierScore({ dim: 1, score: (z: Float32Array) => z.map((x) => -x) }, { kind: 'classifier', scale: 1, gradient: undefined, clean: classifier, jacobian: 'finite-difference', tau2: 1 });
    // s = −z: x̂₀ = (1 − σ²) z / α, J = (1 − σ²)/α = 0.72.
    const g = await fd.score(Float32Array.of(0.5), 1, { t: 1, alpha: 0.5, sigma: 0.8, rows: 1, dim: 1, condition: Int32Array.of(0) });
    expect(g[0]).toBeCloseTo(-0.5 + 0.72, 4);
  });

  test('bad options are named', async () => {
    const { score } = recorder();
    const run = (o: object) => replacement({ ...base, score, samples: 1, condition: 0, ...o });
    await expect(run({ guidance: { kind: 'classifier' } })).rejects.toThrow(/exactly one of classifierGradient .* or classifier .*, got neither/);
    await expect(run({ guidance: { kind: 'classifier', classifierGradient: () => new Float32Array(1) } }))
      .rejects.toThrow(/guidance.classifierGradient must return a Float32Array of 2 values \(rows x D\) at t = /);
    await expect(run({ guidance: { kind: 'classifier', classifierGradient: (z: Float32Array) => new Float32Array(z.length).fill(NaN) } }))
      .rejects.toThrow(/guidance.classifierGradient must be finite at t = .*, got NaN at row 0/);
    await expect(run({ guidance: { kind: 'classifier', classifierGradient: () => new Float32Array(2), jacobian: 'identity' } })).rejects.toThrow(/guidance.jacobian applies to a clean classifier/);
    await expect(run({ guidance: { kind: 'classifier', classifier: () => new Float32Array(2), tau2: 0 } })).rejects.toThrow(/guidance.tau2 must be a positive number, got 0/);
  });
});

describe('ConditionalGaussianMixture called directly', () => {
  const model = ConditionalGaussianMixture.fromJSON(GUIDED);
  const z = Float32Array.of(0.3, -0.2, 1.1, 0.4, -0.7, 0.9);
  const at = { t: 1, alpha: 0.6, sigma: 0.8, dim: 2 };

  test('every row is scored under its own class, with or without context.rows', async () => {
    const condition = Int32Array.of(1, 0, NULL_CLASS);
    // Each row alone, under its class's own mixture.
    const expected: number[] = [];
    for (let r = 0; r < 3; r++) {
      expected.push(...(await model.mixture(condition[r]).score(z.slice(2 * r, 2 * r + 2), 1, { ...at, rows: 1 })));
    }
    for (const rows of [undefined, 3]) {
      const s = await model.score(z, 1, { ...at, rows, condition } as ScoreContext);
      expect(Array.from(s)).toEqual(expected);
      const g = await model.classifierGradient(z, 1, condition, { ...at, rows } as ScoreContext);
      const s0 = await model.unconditional.score(z, 1, { ...at, rows: 3 });
      expect(Array.from(g)).toEqual(expected.map((x, k) => Math.fround(x - s0[k])));
    }
  });

  test('rows or a condition that disagree with z are named', async () => {
    await expect(model.score(z, 1, { ...at, rows: 1, condition: Int32Array.of(1) })).rejects.toThrow(/^context\.rows must be the rows of z \(3\), got 1$/);
    await expect(model.score(z, 1, { ...at, rows: 3, condition: Int32Array.of(1, 0) })).rejects.toThrow(/^context\.condition must be an Int32Array of 3 classes \(one per row of z\), got a Int32Array of length 2$/);
    await expect(model.score(z.subarray(0, 5), 1, { ...at, rows: 3 })).rejects.toThrow(/^z must be a whole number of rows of D = 2 values, got a Float32Array of length 5$/);
    await expect(model.score(z, 1, null as unknown as ScoreContext)).rejects.toThrow(/^context must be an object with alpha and sigma, got null$/);
  });
});
