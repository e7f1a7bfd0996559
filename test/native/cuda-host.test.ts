/** @jest-environment ./test/support/onnx-environment.js */
// The CUDA backend's host side, without a device (lib/backend.ts): the score of a model
// that runs on the host reaches it in row chunks (context.rows, context.rowOffset) through
// buffers of one chunk, the same bits as one call; a lost context makes 'cuda' refuse with
// its cause and 'auto' fall back to the CPU; and a CPU-only run in a process that loaded
// the CUDA addon creates no CUDA context. A stand-in context (test/support/fake-cuda.ts)
// runs the CPU addon's operations; bench/gpu runs the same chunking on a device.
import { afterEach, describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { CfgScore } from '../../lib/guidance';
import { backends, chunkedHostScorer, cudaUnavailableReason, scoreCallRows, selectBackend, useCudaContextForTests, SCORE_CALL_ELEMENTS, PINNED_CHUNK_BYTES } from '../../lib/backend';
import { ScoreContext } from '../../lib/score';
import { fromPrediction } from '../../lib/score';
import { schedules } from '../../lib/schedules';
import { replacement, smc } from '../../lib/samplers';
import { resampleAsync } from '../../lib/blocks';
import { GaussianMixture } from '../../lib/mixture';
import { OnnxScore } from '../../lib/onnx';
import { fakeCuda, isFakeDeviceArray } from '../support/fake-cuda';

const ROOT = path.join(__dirname, '..', '..');
const CUDA_ADDON = path.join(ROOT, 'build-cuda', 'Release', 'condiff_cuda.node');

afterEach(() => {
  useCudaContextForTests(null);
  delete process.env.CONDIFF_SCORE_CALL_ELEMENTS;
});

const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('rows per host score call', () => {
  test('one call per step below the typed-array limit; CONDIFF_SCORE_CALL_ELEMENTS lowers it, in whole rows', () => {
    expect(SCORE_CALL_ELEMENTS).toBe(2 ** 32 - 1);
    expect(scoreCallRows(64, {})).toBe(Math.floor((2 ** 32 - 1) / 64));
    expect(scoreCallRows(3, { CONDIFF_SCORE_CALL_ELEMENTS: '12' })).toBe(4);
    expect(scoreCallRows(3, { CONDIFF_SCORE_CALL_ELEMENTS: '14' })).toBe(4);
    expect(scoreCallRows(5, { CONDIFF_SCORE_CALL_ELEMENTS: '2' })).toBe(1);
    expect(scoreCallRows(5, { CONDIFF_SCORE_CALL_ELEMENTS: '' })).toBe(Math.floor((2 ** 32 - 1) / 5));
    for (const bad of ['0', '-3', '1.5', 'lots', String(2 ** 32)]) {
      expect(() => scoreCallRows(2, { CONDIFF_SCORE_CALL_ELEMENTS: bad })).toThrow(
        expect.objectContaining({ name: 'RangeError', message: `CONDIFF_SCORE_CALL_ELEMENTS must be an integer in [1, 4294967295], got ${JSON.stringify(bad)}` }),
      );
    }
  });
});

describe('chunkedHostScorer, driven with host arrays', () => {
  const D = 3, ROWS = 10;
  const z = Float32Array.from({ length: ROWS * D }, (_, i) => i / 7 - 2);
  const context: ScoreContext = { t: 0.5, alpha: 0.8, sigma: 0.6, rows: ROWS, dim: D, rowOffset: 0 };
  const io = () => {
    const log = { pinned: [] as number[], down: [] as Array<[number, number]>, up: [] as Array<[number, number]> };
    return {
      log,
      io: {
        hostArray: (n: number) => (log.pinned.push(n), new Float32Array(n)),
        download: async (device: Float32Array, host: Float32Array, offset: number) => {
          log.down.push([offset, host.length]);
          host.set(device.subarray(offset, offset + host.length));
        },
        upload: async (host: Float32Array, device: Float32Array, offset: number) => {
          log.up.push([offset, host.length]);
          device.set(host, offset);
        },
      },
    };
  };

  test('a callback sees each chunk once, in order, with rows and rowOffset; the result is one call\'s', async () => {
    const calls: Array<{ rows: number; rowOffset: number | undefined; z: number[] }> = [];
    const score = (x: Float32Array, _t: number, c: ScoreContext) => {
      calls.push({ rows: c.rows, rowOffset: c.rowOffset, z: Array.from(x) });
      expect(x.length).toBe(c.rows * D);
      return x.map((v, i) => -v + (c.rowOffset! * D + i) / 100);
    };
    const { log, io: transfers } = io();
    const out = new Float32Array(ROWS * D);
    const r = await chunkedHostScorer(score, ROWS, D, 1, 4, transfers).evaluate(z, context, out, 'at step 1');
    expect(r).toBe(out);
    expect(calls.map((c) => [c.rowOffset, c.rows])).toEqual([[0, 4], [4, 4], [8, 2]]);
    for (const c of calls) expect(c.z).toEqual(Array.from(z.subarray(c.rowOffset! * D, (c.rowOffset! + c.rows) * D)));
    expect(Array.from(out)).toEqual(Array.from(z.map((v, i) => -v + i / 100)));
    // Two host buffers of one chunk, whatever the number of rows.
    expect(log.pinned).toEqual([12, 12]);
    expect(log.down).toEqual([[0, 12], [12, 12], [24, 6]]);
    expect(log.up).toEqual(log.down);
  });

  test("each chunk sees its own rows' classes (context.condition), and CFG gives what it gives in one call", async () => {
    const condition = Int32Array.from({ length: ROWS }, (_, r) => (r % 3 === 2 ? -1 : r % 3));
    const seen: number[][] = [];
    const score = (x: Float32Array, _t: number, c: ScoreContext) => {
      seen.push(Array.from(c.condition!));
      return x.map((v, i) => -v + c.condition![Math.floor(i / D)]);
    };
    await chunkedHostScorer(score, ROWS, D, 1, 4, io().io).evaluate(z, { ...context, condition }, new Float32Array(ROWS * D), 'w');
    expect(seen).toEqual([[0, 1, -1, 0], [1, -1, 0, 1], [-1, 0]]);
    const cfg = new CfgScore(score, 3, 0);
    const whole = new Float32Array(ROWS * D), parts = new Float32Array(ROWS * D);
    await chunkedHostScorer(cfg, ROWS, D, 1, 1000, io().io).evaluate(z, { ...context, condition }, whole, 'w');
    await chunkedHostScorer(cfg, ROWS, D, 1, 4, io().io).evaluate(z, { ...context, condition }, parts, 'w');
    expect(bytes(parts).equals(bytes(whole))).toBe(true);
    // s̃ = −z + 3 c + (1 − 3)(−1) on every row (s_∅ is the null class, −1).
    expect(whole[0]).toBeCloseTo(-z[0] + 3 * 0 + 2, 5);
    expect(whole[D]).toBeCloseTo(-z[D] + 3 * 1 + 2, 5);
  });

  test('one call when the rows fit; native models and predictions convert chunk by chunk', async () => {
    const eps = fromPrediction((x) => x.map((v) => 0.5 * v), 'epsilon');
    const whole = new Float32Array(ROWS * D), parts = new Float32Array(ROWS * D);
    const a = io(), b = io();
    await chunkedHostScorer(eps, ROWS, D, 1, 1000, a.io).evaluate(z, context, whole, 'w');
    await chunkedHostScorer(eps, ROWS, D, 1, 3, b.io).evaluate(z, context, parts, 'w');
    expect(a.log.down).toEqual([[0, ROWS * D]]);
    expect(b.log.down.length).toBe(4);
    expect(bytes(parts).equals(bytes(whole))).toBe(true);
    expect(whole[0]).toBeCloseTo((-0.5 * z[0]) / 0.6, 5);
  });

  test('a non-finite score names its row among all rows, not within the chunk', async () => {
    const score = (x: Float32Array, _t: number, c: ScoreContext) => x.map((v, i) => (c.rowOffset! + Math.floor(i / D) === 9 && i % D === 1 ? NaN : v));
    await expect(chunkedHostScorer(score, ROWS, D, 1, 4, io().io).evaluate(z, context, new Float32Array(ROWS * D), 'at step 2 of 5 (t = 0.5)')).rejects.toEqual(
      expect.objectContaining({ name: 'RangeError', message: 'the score must be finite at step 2 of 5 (t = 0.5), got NaN at row 9, coordinate 1' }),
    );
  });

  test('an aborted run stops calling the model between chunks', async () => {
    const controller = new AbortController();
    let calls = 0;
    const score = (x: Float32Array) => {
      if (++calls === 2) controller.abort(new Error('stop'));
      return x;
    };
    await expect(
      chunkedHostScorer(score, ROWS, D, 1, 2, io().io).evaluate(z, { ...context, signal: controller.signal }, new Float32Array(ROWS * D), 'w'),
    ).rejects.toThrow('stop');
    expect(calls).toBe(2);
  });
});

// Unit-variance data under the OU schedule: p_t = N(0, I) at every t, score -z.
const D = 4;
const OBSERVED = { indices: [1], values: [0.5] };
function recordingScore() {
  const calls: Array<{ t: number; rows: number; rowOffset: number | undefined }> = [];
  const score = (z: Float32Array, t: number, c: ScoreContext) => {
    calls.push({ t, rows: c.rows, rowOffset: c.rowOffset });
    return z.map((v) => -v);
  };
  return { calls, score };
}

describe("the 'cuda' backend's host side on a stand-in context", () => {
  test('smc and replacement with a JS score: chunked calls, the same bytes as the CPU backend, bounded host buffers', async () => {
    const ctx = fakeCuda();
    useCudaContextForTests(ctx, isFakeDeviceArray);
    process.env.CONDIFF_SCORE_CALL_ELEMENTS = String(7 * D + 2); // 7 rows per call
    const cpu = recordingScore(), dev = recordingScore();
    const common = { dim: D, schedule: schedules.ou(), steps: 6, observed: OBSERVED, seed: 3, threads: 2 };
    const a = await smc({ ...common, score: cpu.score, particles: 10, samples: 3, output: 'all', backend: 'cpu' });
    const b = await smc({ ...common, score: dev.score, particles: 10, samples: 3, output: 'all', backend: 'cuda' });
    expect(b.backend).toBe('cuda');
    expect(bytes(b.samples).equals(bytes(a.samples))).toBe(true);
    expect(bytes(b.particles!).equals(bytes(a.particles!))).toBe(true);
    expect(bytes(b.logEvidence).equals(bytes(a.logEvidence))).toBe(true);
    // 30 rows: the CPU backend calls once per step, the stand-in device in chunks of 7.
    expect(cpu.calls.every((c) => c.rows === 30 && c.rowOffset === 0)).toBe(true);
    expect(dev.calls.length).toBe(5 * cpu.calls.length);
    for (let s = 0; s < cpu.calls.length; s++) {
      const step = dev.calls.slice(5 * s, 5 * s + 5);
      expect(step.map((c) => [c.rowOffset, c.rows])).toEqual([[0, 7], [7, 7], [14, 7], [21, 7], [28, 2]]);
      expect(step.every((c) => c.t === cpu.calls[s].t)).toBe(true);
    }
    expect(ctx.pinned.every((n) => n === 7 * D)).toBe(true);
    expect(ctx.transfers.filter((x) => x.offset !== undefined).every((x) => x.length <= 7 * D)).toBe(true);

    const r1 = await replacement({ ...common, score: cpu.score, samples: 9, backend: 'cpu' });
    const r2 = await replacement({ ...common, score: dev.score, samples: 9, backend: 'cuda' });
    expect(bytes(r2.samples).equals(bytes(r1.samples))).toBe(true);
  });

  test('an ONNX model and the host mixture run chunk by chunk (scoreInto sees each chunk)', async () => {
    useCudaContextForTests(fakeCuda(), isFakeDeviceArray);
    process.env.CONDIFF_SCORE_CALL_ELEMENTS = String(5 * 3); // 5 rows of D = 3 per call
    const onnx = await OnnxScore.load(path.join(ROOT, 'test', 'fixtures', 'gmm-v-t.onnx'));
    const mixture = GaussianMixture.fromJSON(JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'gmm.json'), 'utf8')));
    try {
      for (const model of [onnx, mixture] as const) {
        const seen: Array<[number | undefined, number, number]> = [];
        const scoreInto = model.scoreInto.bind(model);
        // A plain object: a GaussianMixture itself would be scored on the (stand-in) device.
        const watched = {
          dim: model.dim,
          score: (z: Float32Array, t: number, c: ScoreContext) => model.score(z, t, c),
          scoreInto: (z: Float32Array, c: ScoreContext, out: Float32Array, threads: number) => (seen.push([c.rowOffset, c.rows, z.length]), scoreInto(z, c, out, threads)),
        };
        const common = { score: watched, dim: 3, schedule: schedules.ou(), steps: 3, observed: { indices: [2], values: [0.3] }, samples: 12, seed: 4, threads: 1 };
        const a = await replacement({ ...common, backend: 'cpu' });
        const cpuCalls = seen.length;
        const b = await replacement({ ...common, backend: 'cuda' });
        expect(seen.slice(0, cpuCalls).every(([o, r]) => o === 0 && r === 12)).toBe(true);
        expect(seen.slice(cpuCalls)).toEqual(Array.from({ length: cpuCalls }, () => [[0, 5, 15], [5, 5, 15], [10, 2, 6]]).flat());
        // The same rows scored in smaller batches: the same values to float32 rounding.
        for (let i = 0; i < a.samples.length; i++) expect(Math.abs(b.samples[i] - a.samples[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(a.samples[i])));
      }
    } finally {
      await onnx.release();
    }
  });

  test('without the setting, one call per step sees every row', async () => {
    useCudaContextForTests(fakeCuda(), isFakeDeviceArray);
    const dev = recordingScore();
    await smc({ dim: D, schedule: schedules.ou(), steps: 4, observed: OBSERVED, seed: 3, particles: 10, samples: 3, score: dev.score, backend: 'cuda' });
    expect(dev.calls.length).toBe(4);
    expect(dev.calls.every((c) => c.rows === 30 && c.rowOffset === 0)).toBe(true);
  });

  test('a large state is never pinned whole: buffers above the page-locked size are ordinary memory', async () => {
    const ctx = fakeCuda();
    useCudaContextForTests(ctx, isFakeDeviceArray);
    const rows = PINNED_CHUNK_BYTES / 4 / D + 8; // one chunk of all rows, just above the pinned size
    const runner = selectBackend('cuda').scorer((z) => z, rows, D, 1);
    runner.release();
    expect(ctx.pinned).toEqual([]);
    const small = selectBackend('cuda').scorer((z) => z, 16, D, 1);
    small.release();
    expect(ctx.pinned).toEqual([16 * D, 16 * D]);
  });
});

