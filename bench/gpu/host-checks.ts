// Device checks of the CUDA backend's host side (bench/gpu/main.ts runs them; the same
// logic is tested without a device in test/native/cuda-host.test.ts):
//   - a JS score in row chunks (CONDIFF_SCORE_CALL_ELEMENTS) on the device gives the CPU
//     backend's bytes, with a final state above the 16 MiB page-locked staging chunk;
//   - ranged uploads and downloads (offset), into page-locked and ordinary memory, and a
//     download of several staging chunks, against what was uploaded;
//   - a fresh process that loads the CUDA addon and runs on the CPU holds no CUDA context,
//     and holds one once it runs on 'cuda'.
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { native } from '../../lib/native';
import { schedules } from '../../lib/schedules';
import { replacement } from '../../lib/samplers';
import { ScoreContext } from '../../lib/score';
import { useCudaContextForTests } from '../../lib/backend';
import { fakeCuda, isFakeDeviceArray } from '../../test/support/fake-cuda';
import type { Candidate, ParityResult } from '../../test/support/parity';

const sameBytes = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Replacement with a JS score, 70,000 samples of D = 64 (17.9 MB of state), scored in chunks of 2^20 values (16,384 rows). */
export async function chunkedScoreParity(candidate: Candidate, samples = 70_000, callElements = 2 ** 20): Promise<ParityResult> {
  const D = 64;
  const calls: Array<[number, number]> = [];
  const score = (z: Float32Array, _t: number, c: ScoreContext) => {
    calls.push([c.rowOffset ?? 0, c.rows]);
    return z.map((v) => -v);
  };
  const common = { dim: D, schedule: schedules.ou(), steps: 3, observed: { indices: [0, 5], values: [0.5, -1] }, samples, seed: 9, threads: 2 };
  const a = await replacement({ ...common, score, backend: 'cpu' });
  const before = process.env.CONDIFF_SCORE_CALL_ELEMENTS;
  process.env.CONDIFF_SCORE_CALL_ELEMENTS = String(callElements);
  calls.length = 0;
  let b;
  try {
    b = await replacement({ ...common, score, backend: candidate });
  } finally {
    if (before === undefined) delete process.env.CONDIFF_SCORE_CALL_ELEMENTS;
    else process.env.CONDIFF_SCORE_CALL_ELEMENTS = before;
  }
  const rowsPerCall = Math.floor(callElements / D);
  const perStep = candidate === 'cuda' ? Math.ceil(samples / rowsPerCall) : 1;
  const expected: Array<[number, number]> = [];
  for (let s = 0; s < 3; s++) {
    for (let k = 0; k < perStep; k++) expected.push(perStep === 1 ? [0, samples] : [k * rowsPerCall, Math.min(rowsPerCall, samples - k * rowsPerCall)]);
  }
  const chunksOk = JSON.stringify(calls) === JSON.stringify(expected);
  const same = sameBytes(a.samples, b.samples);
  return {
    name: `JS score in row chunks, ${samples} x ${D}`,
    ok: b.backend === candidate && same && chunksOk,
    detail: `${perStep} call(s) per step of <= ${rowsPerCall} rows (${chunksOk ? 'as expected' : `got ${JSON.stringify(calls.slice(0, 8))}`}); samples ${same ? 'identical bytes' : 'differ'} to the CPU's`,
  };
}

/** The same on the stand-in context of the jest suite (the dry run: checks this check's own expectations). */
export async function chunkedScoreOnStandIn(samples: number): Promise<ParityResult> {
  useCudaContextForTests(fakeCuda(), isFakeDeviceArray);
  try {
    const r = await chunkedScoreParity('cuda', samples, 2 ** 16);
    return { ...r, name: `${r.name} (stand-in context)` };
  } finally {
    useCudaContextForTests(null);
  }
}

