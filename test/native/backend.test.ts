// Backends: choosing one, its errors, the CUDA-enabled addon loading where no device
// answers, results saying which backend ran them, and — where a device answers — parity of
// the CUDA backend with the CPU one (test/support/parity.ts; the one-shot GPU script runs
// the same checks). `condiff info` is tested in test/cli/info.test.ts.
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { selectBackend, cudaUnavailableReason, backends } from '../../lib/backend';
import { nativeBuild } from '../../lib/native';
import { GaussianMixture } from '../../lib/mixture';
import { schedules } from '../../lib/schedules';
import { replacement, smc } from '../../lib/samplers';
import { resample, resampleAsync, gatherRows, gatherRowsAsync } from '../../lib/blocks';
import { normalsParity, resampleParity, gatherParity, shortRunParity, longRunInDistribution } from '../support/parity';

const ROOT = path.join(__dirname, '..', '..');
const CUDA_ADDON = path.join(ROOT, 'build-cuda', 'Release', 'condiff_cuda.node');
const reason = cudaUnavailableReason();
const device = reason === null;

const MODEL = GaussianMixture.fromJSON({ weights: [0.5, 0.5], means: [[-2, -2], [2, 2]], covariances: [[[1, 0.9], [0.9, 1]], [[1, 0.9], [0.9, 1]]] });
const OBSERVED = { indices: [1], values: [1] };
const SMALL = { score: MODEL, schedule: schedules.ou(), steps: 4, observed: OBSERVED, samples: 8, seed: 1 };

describe('backend selection', () => {
  test("'cpu' is always there; 'auto' is CUDA exactly when a device answers", () => {
    expect(selectBackend('cpu').name).toBe('cpu');
    expect(selectBackend('auto').name).toBe(device ? 'cuda' : 'cpu');
    expect(selectBackend().name).toBe(selectBackend('auto').name);
    expect(backends().available).toEqual(device ? ['cpu', 'cuda'] : ['cpu']);
    expect(backends().auto).toBe(device ? 'cuda' : 'cpu');
  });

  test('a name that is not a backend is a TypeError or RangeError naming `backend`', () => {
    expect(() => selectBackend('gpu')).toThrow(expect.objectContaining({ name: 'RangeError', message: expect.stringMatching(/^backend must be one of 'auto', 'cpu', 'cuda', got "gpu"/) }));
    expect(() => selectBackend(3)).toThrow(expect.objectContaining({ name: 'TypeError', message: expect.stringMatching(/^backend must be/) }));
  });

  (device ? test.skip : test)("'cuda' without a device is an error naming the reason, never a CPU run", async () => {
    expect(reason).toMatch(/no CUDA build|no CUDA driver|no CUDA device|driver .* older|compute capability|could not be loaded|CONDIFF_NATIVE=cpu/);
    const expected = expect.objectContaining({ message: `backend 'cuda' is not available: ${reason}` });
    expect(() => selectBackend('cuda')).toThrow(expected);
    await expect(smc({ ...SMALL, particles: 4, backend: 'cuda' })).rejects.toEqual(expected);
    await expect(replacement({ ...SMALL, backend: 'cuda' })).rejects.toEqual(expected);
    const lw = Float64Array.of(0, 1, 2);
    expect(() => resample(lw, 'systematic', { seed: 1, counter: 0 }, undefined, { backend: 'cuda' })).toThrow(expected);
    await expect(resampleAsync(lw, 'systematic', { seed: 1, counter: 0 }, undefined, { backend: 'cuda' })).rejects.toEqual(expected);
    expect(() => gatherRows(new Float32Array(6), 2, Int32Array.of(0), undefined, { backend: 'cuda' })).toThrow(expected);
    await expect(gatherRowsAsync(new Float32Array(6), 2, Int32Array.of(0), undefined, { backend: 'cuda' })).rejects.toEqual(expected);
  });

  test('the building blocks take a backend option, checked like the samplers', async () => {
    const lw = Float64Array.of(0, -1, -2, 0.5);
    expect(Array.from(resample(lw, 'residual', { seed: 2, counter: 3 }, undefined, { backend: 'cpu' }))).toEqual(Array.from(resample(lw, 'residual', { seed: 2, counter: 3 })));
    expect(() => resample(lw, 'systematic', { seed: 1, counter: 0 }, undefined, { backend: 'tpu' as never })).toThrow(expect.objectContaining({ name: 'RangeError', message: expect.stringMatching(/^backend must be/) }));
    const rows = Float32Array.of(1, 2, 3, 4);
    expect(Array.from(gatherRows(rows, 2, Int32Array.of(1, 1, 0), undefined, { backend: 'cpu' }))).toEqual([3, 4, 3, 4, 1, 2]);
    expect(Array.from(await gatherRowsAsync(rows, 2, Int32Array.of(1), undefined, { backend: 'auto' }))).toEqual([3, 4]);
  });
});

describe('results say which backend ran them', () => {
  test("smc and replacement, with 'cpu' and with 'auto'", async () => {
    const auto = backends().auto;
    expect((await smc({ ...SMALL, particles: 4, backend: 'cpu' })).backend).toBe('cpu');
    expect((await smc({ ...SMALL, particles: 4 })).backend).toBe(auto);
    expect((await replacement({ ...SMALL, backend: 'cpu' })).backend).toBe('cpu');
    expect((await replacement({ ...SMALL, backend: 'auto', corrector: { kind: 'langevin', steps: 1, gamma: 0.1 } })).backend).toBe(auto);
  });
});

