// The addon's argument contract (native/binding/op_args.h): per-run keys (batch.runKeys),
// a stream's index apart from its purpose, the numeric codes the addon exports, the typed
// results of the fused step and the output choice, and the failures that must become JS
// errors rather than abort the process (a thread the system will not start, a C++
// exception). Run-key checks run on every backend this process has ('cuda' where a
// device answers).
import { describe, expect, test } from '@jest/globals';
import { native, BatchArgs, StreamArgs } from '../../lib/native';
import { selectBackend, cudaUnavailableReason, BackendOps } from '../../lib/backend';

const f32 = (n: number, f: (i: number) => number = () => 0) => Float32Array.from({ length: n }, (_, i) => f(i));
const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function expectError(f: () => unknown, name: string, message: RegExp): void {
  let thrown: unknown;
  try {
    f();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toEqual(expect.objectContaining({ name, message: expect.stringMatching(message) }));
}

const BACKENDS: Array<['cpu' | 'cuda', BackendOps]> = [['cpu', selectBackend('cpu').ops]];
if (cudaUnavailableReason() === null) BACKENDS.push(['cuda', selectBackend('cuda').ops]);

// D = 5, coordinates 1 and 4 observed.
const D = 5, N = 64, STEPS = 3;
const LATENT = Int32Array.of(0, 2, 3), OBSERVED = Int32Array.of(1, 4);
const P = native.purposes;

/** The key table of runs with the given (seed, run word) pairs. */
function keyTable(runs: Array<[number, number]>): Uint32Array {
  const t = new Uint32Array(3 * runs.length);
  runs.forEach(([seed, run], r) => t.set([seed % 2 ** 32, Math.floor(seed / 2 ** 32), run], 3 * r));
  return t;
}

interface Trace {
  init: Float32Array;
  path: Float32Array;
  ancestors: Int32Array;
  propagated: Float32Array;
  langevin: Float32Array;
  renoised: Float32Array;
}

/**
 * Every randomised batched operation on one batch whose run r has context y[r]; the inputs
 * other than the draws depend only on the run's own data, so run r's outputs depend only on
 * its key, its run word and its context.
 */
async function trace(ops: BackendOps, batch: BatchArgs, seed: number, y: Float32Array): Promise<Trace> {
  const { runs } = batch;
  const rows = runs * N;
  const s = (step: number, purpose: number, index = 0): StreamArgs => ({ seed, step, purpose, index });
  const init = f32(rows * D);
  await ops.initState(batch, LATENT, OBSERVED, y, s(STEPS, P.initial), init, 2);
  const path = f32((STEPS + 1) * runs * 2);
  const offset = batch.runKeys ? 0 : batch.runOffset;
  await ops.forwardContextPath(Float32Array.of(0.25, -1.5), runs, offset, Float64Array.of(0.9, 0.8, 0.7), Float64Array.of(0.19, 0.36, 0.51), s(0, P.contextPath), path, 2, batch.runKeys);
  const inc = new Float64Array(rows), lw = new Float64Array(rows).fill(-Math.log(N));
  await ops.gaussianYLogWeights(batch, OBSERVED, init, y, 0.4, inc, 2);
  const flags = new Uint8Array(runs);
  await ops.reweight(batch, lw, inc, 1, new Float64Array(runs), new Float64Array(runs), flags, 2);
  const ancestors = new Int32Array(rows);
  expect(await ops.resampleBatch(batch, native.codes.schemes.residual, flags, s(2, P.resampling), lw, new Float64Array(rows), ancestors, 2)).toBe(-1);
  const propagated = f32(rows * D);
  await ops.propagate(batch, LATENT, OBSERVED, init, ancestors, 0.3, y, s(2, P.kernelNoise), propagated, 2);
  const score = propagated.map((v) => -0.5 * v);
  const langevin = propagated.slice();
  await ops.langevin(batch, LATENT, OBSERVED, score, native.codes.langevinRules.snr, 0.16, 0.81, s(2, P.langevin, 3), langevin, 2);
  const renoised = propagated.slice();
  await ops.renoise(batch, LATENT, OBSERVED, 0.95, 0.0975, y, s(2, P.repaintNoise, 1), renoised, 2);
  return { init, path, ancestors, propagated, langevin, renoised };
}

/** Run r's slice of every output of a trace of `runs` runs. */
function runOf(t: Trace, runs: number, r: number): Record<string, Buffer> {
  const slice = (a: Float32Array | Int32Array) => {
    const per = a.length / runs;
    return bytes(a.subarray(r * per, (r + 1) * per));
  };
  const path = new Float32Array((STEPS + 1) * 2);
  for (let i = 0; i <= STEPS; i++) path.set(t.path.subarray((i * runs + r) * 2, (i * runs + r + 1) * 2), i * 2);
  return { init: slice(t.init), path: bytes(path), ancestors: slice(t.ancestors), propagated: slice(t.propagated), langevin: slice(t.langevin), renoised: slice(t.renoised) };
}

describe.each(BACKENDS)('batch.runKeys on %s', (_backend, ops) => {
  const seed = 3 * 2 ** 32 + 11; // both key words in use
  const y = f32(3 * 2, (i) => 0.1 * i - 0.2);

  test('a table equal to (seed, runOffset + r) draws the same bytes as no table', async () => {
    const plain: BatchArgs = { runs: 3, particles: N, dim: D, runOffset: 7 };
    const keyed: BatchArgs = { ...plain, runKeys: keyTable([[seed, 7], [seed, 8], [seed, 9]]) };
    const a = await trace(ops, plain, seed, y);
    const b = await trace(ops, keyed, seed, y);
    for (let r = 0; r < 3; r++) expect(runOf(b, 3, r)).toEqual(runOf(a, 3, r));
    // With a table the stream's own seed is not used.
    const c = await trace(ops, keyed, 999, y);
    for (let r = 0; r < 3; r++) expect(runOf(c, 3, r)).toEqual(runOf(a, 3, r));
  });

  test('two seeds in one batch draw what two separate batches draw', async () => {
    const seedA = 42, seedB = 2 ** 40 + 5;
    const yA = Float32Array.of(0.5, -0.25), yB = Float32Array.of(-1, 2);
    const both = await trace(ops, { runs: 2, particles: N, dim: D, runOffset: 0, runKeys: keyTable([[seedA, 5], [seedB, 9]]) }, 0, Float32Array.of(...yA, ...yB));
    const a = await trace(ops, { runs: 1, particles: N, dim: D, runOffset: 5 }, seedA, yA);
    const b = await trace(ops, { runs: 1, particles: N, dim: D, runOffset: 9 }, seedB, yB);
    expect(runOf(both, 2, 0)).toEqual(runOf(a, 1, 0));
    expect(runOf(both, 2, 1)).toEqual(runOf(b, 1, 0));
    expect(runOf(both, 2, 0).init.equals(runOf(both, 2, 1).init)).toBe(false);
  });

  test('the table is checked: type, length, seed range, overlap with an output', () => {
    const batch = (runKeys: unknown) => ({ runs: 2, particles: 2, dim: 2, runOffset: 0, runKeys }) as BatchArgs;
    const z = f32(8);
    const call = (b: BatchArgs, out = z) => () => ops.initState(b, Int32Array.of(0), Int32Array.of(1), f32(2), { seed: 0, step: 0, purpose: P.initial }, out, 1);
    expectError(call(batch(new Int32Array(6))), 'TypeError', /^batch\.runKeys must be a Uint32Array, got an Int32Array$/);
    expectError(call(batch(new Uint32Array(5))), 'RangeError', /^batch\.runKeys must have length 6 \(3 words per run: seed mod 2\^32, seed \/ 2\^32, run word\), got 5$/);
    expectError(call(batch(Uint32Array.of(0, 0, 0, 0, 2 ** 21, 0))), 'RangeError', /^batch\.runKeys\[4\] \(seed \/ 2\^32\) must be at most 2097151, got 2097152$/);
    const shared = new ArrayBuffer(64);
    expectError(call(batch(new Uint32Array(shared, 0, 6)), new Float32Array(shared, 8, 8)), 'RangeError', /^z must not share memory with batch\.runKeys, but they overlap$/);
  });
});

describe('chooseByWeight and smcStep with run keys (CPU)', () => {
  test('the output choice and the fused step follow the table', async () => {
    const seed = 77;
    const lw = Float64Array.from({ length: 3 * N }, (_, i) => Math.sin(i));
    const plain: BatchArgs = { runs: 3, particles: N, dim: D, runOffset: 4 };
    const keyed: BatchArgs = { ...plain, runKeys: keyTable([[seed, 4], [seed, 5], [seed, 6]]) };
    const stream = { seed, step: 0, purpose: P.outputChoice };
    const a = new Int32Array(3), b = new Int32Array(3);
    expect(native.chooseByWeight(plain, lw, stream, a)).toEqual({ status: 'ok', index: -1 });
    expect(native.chooseByWeight(keyed, lw, { ...stream, seed: 1 }, b)).toEqual({ status: 'ok', index: -1 });
    expect(Array.from(b)).toEqual(Array.from(a));

    const step = async (batch: BatchArgs, s: number) => {
      const rows = 3 * N;
      const z = f32(rows * D, (i) => Math.cos(i)), score = z.map((v) => -0.5 * v);
      const logW = new Float64Array(rows).fill(-Math.log(N)), flags = new Uint8Array(3);
      const r = await native.smcStep(batch, LATENT, OBSERVED, z, score, 0.98, 0.02, score, f32(6, (i) => i / 4), 0.4, logW, new Float64Array(rows), 1, new Float64Array(3), new Float64Array(3), flags, native.codes.schemes.systematic, { seed: s, step: 2, purpose: P.resampling }, new Float64Array(rows), new Int32Array(rows), 0.1, { seed: s, step: 2, purpose: P.kernelNoise }, 2);
      expect(r).toEqual({ status: 'ok', index: -1 });
      return [bytes(z), bytes(logW)];
    };
    expect(await step(keyed, 5)).toEqual(await step(plain, seed));
  });
});

describe('typed results of the fused step and the output choice', () => {
  const batch: BatchArgs = { runs: 2, particles: 3, dim: 2, runOffset: 0 };
  const stream = (purpose: number) => ({ seed: 1, step: 1, purpose });
  const step = (score: Float32Array, logW: Float64Array) =>
    native.smcStep(batch, Int32Array.of(0), Int32Array.of(1), f32(12, (i) => i / 10), score, 1, 10, f32(12), f32(2), 0.3, logW, new Float64Array(6), 1, new Float64Array(2), new Float64Array(2), new Uint8Array(2), 0, stream(P.resampling), new Float64Array(6), new Int32Array(6), 0.1, stream(P.kernelNoise), 1);

  test("'kernel-mean-not-finite' names the flat element; 'weights-degenerate' names the run", async () => {
    const huge = f32(12);
    huge[5] = 3e38;
    await expect(step(huge, new Float64Array(6))).resolves.toEqual({ status: 'kernel-mean-not-finite', index: 5 });
    const logW = new Float64Array(6);
    logW.fill(-Infinity, 3);
    await expect(step(f32(12), logW)).resolves.toEqual({ status: 'weights-degenerate', index: 1 });
    expect(native.chooseByWeight(batch, logW, stream(P.outputChoice), new Int32Array(2))).toEqual({ status: 'weights-degenerate', index: 1 });
  });
});

describe('stream.index and stream.purpose', () => {
  test('the index travels apart and forms the word purpose | index', async () => {
    const word = (purpose: number, index: number) => {
      const out = f32(8);
      return native.normals(out, { seed: 3, run: 1, step: 2, purpose, index }, 0, 1).then(() => bytes(out));
    };
    // rng.test.ts checks the words against philox4x32 with the purpose word built by hand;
    // here: index 3 is its own stream, reproducible, and an omitted index is index 0.
    const a = await word(P.langevin, 0), b = await word(P.langevin, 3), c = await word(P.langevin, 3);
    expect(b.equals(a)).toBe(false);
    expect(b.equals(c)).toBe(true);
    const omitted = f32(8);
    await native.normals(omitted, { seed: 3, run: 1, step: 2, purpose: P.langevin }, 0, 1);
    expect(bytes(omitted).equals(a)).toBe(true);
  });

  test('an index outside [0, 65535], or a purpose word with an index in it, is a RangeError', () => {
    const out = f32(4);
    const call = (stream: object) => () => native.normals(out, stream as StreamArgs & { run: number }, 0, 1);
    expectError(call({ seed: 0, run: 0, step: 0, purpose: P.langevin, index: 65536 }), 'RangeError', /^stream\.index must be an integer in \[0, 65535\], got 65536$/);
    expectError(call({ seed: 0, run: 0, step: 0, purpose: P.langevin, index: -1 }), 'RangeError', /^stream\.index must be an integer in \[0, 65535\], got -1$/);
    expectError(call({ seed: 0, run: 0, step: 0, purpose: P.langevin, index: 1.5 }), 'RangeError', /^stream\.index must be an integer/);
    expectError(call({ seed: 0, run: 0, step: 0, purpose: P.langevin + 1 }), 'RangeError', /^stream\.purpose must be a purpose of native\.purposes \(a multiple of 65536; the index goes in stream\.index\), got 393217$/);
  });
});

describe('codes come from the addon', () => {
  test('schemes, kernels, parameterizations, Langevin rules', () => {
    expect(native.codes).toEqual({
      schemes: { systematic: 0, stratified: 1, multinomial: 2, residual: 3 },
      kernels: { euler: 0, ddpm: 1 },
      parameterizations: { score: 0, epsilon: 1, x0: 2 },
      langevinRules: { gamma: 0, snr: 1 },
    });
    // Each code is accepted where it is used, one past the last is not.
    expectError(() => native.kernelCoefficients(2, new Float64Array(9)), 'RangeError', /^kernel must be an integer in \[0, 1\], got 2$/);
    expectError(() => native.resample(new Float64Array(2), 4, { seed: 0, run: 0, step: 0, purpose: 0 }, new Int32Array(2), 1), 'RangeError', /^scheme must be an integer in \[0, 3\], got 4$/);
    expectError(() => native.predictionToScore(f32(1), f32(1), 3, 1, 1, f32(1), 1), 'RangeError', /^parameterization must be an integer in \[0, 2\], got 3$/);
  });
});

describe('failures inside the native code become JS errors, never an abort', () => {
  test('a thread the system refuses to start: the loop runs on fewer threads (pool and fallback)', async () => {
    expect(native.parallelProbe(64, 4, { startLimit: 0 })).toBe(1);
    expect(native.parallelProbe(64, 4, { startLimit: 1 })).toBeLessThanOrEqual(3);
    await expect(native.parallelProbeAsync(64, 8, { startLimit: 2 })).resolves.toBeLessThanOrEqual(5);
    // And without a limit the probe still splits the work.
    expect(native.parallelProbe(64, 2)).toBe(2);
  });

  test('std::bad_alloc and other C++ exceptions name the operation (sync and async)', async () => {
    expectError(() => native.parallelProbe(8, 2, { fail: 'bad-alloc' }), 'Error', /^parallelProbe: out of memory \(std::bad_alloc\)$/);
    expectError(() => native.parallelProbe(8, 2, { fail: 'error' }), 'Error', /^parallelProbe: the probe's chunk failed$/);
    expectError(() => native.parallelProbe(8, 2, { fail: 'unknown' }), 'Error', /^parallelProbe: a native exception of an unknown type$/);
    await expect(native.parallelProbeAsync(8, 2, { fail: 'bad-alloc' })).rejects.toEqual(expect.objectContaining({ name: 'Error', message: 'parallelProbeAsync: out of memory (std::bad_alloc)' }));
    await expect(native.parallelProbeAsync(8, 1, { fail: 'unknown' })).rejects.toEqual(expect.objectContaining({ message: 'parallelProbeAsync: a native exception of an unknown type' }));
    // The process and the addon carry on.
    expect(native.parallelProbe(16, 2)).toBe(2);
  });
});
