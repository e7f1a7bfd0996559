/** @jest-environment ./test/support/onnx-environment.js */
// OnnxScore (lib/onnx/): any ONNX network as a score model. The fixtures in
// test/fixtures are written by tools/make_onnx_fixtures.py: four graphs that compute the
// exact score of the Gaussian mixture in test/fixtures/gmm.json (MATH.md §7) and output it
// as epsilon, x0, v or the score itself, with the time as a DDPM step, sigma or t; and tiny
// graphs (y = x) with the shapes, types and names the adapter must reject.
//
// Statistical tests here are seeded, so each either always passes or always fails; the
// false-failure rate quoted is the probability that a correct implementation fails for a
// seed drawn at random.
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OnnxScore, OnnxScoreOptions, loadOnnxRuntime, readOnnxMetadata } from '../../lib/onnx';
import { GaussianMixture } from '../../lib/mixture';
import { schedules, Schedule } from '../../lib/schedules';
import { replacement, smc, CorrectorOptions } from '../../lib/samplers';
import { slicedWasserstein, noiseFloor, NoiseFloor } from '../../lib/metrics';
import { ScoreContext, ScoreInput } from '../../lib/score';

const { abs, max, exp, sqrt, sin } = Math;
const FIX = path.join(__dirname, '..', 'fixtures');
const fixture = (name: string) => path.join(FIX, `${name}.onnx`);
const SPEC = JSON.parse(fs.readFileSync(path.join(FIX, 'gmm.json'), 'utf8'));
const D = 3;

function contextAt(schedule: Schedule, t: number, rows: number): ScoreContext {
  return { t, alpha: exp(schedule.logAlpha(t)), sigma: sqrt(schedule.sigma2(t)), rows, dim: D };
}

/** Deterministic rows spread over [-4, 4]^3 (where the mixture and its noised versions live). */
function rowsOf(n: number, phase = 0): Float32Array {
  return Float32Array.from({ length: n * D }, (_, i) => 4 * sin(1.7 * i + 0.3 * phase + 0.1 * i * i));
}

/** Expects an async function to reject with an error of this name whose message matches every pattern. */
async function rejectsWith(fn: () => Promise<unknown>, name: string, ...patterns: (string | RegExp)[]): Promise<Error> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeDefined();
  const err = caught as Error;
  expect(err.name).toBe(name);
  for (const p of patterns) expect(err.message).toMatch(p);
  return err;
}

describe('loading onnxruntime-node', () => {
  test('a missing onnxruntime-node is a clear error saying what to install', () => {
    const missing = (id: string) => {
      const e = new Error(`Cannot find module '${id}'`) as NodeJS.ErrnoException;
      e.code = 'MODULE_NOT_FOUND';
      throw e;
    };
    let err: Error | undefined;
    try {
      loadOnnxRuntime(missing);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.name).toBe('MissingDependencyError');
    expect((err as Error & { dependency?: string }).dependency).toBe('onnxruntime-node');
    expect(err?.message).toMatch('npm install onnxruntime-node');
    expect(err?.message).toMatch('not installed');
    // The supported way past its NuGet download (the .npmrc key makes npm warn it will stop working).
    expect(err?.message).toMatch('ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node');
    // Something else that is not onnxruntime is refused too.
    expect(() => loadOnnxRuntime(() => ({}))).toThrow(/does not export InferenceSession/);
  });

  test('the installed package loads (once, cached)', () => {
    expect(loadOnnxRuntime()).toBe(loadOnnxRuntime());
  });
});