describe('a lost CUDA context', () => {
  const CAUSE = 'CUDA error in the device work of this call: cudaErrorIllegalAddress (an illegal memory access was encountered)';
  const REASON = `the CUDA context of this process was lost after a device failure (${CAUSE}); restart the process to use the GPU again`;

  test("a run that meets it fails with the cause; then 'cuda' is refused naming it and 'auto' runs on the CPU, saying so once", async () => {
    const ctx = fakeCuda();
    useCudaContextForTests(ctx, isFakeDeviceArray);
    expect(cudaUnavailableReason()).toBeNull();
    expect(backends().available).toEqual(['cpu', 'cuda']);
    let calls = 0;
    ctx.onCall = (name) => {
      if (name === 'propagate' && ++calls === 3) ctx.lost = CAUSE;
    };
    const run = { dim: D, schedule: schedules.ou(), steps: 6, observed: OBSERVED, seed: 3, particles: 10, samples: 3, score: recordingScore().score };
    await expect(smc({ ...run, backend: 'cuda' })).rejects.toThrow(/^propagate: the CUDA context of this process was lost after an earlier error \(CUDA error in .*cudaErrorIllegalAddress.*\), so it refuses further calls: restart the process/);

    expect(cudaUnavailableReason()).toBe(REASON);
    expect(backends()).toMatchObject({ available: ['cpu'], auto: 'cpu', cudaReason: REASON });
    const refused = expect.objectContaining({ message: `backend 'cuda' is not available: ${REASON}` });
    expect(() => selectBackend('cuda')).toThrow(refused);
    await expect(smc({ ...run, backend: 'cuda' })).rejects.toEqual(refused);
    await expect(resampleAsync(Float64Array.of(0, 1), 'systematic', { seed: 1, counter: 0 }, undefined, { backend: 'cuda' })).rejects.toEqual(refused);

    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      expect(selectBackend('auto').name).toBe('cpu');
      expect(selectBackend('auto').name).toBe('cpu');
      const r = await smc({ ...run, backend: 'auto' });
      expect(r.backend).toBe('cpu');
      expect(warn.mock.calls).toEqual([[`backend 'auto' runs on the CPU from now on: ${REASON}`, { code: 'CONDIFF_CUDA_LOST' }]]);
    } finally {
      warn.mockRestore();
    }
  });
});

