// Class-conditional digits three ways (docs/MATH.md §12; README "Guidance"): CFG with the
// class-conditional network models/digits-cond-eps.onnx at w ∈ {1, 2, 4}; classifier guidance
// with the unconditional network models/digits-eps.onnx and the shipped logistic-regression
// classifier applied to Tweedie's x̂₀ (identity Jacobian, a heuristic); and tds with that
// classifier's log p(c | x) as the likelihood (exact for the network times the classifier).
// Reports, per method, the classifier's agreement with the class asked for, the diversity
// (per-pixel sd within a class, mean over pixels and classes) and the network evaluations per
// sample, and writes docs/guidance-digits.png (one row per method, one column per class).
//
//   node -r ./tools/register-ts.js tools/digits-guidance.ts [--per-class 30] [--steps 100]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OnnxScore } from '../lib/onnx';
import { replacement } from '../lib/samplers';
import { tds } from '../lib/tds';
import { LinearClassifier, renderGrid, MODELS_DIR, DIGIT_DIM } from '../lib/digits';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const perClass = arg('per-class', 30), steps = arg('steps', 100), particles = arg('particles', 16);
const D = DIGIT_DIM, C = 10;

(async () => {
  const cond = await OnnxScore.load(path.join(MODELS_DIR, 'digits-cond-eps.onnx'), { threads: 1 });
  const uncond = await OnnxScore.load(path.join(MODELS_DIR, 'digits-eps.onnx'), { threads: 1 });
  const clf = LinearClassifier.load();
  const schedule = cond.trainingSchedule!;
  const none = { indices: [] as number[], values: [] as number[] };
  const classes = Array.from({ length: C * perClass }, (_, i) => Math.floor(i / perClass));

  /** ∇_x log softmax(W x + b)_c per row. */
  const logSoftmaxGrad = (x: Float32Array, c: ArrayLike<number>, rows: number) => {
    const out = new Float32Array(rows * D), value = new Float64Array(rows);
    const z = new Float64Array(C);
    for (let r = 0; r < rows; r++) {
      let mx = -Infinity;
      for (let k = 0; k < C; k++) {
        let s = clf.intercept[k];
        for (let d = 0; d < D; d++) s += clf.coef[k * D + d] * x[r * D + d];
        z[k] = s;
        mx = Math.max(mx, s);
      }
      let sum = 0;
      for (let k = 0; k < C; k++) sum += Math.exp(z[k] - mx);
      value[r] = z[c[r]] - mx - Math.log(sum);
      for (let k = 0; k < C; k++) {
        const p = Math.exp(z[k] - mx) / sum;
        for (let d = 0; d < D; d++) out[r * D + d] += ((k === c[r] ? 1 : 0) - p) * clf.coef[k * D + d];
      }
    }
    return { value, gradient: out };
  };

  const methods: { name: string; calls: number; run: () => Promise<Float32Array> }[] = [];
  for (const w of [1, 2, 4]) {
    methods.push({ name: `CFG w = ${w}`, calls: 2 * steps, run: async () => (await replacement({ score: cond, schedule, steps, observed: none, samples: classes.length, seed: 1, threads: 1, condition: classes, guidance: { kind: 'cfg', scale: w } })).samples });
  }
  methods.push({
    name: 'classifier on x̂₀ (identity J), scale 1', calls: steps,
    run: async () => (await replacement({ score: uncond, schedule, steps, observed: none, samples: classes.length, seed: 1, threads: 1, condition: classes,
      guidance: { kind: 'classifier', scale: 1, classifier: (x0, c, ctx) => logSoftmaxGrad(x0, c, ctx.rows).gradient, jacobian: 'identity' } })).samples,
  });
  methods.push({
    name: `tds, classifier likelihood, N = ${particles}`, calls: particles * steps,
    run: async () => {
      const out = new Float32Array(classes.length * D);
      for (let c = 0; c < C; c++) {
        const labels = new Int32Array(perClass * particles).fill(c);
        const r = await tds({ score: uncond, schedule, steps, samples: perClass, particles, seed: 1 + c, threads: 1, gradient: 'identity',
          likelihood: (x, ctx) => logSoftmaxGrad(x, labels, ctx.rows) });
        out.set(r.samples, c * perClass * D);
      }
      return out;
    },
  });

  const rows: (Float32Array | null)[][] = [];
  console.log(`| method | classifier agrees | diversity (pixel sd) | network evaluations per sample | seconds |`);
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const m of methods) {
    const t0 = performance.now();
    const x = await m.run();
    const seconds = (performance.now() - t0) / 1000;
    const pred = clf.classify(x);
    let agree = 0;
    pred.forEach((p, i) => (agree += p === classes[i] ? 1 : 0));
    let sd = 0;
    for (let c = 0; c < C; c++) {
      for (let d = 0; d < D; d++) {
        let s1 = 0, s2 = 0;
        for (let i = 0; i < perClass; i++) {
          const v = x[(c * perClass + i) * D + d];
          s1 += v;
          s2 += v * v;
        }
        const m1 = s1 / perClass;
        sd += Math.sqrt(Math.max(0, s2 / perClass - m1 * m1)) / (C * D);
      }
    }
    console.log(`| ${m.name} | ${(agree / classes.length).toFixed(3)} | ${sd.toFixed(3)} | ${m.calls} | ${seconds.toFixed(0)} |`);
    rows.push(Array.from({ length: C }, (_, c) => x.slice(c * perClass * D, c * perClass * D + D)));
    rows.push(Array.from({ length: C }, (_, c) => x.slice((c * perClass + 1) * D, (c * perClass + 2) * D)));
  }
  const png = await renderGrid(rows, { headers: Array.from({ length: C }, (_, c) => String(c)), rowLabels: methods.flatMap((m) => [m.name.startsWith('classifier') ? 'classifier' : m.name.split(',')[0], m.name.startsWith('classifier') ? 'on x̂₀' : '']), scale: 4 });
  fs.writeFileSync(path.join(__dirname, '..', 'docs', 'guidance-digits.png'), png);
  await cond.release();
  await uncond.release();
})();