describe('ONNX metadata', () => {
  test('metadata_props are read from the protobuf, defaults come from them', async () => {
    const meta = readOnnxMetadata(fs.readFileSync(fixture('gmm-eps-step')));
    expect(meta).toMatchObject({ 'condiff.parameterization': 'epsilon', 'condiff.time': 'step', 'condiff.K': '1000', 'condiff.step_offset': '1' });
    expect(readOnnxMetadata(fs.readFileSync(fixture('tiny-image')))).toEqual({});
    // From the file (walking the top-level fields, skipping the graph by its length) as from the bytes.
    const shipped = path.join(__dirname, '..', '..', 'models', 'digits-eps.onnx');
    expect(readOnnxMetadata(shipped)).toEqual(readOnnxMetadata(fs.readFileSync(shipped)));
    expect(readOnnxMetadata(shipped)['condiff.data_range']).toBe('-1,1');
    // A truncated model is refused.
    const bytes = fs.readFileSync(fixture('gmm-eps-step'));
    expect(() => readOnnxMetadata(bytes.subarray(0, bytes.length - 3))).toThrow(/truncated/);
    const m = await OnnxScore.load(fixture('gmm-eps-step'));
    expect(m.prediction).toBe('epsilon');
    expect(m.time).toBe('step');
    expect(m.stepOffset).toBe(1);
    expect(m.trainingSchedule?.T).toBe(1000);
    expect(m.dim).toBe(3);
    expect(m.clipX0).toBeNull();
    expect(m.inputs).toEqual([
      { name: 'x', type: 'float32', shape: ['batch', 3] },
      { name: 'step', type: 'int64', shape: ['batch'] },
    ]);
    await m.release();
  });

  test('a file that is not ONNX is refused', async () => {
    await rejectsWith(() => OnnxScore.load(Uint8Array.of(0x0f, 0xff, 0xff)), 'Error', 'not an ONNX model');
    // A file the caller named is a FileError (by name), whether unreadable or not ONNX.
    await rejectsWith(() => OnnxScore.load(path.join(FIX, 'no-such-file.onnx')), 'FileError', 'no such file');
    await rejectsWith(() => OnnxScore.load(path.join(FIX, 'gmm.json')), 'FileError', 'not an ONNX model');
  });
});