// The CUDA-enabled addon (npm run build:cuda) loads on a machine with no CUDA and says why
// it cannot run; lib loads it with CONDIFF_NATIVE=cuda and runs on its CPU operations.
const haveCudaBuild = fs.existsSync(CUDA_ADDON);
if (!haveCudaBuild) console.log(`CUDA addon checks skipped: ${CUDA_ADDON} is not built (npm run build:cuda)`);
(haveCudaBuild ? describe : describe.skip)('the CUDA-enabled addon', () => {
  test('exports what the CPU addon exports, plus cuda; query() reports the device or why there is none', () => {
    // A child process: this one may have loaded the CPU build already.
    const script = `
      const a = require(${JSON.stringify(CUDA_ADDON)});
      const q = a.cuda.query();
      let ctx = null;
      try { new a.cuda.Context(); ctx = 'ok'; } catch (e) { ctx = e.message; }
      let direct = null;
      try { new a.cuda.DeviceArray(); } catch (e) { direct = e.name + ': ' + e.message; }
      console.log(JSON.stringify({ keys: Object.keys(a), query: q, ctx, direct }));`;
    const r = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
    const cpuKeys = Object.keys(require('node-gyp-build')(ROOT)).filter((k) => k !== 'cuda');
    for (const k of cpuKeys) expect(r.keys).toContain(k);
    expect(r.keys).toContain('cuda');
    expect(typeof r.query.available).toBe('boolean');
    expect(r.query.runtimeVersion).toBeGreaterThanOrEqual(12000);
    expect(r.direct).toMatch(/^TypeError: DeviceArray cannot be constructed directly/);
    if (r.query.available) {
      expect(r.query.reason).toBeNull();
      expect(r.query.computeCapability).toMatch(/^\d+\.\d+$/);
      expect(r.query.totalMemory).toBeGreaterThan(0);
      expect(r.ctx).toBe('ok');
    } else {
      console.log(`CUDA addon loads here with no device: ${r.query.reason}`);
      expect(r.query.reason).toMatch(/no CUDA driver is installed|no CUDA device|driver .* older|compute capability/);
      expect(r.ctx).toBe(`no usable CUDA device: ${r.query.reason}`);
    }
  });

  test('it needs no CUDA library at load time (static runtime): ldd lists none', () => {
    let ldd: string;
    try {
      ldd = execFileSync('ldd', [CUDA_ADDON], { encoding: 'utf8' });
    } catch {
      console.log('ldd not available: skipped');
      return;
    }
    expect(ldd).not.toMatch(/libcuda|libcudart|libcublas|not found/);
  });

  test('CONDIFF_NATIVE=cuda: lib runs on its CPU operations, and info says which addon', () => {
    const env = { ...process.env, CONDIFF_NATIVE: 'cuda' };
    const info = JSON.parse(execFileSync(process.execPath, ['-r', './tools/register-ts.js', 'lib/cli/main.ts', 'info', '--json'], { cwd: ROOT, env, encoding: 'utf8' }));
    expect(info.addon).toBe('cuda');
    expect(info.nativeMode).toBe('cuda');
    const script = `
      const { smc, GaussianMixture, schedules } = require('./lib/index');
      const m = GaussianMixture.fromJSON(${JSON.stringify({ weights: [1], means: [[0, 0]], covariances: [[[1, 0.5], [0.5, 1]]] })});
      smc({ score: m, schedule: schedules.ou(), steps: 3, observed: { indices: [1], values: [1] }, particles: 16, samples: 2, backend: 'cpu' })
        .then((r) => console.log(JSON.stringify({ backend: r.backend, n: r.samples.length })));`;
    const out = JSON.parse(execFileSync(process.execPath, ['-r', './tools/register-ts.js', '-e', script], { cwd: ROOT, env, encoding: 'utf8' }));
    expect(out).toEqual({ backend: 'cpu', n: 4 });
    expect(nativeBuild.cuda.path === null || fs.existsSync(nativeBuild.cuda.path)).toBe(true);
  });
});

// The parity checks themselves, comparing the CPU backend with itself: they pass, so a
// failure on a device is the device's (and the GPU script does not find bugs in them).
describe('the parity checks, CPU against CPU', () => {
  test('building blocks and a short run', async () => {
    for (const r of [await normalsParity('cpu'), await resampleParity([1, 49, 1000], 'cpu'), await gatherParity('cpu'), ...(await shortRunParity('cpu'))]) {
      expect(r).toEqual({ ...r, ok: true });
    }
  });
});

// Parity with the CPU backend (MATH.md §5, §6): only where a device answers.
if (!device) console.log(`CUDA parity tests skipped: ${reason}`);
(device ? describe : describe.skip)('CUDA parity with the CPU backend', () => {
  test('Philox normals: the same bits', async () => {
    const r = await normalsParity();
    expect(r).toEqual({ ...r, ok: true });
  });
  test('resampling: the same ancestors from the same log-weights, every scheme', async () => {
    const r = await resampleParity();
    expect(r).toEqual({ ...r, ok: true });
  });
  test('gather: the same rows', async () => {
    const r = await gatherParity();
    expect(r).toEqual({ ...r, ok: true });
  });
  test('a short whole run: exact with a JS score, float32 rounding with the device mixture', async () => {
    for (const r of await shortRunParity()) expect(r).toEqual({ ...r, ok: true });
  });
  test('a long run agrees in distribution (SW2 to the exact posterior below 1.5 x the noise floor)', async () => {
    const r = await longRunInDistribution();
    expect(r).toEqual({ ...r, ok: true });
  });
});
