/** @jest-environment ./test/support/onnx-environment.js */
// OnnxScore with a class input (docs/MATH.md §12): test/fixtures/gmm-cond-score.onnx computes
// the exact class-conditional score of the mixture GUIDED (test/support/guidance-cases.ts),
// with the null class 2 meaning the whole mixture; its metadata names the class input and the
// null class. The network must agree with the float64 oracle for every row's class, and
// classifier-free guidance through it must draw what it draws through the exact mixture.
import { describe, expect, test, afterAll } from '@jest/globals';
import * as path from 'node:path';
import { OnnxScore } from '../../lib/onnx';
import { replacement } from '../../lib/samplers';
import { schedules } from '../../lib/schedules';
import { NULL_CLASS } from '../../lib/guidance';
import { GUIDED, mixtureScore, model } from '../support/guidance-cases';
import { LinearClassifier, MODELS_DIR } from '../../lib/digits';

const FIX = path.join(__dirname, '..', 'fixtures');
const fixture = (name: string) => path.join(FIX, `${name}.onnx`);
const loaded: OnnxScore[] = [];
const load = async (...a: Parameters<typeof OnnxScore.load>) => {
  const m = await OnnxScore.load(...a);
  loaded.push(m);
  return m;
};
afterAll(() => loaded.forEach((m) => m.release()));

describe('OnnxScore with a class input', () => {
  test('the metadata names the class input and the null class; each row gets its own class', async () => {
    const net = await load(fixture('gmm-cond-score'));
    expect(net.classInput).toBe('label');
    expect(net.nullClass).toBe(2);
    expect(net.inputName).toBe('x');
    expect(net.timeInputName).toBe('t');
    const z = Float32Array.of(0.3, -0.7, 1.2, 0.4, -2, 1, 0.1, 0.1);
    const condition = Int32Array.of(0, NULL_CLASS, 1, 0);
    const alpha = Math.exp(-0.4), sigma = Math.sqrt(1 - Math.exp(-0.8));
    const out = await net.score(z, 0.4, { t: 0.4, alpha, sigma, rows: 4, dim: 2, condition });
    [0, null, 1, 0].forEach((c, r) => {
      const want = mixtureScore(c, z.subarray(2 * r, 2 * r + 2), alpha, sigma * sigma);
      for (let k = 0; k < 2; k++) expect(Math.abs(out[2 * r + k] - want[k])).toBeLessThan(1e-4);
    });
    // An unconditional call (no condition) is the null class on every row.
    const plain = await net.score(z, 0.4, { t: 0.4, alpha, sigma, rows: 4, dim: 2 });
    const full = mixtureScore(null, z.subarray(0, 2), alpha, sigma * sigma);
    expect(Math.abs(plain[0] - full[0])).toBeLessThan(1e-4);
  });

  test('classifier-free guidance through the network draws what it draws through the exact mixture', async () => {
    const net = await load(fixture('gmm-cond-score'));
    const common = { schedule: schedules.ou(), steps: 50, observed: { indices: [], values: [] }, samples: 64, seed: 5, condition: 0, guidance: { kind: 'cfg' as const, scale: 3 } };
    const a = await replacement({ ...common, score: net });
    const b = await replacement({ ...common, score: model() });
    let worst = 0;
    for (let k = 0; k < a.samples.length; k++) worst = Math.max(worst, Math.abs(a.samples[k] - b.samples[k]));
    // The same arithmetic in float32 by two routes: differences of rounding only.
    expect(worst).toBeLessThan(1e-3);
  });

  test('options override the metadata; a missing null class and bad names are errors', async () => {
    const net = await load(fixture('gmm-cond-score'), { nullClass: 1 });
    expect(net.nullClass).toBe(1);
    await expect(OnnxScore.load(fixture('gmm-cond-score'), { classInput: 'cls' })).rejects.toThrow(/classInput "cls" is not one of the model's inputs/);
    // tiny-three-inputs has an int64 'label' input and no metadata.
    await expect(OnnxScore.load(fixture('tiny-three-inputs'))).rejects.toThrow(/a class-conditional network names its class input/);
    const tiny = await load(fixture('tiny-three-inputs'), { classInput: 'label' });
    expect(tiny.classInput).toBe('label');
    expect(tiny.nullClass).toBeNull();
    const ctx = { t: 0.5, alpha: 0.6, sigma: 0.8, rows: 1, dim: 4 };
    await expect(tiny.score(new Float32Array(4), 0.5, ctx)).rejects.toThrow(/class input "label" needs a class per row, or a null class/);
    const y = await tiny.score(Float32Array.of(1, 2, 3, 4), 0.5, { ...ctx, condition: Int32Array.of(3) });
    expect(y.length).toBe(4);
    await expect(OnnxScore.load(fixture('gmm-v-t'), { nullClass: 2 })).rejects.toThrow(/nullClass applies to a model with a class input/);
    expect(GUIDED.classes.length).toBe(4);
  });
});

describe('the shipped class-conditional digits network (models/digits-cond-eps.onnx)', () => {
  test('its metadata names the class input and the null class; conditional generation is recognised by the shipped classifier', async () => {
    const net = await load(path.join(MODELS_DIR, 'digits-cond-eps.onnx'));
    expect(net.classInput).toBe('label');
    expect(net.nullClass).toBe(10);
    expect(net.dim).toBe(64);
    const r = await replacement({ score: net, schedule: net.trainingSchedule!, steps: 50, observed: { indices: [], values: [] }, samples: 20, seed: 1, condition: 3 });
    const agree = Array.from(LinearClassifier.load().classify(r.samples)).filter((c) => c === 3).length;
    // Measured (tools/digits-guidance.ts, 100 steps): 99% of CFG w = 1 draws are classified as asked.
    expect(agree).toBeGreaterThanOrEqual(16);
  });

  test('a network without a class input refuses condition; one with a class input takes it', async () => {
    const plain = await load(fixture('gmm-eps-step'));
    expect(plain.classInput).toBeNull();
    expect(plain.takesCondition).toBe(false);
    expect((await load(fixture('gmm-cond-score'))).takesCondition).toBe(true);
    await expect(replacement({ score: plain, schedule: plain.trainingSchedule!, steps: 2, observed: { indices: [], values: [] }, samples: 1, condition: 0 }))
      .rejects.toThrow(/condition needs a class-conditional score model .* takes no class/);
  });
});