describe('validation errors name the model inputs and outputs', () => {
  test('wrong input or output names', async () => {
    await rejectsWith(
      () => OnnxScore.load(fixture('gmm-eps-step'), { input: 'image' }),
      'TypeError',
      'input "image" is not one of the model\'s inputs',
      "the model's inputs are x: float32 [batch, 3], step: int64 [batch]; its outputs are epsilon: float32 [batch, 3]",
    );
    await rejectsWith(() => OnnxScore.load(fixture('gmm-eps-step'), { output: 'eps' }), 'TypeError', 'output "eps"', 'epsilon: float32 [batch, 3]');
    await rejectsWith(() => OnnxScore.load(fixture('gmm-eps-step'), { timeInput: 't' }), 'TypeError', 'timeInput "t"', 'step: int64 [batch]');
  });

  test('two outputs need options.output; a named one is used', async () => {
    await rejectsWith(() => OnnxScore.load(fixture('tiny-two-outputs')), 'TypeError', 'has 2 outputs: give options.output', 'y: float32 [batch, 4], aux: float32 [batch, 4]');
    const m = await OnnxScore.load(fixture('tiny-two-outputs'), { output: 'aux', parameterization: 'score' });
    expect(m.outputName).toBe('aux');
    await m.release();
  });

  test('element types: an integer sample input, a string time input, an integer time for sigma', async () => {
    await rejectsWith(() => OnnxScore.load(fixture('tiny-int-x')), 'TypeError', 'input "x" must be a float32 or float64 tensor, it is int32', 'x: int32 [batch, 4]');
    await rejectsWith(() => OnnxScore.load(fixture('tiny-string-time')), 'TypeError', 'time input "t" must be a float32, float64, int32 or int64 tensor, it is string');
    await rejectsWith(() => OnnxScore.load(fixture('gmm-eps-step'), { time: 'sigma' }), 'TypeError', "time 'sigma' needs a float time input", 'step: int64 [batch]');
  });

  test('input counts: three inputs, or no time input', async () => {
    await rejectsWith(() => OnnxScore.load(fixture('tiny-three-inputs')), 'TypeError', 'exactly 2 inputs', 'label: int64 [batch]');
    await rejectsWith(() => OnnxScore.load(fixture('tiny-no-time')), 'TypeError', 'exactly 2 inputs', "inputs are x: float32 [batch, 4];");
  });

  test('a dimension that does not match the problem', async () => {
    await rejectsWith(() => OnnxScore.load(fixture('tiny-image'), { dim: 5 }), 'RangeError', 'dim 5 does not match input "x", whose rows hold 4 values', 'x: float32 [batch, 1, 2, 2]');
    const m = await OnnxScore.load(fixture('tiny-image'), { parameterization: 'score' });
    expect(m.dim).toBe(4);
    // The sampler refuses a problem of another dimension, naming both.
    await rejectsWith(
      () => replacement({ score: m, dim: 3, schedule: schedules.ou(), steps: 2, observed: { indices: [0], values: [0] }, samples: 2 }),
      'RangeError',
      "dim must be the score model's dim 4, got 3",
    );
    // An image-shaped input ([batch, 1, 2, 2]) takes rows of 4 values: y = x comes back as the score.
    const z = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    expect(Array.from(await m.score(z, 1, { t: 1, alpha: 0.5, sigma: 0.8, rows: 2, dim: 4 }))).toEqual(Array.from(z));
    await m.release();
  });

  test('options that do not fit: a fixed batch, schedule for a non-step time, bad clipping, providers', async () => {
    await rejectsWith(() => OnnxScore.load(fixture('gmm-score-t16'), { maxBatch: 8 }), 'RangeError', "does not match the model's fixed batch 16", 'x: float32 [16, 3]');
    await rejectsWith(() => OnnxScore.load(fixture('gmm-v-t'), { schedule: schedules.ddpm() }), 'TypeError', "schedule applies to time 'step' only");
    await rejectsWith(() => OnnxScore.load(fixture('gmm-eps-step'), { schedule: schedules.ou() }), 'TypeError', 'schedules.ddpm()');
    await rejectsWith(() => OnnxScore.load(fixture('gmm-eps-step'), { clipX0: [1, -1] }), 'RangeError', 'lo < hi');
    await rejectsWith(() => OnnxScore.load(fixture('gmm-eps-step'), { parameterization: 'noise' as never }), 'RangeError', "'epsilon', 'x0', 'v', 'score'");
    await rejectsWith(() => OnnxScore.load(fixture('gmm-eps-step'), { executionProvider: 'tpu' as never }), 'RangeError', "'cpu', 'cuda'");
  });

  test("executionProvider 'cuda' where onnxruntime-node has no CUDA provider is a clear error", async () => {
    let loaded: OnnxScore | undefined;
    try {
      loaded = await OnnxScore.load(fixture('gmm-eps-step'), { executionProvider: 'cuda' });
    } catch (e) {
      expect((e as Error).name).toBe('Error');
      expect((e as Error).message).toMatch("executionProvider 'cuda' is not available");
    }
    // Where the CUDA provider is installed and a GPU present, it loads and agrees with the CPU.
    if (loaded) {
      expect(loaded.executionProvider).toBe('cuda');
      await loaded.release();
    }
  });
});