// Item: loading the CUDA addon creates no CUDA context, and neither does a CPU-only run.
// Here (no device) the primary context is never active; on a device bench/gpu checks the
// same, where it means something. Context construction is counted either way.
const haveCudaBuild = fs.existsSync(CUDA_ADDON);
(haveCudaBuild ? describe : describe.skip)('a CPU-only run with the CUDA addon loaded', () => {
  test('creates no CUDA context', () => {
    const script = `
      const { native } = require('./lib/native');
      const Context = native.cuda.Context;
      let made = 0;
      native.cuda.Context = function () { made++; return new Context(); };
      const { smc, replacement, resampleAsync, GaussianMixture, schedules } = require('./lib/index');
      const m = GaussianMixture.fromJSON({ weights: [1], means: [[0, 0]], covariances: [[[1, 0.5], [0.5, 1]]] });
      const o = { score: m, schedule: schedules.ou(), steps: 3, observed: { indices: [1], values: [1] }, samples: 2, backend: 'cpu' };
      (async () => {
        await smc({ ...o, particles: 16 });
        await replacement({ ...o, score: (z) => z.map((v) => -v), dim: 2 });
        await resampleAsync(Float64Array.of(0, 1, 2), 'systematic', { seed: 1, counter: 0 }, undefined, { backend: 'cpu' });
        console.log(JSON.stringify({ made, active: native.cuda.query().primaryContextActive, free: native.cuda.query().freeMemory }));
      })();`;
    const env = { ...process.env, CONDIFF_NATIVE: 'cuda' };
    const out = JSON.parse(execFileSync(process.execPath, ['-r', './tools/register-ts.js', '-e', script], { cwd: ROOT, env, encoding: 'utf8' }));
    expect(out.made).toBe(0);
    expect(out.active).not.toBe(true);
    expect(out.free).toBeNull();
  });
});