/** Ranged and chunked transfers of one context against the values uploaded. */
export async function transferCheck(): Promise<ParityResult> {
  const name = 'uploads and downloads: ranges, page-locked and ordinary memory, > 16 MiB';
  if (!native.cuda?.query().available) return { name, ok: true, detail: 'skipped: no device' };
  const ctx = new native.cuda.Context();
  const n = 2.5 * 2 ** 22 + 3; // 2.5 staging chunks of 16 MiB and a bit
  const values = Float32Array.from({ length: n }, (_, i) => Math.fround(i * 0.25 - 7));
  const problems: string[] = [];
  const dev = ctx.alloc('float32', n);
  try {
    await ctx.upload(values, dev);
    const whole = new Float32Array(n);
    await ctx.download(dev, whole);
    if (!sameBytes(whole, values)) problems.push('whole download into ordinary memory differs');
    const pinned = ctx.hostArray('float32', 1000);
    await ctx.download(dev, pinned, 4_000_001);
    if (!sameBytes(pinned, values.subarray(4_000_001, 4_001_001))) problems.push('ranged download into page-locked memory differs');
    const plain = new Float32Array(5_000_000);
    await ctx.download(dev, plain, n - 5_000_000);
    if (!sameBytes(plain, values.subarray(n - 5_000_000))) problems.push('ranged download of > 16 MiB into ordinary memory differs');
    const patch = Float32Array.from({ length: 777 }, (_, i) => -i);
    await ctx.upload(patch, dev, 123_456);
    pinned.fill(0);
    await ctx.download(dev, pinned.subarray(0, 777), 123_456);
    if (!sameBytes(pinned.subarray(0, 777), patch)) problems.push('ranged upload then download differs');
    try {
      await ctx.download(dev, new Float32Array(10), n - 9);
      problems.push('an offset past the end was accepted');
    } catch (e) {
      if (!/^offset must be an integer in \[0, /.test((e as Error).message)) problems.push(`offset past the end: ${(e as Error).message}`);
    }
  } finally {
    dev.free();
  }
  return { name, ok: problems.length === 0, detail: problems.length ? problems.join('; ') : `${n} floats: every copy matches (lost: ${ctx.lost})` };
}

/** A fresh process: no CUDA context after loading the addon and running on the CPU; one after a 'cuda' run. */
export function noContextForCpuRuns(): ParityResult {
  const name = 'no CUDA context for CPU-only runs';
  if (!native.cuda) return { name, ok: true, detail: 'skipped: the CUDA addon is not loaded' };
  const lib = path.join(__dirname, '..', '..', 'lib');
  const script = `
    const { native } = require(${JSON.stringify(path.join(lib, 'native'))});
    const { smc } = require(${JSON.stringify(path.join(lib, 'samplers'))});
    const { resampleAsync } = require(${JSON.stringify(path.join(lib, 'blocks'))});
    const { GaussianMixture } = require(${JSON.stringify(path.join(lib, 'mixture'))});
    const { schedules } = require(${JSON.stringify(path.join(lib, 'schedules'))});
    const active = () => native.cuda.query().primaryContextActive;
    const m = GaussianMixture.fromJSON({ weights: [1], means: [[0, 0]], covariances: [[[1, 0.5], [0.5, 1]]] });
    const o = { score: m, schedule: schedules.ou(), steps: 3, observed: { indices: [1], values: [1] }, samples: 2, particles: 16 };
    (async () => {
      const r = { loaded: active() };
      await smc({ ...o, backend: 'cpu' });
      await resampleAsync(Float64Array.of(0, 1, 2), 'systematic', { seed: 1, counter: 0 }, undefined, { backend: 'cpu' });
      r.afterCpu = active();
      r.available = native.cuda.query().available;
      if (r.available) {
        await smc({ ...o, backend: 'cuda' });
        r.afterCuda = active();
      }
      console.log(JSON.stringify(r));
    })().catch((e) => { console.log(JSON.stringify({ error: String(e && e.stack || e) })); });`;
  let r: { loaded?: boolean | null; afterCpu?: boolean | null; afterCuda?: boolean | null; available?: boolean; error?: string };
  try {
    r = JSON.parse(execFileSync(process.execPath, [...process.execArgv, '-e', script], { encoding: 'utf8', env: { ...process.env, CONDIFF_NATIVE: 'cuda' }, timeout: 60_000 }).trim().split('\n').pop()!);
  } catch (e) {
    return { name, ok: false, detail: `the child process failed: ${(e as Error).message.split('\n')[0]}` };
  }
  if (r.error) return { name, ok: false, detail: r.error.split('\n')[0] };
  // With no device the driver cannot say (null): only a context seen is a failure then.
  const ok = r.available ? r.loaded === false && r.afterCpu === false && r.afterCuda === true : r.loaded !== true && r.afterCpu !== true;
  return { name, ok, detail: `primary context active: after loading ${r.loaded}, after CPU runs ${r.afterCpu}, after a 'cuda' run ${r.afterCuda ?? 'not run (no device)'}` };
}