describe('exactness: the mixture networks reproduce the native score to float32 precision', () => {
  const model = GaussianMixture.fromJSON(SPEC);
  const cases: { name: string; schedule: Schedule; times: number[]; options?: OnnxScoreOptions }[] = [
    { name: 'gmm-eps-step', schedule: schedules.ddpm(), times: [1, 2, 10, 100, 500, 999, 1000] },
    { name: 'gmm-x0-sigma', schedule: schedules.vp(), times: [0.001, 0.01, 0.1, 0.5, 1] },
    { name: 'gmm-v-t', schedule: schedules.ou(), times: [0.005, 0.05, 0.5, 2, 5] },
    { name: 'gmm-score-t16', schedule: schedules.ou(), times: [0.005, 0.05, 0.5, 2, 5] },
    // The step network driven by a continuous VP sampler: steps matched by alpha-bar (nearest).
  ];
  for (const c of cases) {
    test(`${c.name}: scores, batch splitting and padding`, async () => {
      const m = await OnnxScore.load(fixture(c.name), { ...c.options });
      const split = c.name === 'gmm-score-t16' ? m : await OnnxScore.load(fixture(c.name), { maxBatch: 7 });
      const rows = 37; // not a multiple of 7 or 16: the last chunk is short (padded for the fixed batch)
      let worst = 0;
      for (const [ti, t] of c.times.entries()) {
        const z = rowsOf(rows, ti);
        const ctx = contextAt(c.schedule, t, rows);
        const exact = await model.score(z, t, ctx);
        const got = await m.score(z, t, ctx);
        const pred = await m.predict(z, t, ctx);
        // Float32 precision relative to the magnitudes the conversion combines, per row:
        // |s| and the two terms a z and b y of s = a z + b y (MATH.md §1).
        const { alpha, sigma } = ctx;
        const coef: Record<string, [number, number]> = {
          epsilon: [0, -1 / sigma],
          x0: [-1 / sigma ** 2, alpha / sigma ** 2],
          v: [-1 / (alpha ** 2 + sigma ** 2), -alpha / (sigma * (alpha ** 2 + sigma ** 2))],
          score: [0, 1],
        };
        const [a, b] = coef[m.prediction];
        for (let r = 0; r < rows; r++) {
          let scale = 0;
          for (let k = 0; k < D; k++) {
            const i = r * D + k;
            scale = max(scale, abs(exact[i]), abs(a * z[i]), abs(b * pred[i]));
          }
          for (let k = 0; k < D; k++) {
            const i = r * D + k;
            worst = max(worst, abs(got[i] - exact[i]) / scale);
          }
        }
        // Splitting into chunks of 7 rows gives the same scores up to float32 rounding
        // (onnxruntime may pick other kernels for another batch size).
        const chunked = await split.score(z, t, ctx);
        let chunkDiff = 0;
        for (let i = 0; i < got.length; i++) chunkDiff = max(chunkDiff, abs(chunked[i] - got[i]) / (1 + abs(got[i])));
        expect(chunkDiff).toBeLessThan(1e-5);
      }
      // float32 epsilon is 1.2e-7; the graphs take a few dozen float32 operations.
      expect(worst).toBeLessThan(2e-5);
      if (split !== m) await split.release();
      await m.release();
    });
  }

  test('the step input: the respaced DDPM grid maps to the network step t - 1 (alpha-bar_{n+1})', async () => {
    const m = await OnnxScore.load(fixture('gmm-eps-step'));
    const ddpm = schedules.ddpm();
    const grid = ddpm.grid(50);
    for (let i = 1; i < grid.length; i++) {
      const t = grid[i];
      expect(m.timeValue(t, contextAt(ddpm, t, 1))).toBe(t - 1);
    }
    // A continuous sampler: the nearest training step by alpha-bar.
    const vp = schedules.vp();
    for (const t of [0.05, 0.3, 0.9]) {
      const target = vp.logAlpha(t);
      const n = m.timeValue(t, contextAt(vp, t, 1));
      expect(Number.isInteger(n)).toBe(true);
      const err = (k: number) => abs(ddpm.logAlpha(k) - target);
      expect(err(n + 1)).toBeLessThanOrEqual(err(n));
      expect(err(n + 1)).toBeLessThanOrEqual(err(n + 2));
    }
    await m.release();
  });

  test('a wrong step convention is caught: stepOffset 0 misses the score by far more than float32', async () => {
    const model = GaussianMixture.fromJSON(SPEC);
    const wrong = await OnnxScore.load(fixture('gmm-eps-step'), { stepOffset: 0 });
    const ddpm = schedules.ddpm();
    const z = rowsOf(20);
    const ctx = contextAt(ddpm, 20, 20);
    const exact = await model.score(z, 20, ctx);
    const got = await wrong.score(z, 20, ctx);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = max(worst, abs(got[i] - exact[i]) / (1 + abs(exact[i])));
    expect(worst).toBeGreaterThan(1e-3);
    await wrong.release();
  });

  test('x0-hat clipping: off by default; a wide interval changes nothing, a tight one clips x0-hat', async () => {
    const ddpm = schedules.ddpm();
    const plain = await OnnxScore.load(fixture('gmm-eps-step'));
    const wide = await OnnxScore.load(fixture('gmm-eps-step'), { clipX0: [-100, 100] });
    const tight = await OnnxScore.load(fixture('gmm-eps-step'), { clipX0: true }); // no data_range metadata: [-1, 1]
    expect(tight.clipX0).toEqual([-1, 1]);
    const z = rowsOf(30);
    const t = 200;
    const ctx = contextAt(ddpm, t, 30);
    const s0 = await plain.score(z, t, ctx);
    const s1 = await wide.score(z, t, ctx);
    const s2 = await tight.score(z, t, ctx);
    let d1 = 0;
    for (let i = 0; i < s0.length; i++) d1 = max(d1, abs(s1[i] - s0[i]) / (1 + abs(s0[i])));
    expect(d1).toBeLessThan(1e-5);
    // Tweedie's x0-hat = (z + sigma^2 s) / alpha of the clipped score lies in [-1, 1].
    let clipped = 0;
    for (let i = 0; i < s2.length; i++) {
      const x0 = (z[i] + ctx.sigma ** 2 * s2[i]) / ctx.alpha;
      expect(abs(x0)).toBeLessThanOrEqual(1 + 1e-4);
      const x0plain = (z[i] + ctx.sigma ** 2 * s0[i]) / ctx.alpha;
      if (abs(x0plain) > 1.001) clipped++;
    }
    expect(clipped).toBeGreaterThan(0);
    for (const m of [plain, wide, tight]) await m.release();
  });
});

describe('exactness: every sampler driven by the ONNX network agrees with the native model', () => {
  const model = GaussianMixture.fromJSON(SPEC);
  const observed = { indices: [2], values: [0.3] };
  const correctors: (CorrectorOptions | undefined)[] = [undefined, { kind: 'langevin', steps: 2, gamma: 0.1 }, { kind: 'repaint', jumps: 2 }];
  const shortRuns: { name: string; schedule: Schedule; kernel?: 'euler' | 'ddpm' }[] = [
    { name: 'gmm-eps-step', schedule: schedules.ddpm() },
    { name: 'gmm-x0-sigma', schedule: schedules.vp(), kernel: 'euler' },
    { name: 'gmm-v-t', schedule: schedules.ou(), kernel: 'ddpm' },
    { name: 'gmm-score-t16', schedule: schedules.ou() },
  ];
  for (const c of shortRuns) {
    test(`${c.name}: the same seed gives the same samples to float32 rounding over 6 steps`, async () => {
      const m = await OnnxScore.load(fixture(c.name));
      const common = { schedule: c.schedule, kernel: c.kernel, steps: 6, observed, seed: 5, threads: 2 };
      const runs: [string, (score: ScoreInput) => Promise<{ samples: Float32Array }>][] = [
        ...correctors.map((corrector) => [corrector?.kind ?? 'replacement', (score: ScoreInput) => replacement({ ...common, score, samples: 40, corrector })] as [string, (score: ScoreInput) => Promise<{ samples: Float32Array }>]),
        ['smc', (score) => smc({ ...common, score, particles: 32, samples: 6 })],
      ];
      for (const [, run] of runs) {
        const a = await run(model);
        const b = await run(m);
        let worst = 0;
        for (let i = 0; i < a.samples.length; i++) worst = max(worst, abs(a.samples[i] - b.samples[i]) / (1 + abs(a.samples[i])));
        // Measured ≤ 2e-5 (x0 network on the VP schedule, whose last steps divide by sigma^2 ≈ 1e-3).
        expect(worst).toBeLessThan(2e-4);
      }
      await m.release();
    });
  }

  describe('over a long run (100 steps), in distribution: the same accuracy against the exact posterior', () => {
    // Posterior given z[2] = 0.3: three modes with weights ≈ (0.22, 0.43, 0.35).
    const n = 1000;
    const schedule = schedules.ddpm();
    let onnx: OnnxScore;
    let exact: Float32Array;
    let floor: NoiseFloor;
    const latent = [0, 1];
    const sw = (x: Float32Array, y: Float32Array) => slicedWasserstein(x, y, D, { coordinates: latent, seed: 3 });
    beforeAll(async () => {
      onnx = await OnnxScore.load(fixture('gmm-eps-step'));
      exact = await model.sampleExact(observed, n, { seed: 777 });
      floor = await noiseFloor(model, observed, n, { coordinates: latent, replicates: 50, seed: 3 });
    });
    afterAll(async () => {
      await onnx.release();
    });

    test('replacement, Langevin and RePaint: no resampling, so the runs stay coupled to float32 rounding', async () => {
      // Same seed, same random numbers: the samples differ by the network's float32
      // rounding only (measured ≤ 3e-5 after 100 steps), hence so do the distances.
      for (const corrector of correctors) {
        const a = await replacement({ score: model, schedule, steps: 100, observed, samples: n, seed: 1, corrector });
        const b = await replacement({ score: onnx, schedule, steps: 100, observed, samples: n, seed: 1, corrector });
        let worst = 0;
        for (let i = 0; i < a.samples.length; i++) worst = max(worst, abs(a.samples[i] - b.samples[i]));
        expect(worst).toBeLessThan(1e-3);
        expect(abs((await sw(a.samples, exact)) - (await sw(b.samples, exact)))).toBeLessThan(1e-3);
      }
    });

    test('the particle filter: a rounding difference can flip an ancestor, yet both reach the noise floor', async () => {
      // n = 1000 runs of N = 64 particles, 100 steps, native and ONNX with the same seed.
      // Calibration (seeds 1, 2): SW to exact 0.079 / 0.151 (native) and 0.079 / 0.151
      // (ONNX), SW(ONNX, native) 0.002–0.004 although single draws differ by up to 2.7
      // (flipped ancestors). Exact-vs-exact replicates at n = 1000: mean 0.115, 95th
      // percentile (the floor) 0.165, largest of 50 0.186, so sd ≈ 0.03.
      // The filter's own SW to exact over seeds 1–30 (native): mean 0.118, sd 0.025, max 0.165.
      // Bounds: SW(ONNX, exact) < 1.5 x floor ≈ 0.25 is 5 sd above that mean (false-failure
      // rate < 1e-4 under a normal approximation, as in samplers.test.ts);
      // SW(ONNX, native) < floor holds even if every run decoupled with probability
      // ≈ 0.95 — the runs are coupled, measured 40x below it: false-failure rate far
      // below 1e-3. |SW(ONNX, exact) − SW(native, exact)| ≤ SW(ONNX, native) (triangle
      // inequality), so both methods have the same accuracy to within the floor.
      // Power: a network whose output is read with the wrong parameterization, or a
      // filter that ignored the observation, is far above 1.5 x floor (checked below).
      const a = await smc({ score: model, schedule, steps: 100, observed, particles: 64, samples: n, seed: 1 });
      const b = await smc({ score: onnx, schedule, steps: 100, observed, particles: 64, samples: n, seed: 1 });
      const swA = await sw(a.samples, exact), swB = await sw(b.samples, exact);
      expect(swA).toBeLessThan(1.5 * floor.floor);
      expect(swB).toBeLessThan(1.5 * floor.floor);
      expect(await sw(b.samples, a.samples)).toBeLessThan(floor.floor);
      expect(abs(swA - swB)).toBeLessThan(floor.floor);
      for (let i = 0; i < n; i++) expect(b.samples[i * D + 2]).toBeCloseTo(0.3, 6);

      // Power: the same network read as x0 instead of epsilon (a plausible adapter bug).
      const misread = await OnnxScore.load(fixture('gmm-eps-step'), { parameterization: 'x0' });
      const c = await smc({ score: misread, schedule, steps: 100, observed, particles: 64, samples: 200, seed: 1 });
      await misread.release();
      expect(await sw(c.samples, exact.subarray(0, 200 * D))).toBeGreaterThan(3 * floor.floor);
    });
  });
});
