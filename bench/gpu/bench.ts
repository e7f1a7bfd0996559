// Benchmarks on the CUDA device (run by bench/gpu/run.sh through main.ts):
//   1. resampling + gather at N = 1e7 and 1e8, D = 64, every scheme, as a fraction of the
//      device-to-device copy bandwidth measured in the same process (target >= 70%);
//   2. particle-steps per second of the whole filter (smc, every step resampled) with the
//      built-in mixture (D = 64, J = 10 full covariances, bench/common.ts mixtureProblem)
//      at N = 1e5, 1e6, 1e7, and its ratio to the CPU backend on 2 threads at N <= 1e6
//      (measured on the development machine: bench/gpu/cpu-baseline.json);
//   3. the largest N that fits in device memory for that filter, run for 2 steps.
// Timing: wall clock around awaited calls (each waits for its device work), after a
// warm-up, median of several repetitions; inputs are random, never zeros.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { native, DeviceArray, CudaContext } from '../../lib/native';
import { GaussianMixture } from '../../lib/mixture';
import { schedules } from '../../lib/schedules';
import { smc } from '../../lib/samplers';
import { RESAMPLING_SCHEMES } from '../../lib/driver';
import { mixtureProblem } from '../common';

export const DIM = 64;
const COMPONENTS = 10;

export interface CopyRow {
  n: number;
  scheme: string;
  /** Resampling then gather, each call awaited (what a JS caller waits), median. */
  seconds: number;
  /** N (8 + 4 + 4 + 2 * 4 D) bytes: log-weights read, ancestors written and read, rows read and written. */
  bytes: number;
  bandwidth: number;
  copyBandwidth: number;
  fraction: number;
  /** Each alone, awaited (median): where the time goes. */
  resampleSeconds?: number;
  gatherSeconds?: number;
  /** The device's time per resampling + gather: `reps` pairs enqueued back to back, one
   * wait (no host round trip per call), against the copy timed the same way. */
  pipelinedSeconds?: number;
  pipelinedCopyBandwidth?: number;
  pipelinedFraction?: number;
}

export interface FilterRow {
  n: number;
  steps: number;
  seconds: number;
  particleStepsPerSecond: number;
  /** Per step, without the run's fixed costs (allocation, uploads, the final read):
   * N (steps - 2) / (T(steps) - T(2)), medians of 3. */
  marginalParticleStepsPerSecond?: number;
  twoStepSeconds?: number;
  cpuParticleStepsPerSecond: number | null;
  ratio: number | null;
}

export interface HostCpuRow {
  n: number;
  steps: number;
  seconds: number;
  particleStepsPerSecond: number;
  threads: number;
}

export interface LargestRow {
  n: number;
  bytesPerParticle: number;
  freeBytes: number;
  secondsPerStep: number | null;
  attempts: string[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** Seconds per call of `reps` calls enqueued without waiting (stream order keeps them in
 * sequence on the device), then one wait for all: the device's time, no host round trip. */
async function pipelined(reps: number, fn: (i: number) => Promise<unknown>[]): Promise<number> {
  const t0 = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < reps; i++) pending.push(...fn(i));
  await Promise.all(pending);
  return (performance.now() - t0) / 1000 / reps;
}

/** Random float64 log-weights (a mild spread, as a filter sees them), from a fast LCG. */
function randomLogWeights(n: number, seed: number): Float64Array {
  const lw = new Float64Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = (s + 0.5) / 2 ** 32;
    lw[i] = 2 * u - 1;
  }
  return lw;
}

/** What the resampling bench needs of a device; hostDevice() is the CPU stand-in for --dry-run. */
type BenchDevice = Pick<CudaContext, 'alloc' | 'normals' | 'upload' | 'copy' | 'resampleAsync' | 'gatherRowsAsync'>;

function hostDevice(): BenchDevice {
  const typed = { float32: Float32Array, float64: Float64Array, int32: Int32Array, uint8: Uint8Array } as const;
  const host = (a: unknown) => a as Float32Array;
  return {
    alloc: (type, length) => new typed[type](length) as unknown as DeviceArray,
    normals: (out, stream, first, threads) => native.normals(host(out), stream, first, threads),
    upload: async (h, d) => (host(d).set(host(h)), 0),
    copy: async (s, d) => (host(d).set(host(s)), 0),
    resampleAsync: (lw, scheme, stream, out, threads) => native.resampleAsync(lw as Float64Array, scheme, stream, out as Int32Array, threads),
    gatherRowsAsync: (rows, dim, anc, out, threads) => native.gatherRowsAsync(host(rows), dim, anc as Int32Array, host(out), threads),
  };
}

export async function resampleGather(sizes: number[], log: (s: string) => void, backend: 'cuda' | 'cpu' = 'cuda'): Promise<CopyRow[]> {
  const ctx: BenchDevice = backend === 'cuda' ? new native.cuda!.Context() : hostDevice();
  const rows: CopyRow[] = [];
  for (const n of sizes) {
    const arrays: DeviceArray[] = [];
    const alloc = (type: 'float32' | 'float64' | 'int32', length: number) => {
      const a = ctx.alloc(type, length);
      arrays.push(a);
      return a;
    };
    const data = alloc('float32', n * DIM), out = alloc('float32', n * DIM);
    const lw = alloc('float64', n), anc = alloc('int32', n);
    await ctx.normals(data, { seed: 1, run: 0, step: 0, purpose: native.purposes.user }, 0, 1);
    await ctx.upload(randomLogWeights(n, n), lw);
    const reps = n >= 1e8 ? 5 : 9;
    await ctx.copy(data, out);
    const copyTimes: number[] = [];
    for (let r = 0; r < reps; r++) copyTimes.push(await timed(() => ctx.copy(data, out)));
    const copySeconds = median(copyTimes);
    const copyBandwidth = (2 * 4 * n * DIM) / copySeconds;
    // Back-to-back calls are ordered on the device only by its stream (the CPU stand-in
    // of --dry-run runs them on threads): pipelined timings are the device's alone.
    const device = backend === 'cuda';
    // A failure of the pipelined timing (it has not run on a device yet) is logged and
    // leaves the awaited figures standing.
    const tryPipelined = async (what: string, fn: () => Promise<number>): Promise<number> => {
      if (!device) return NaN;
      try {
        return await fn();
      } catch (e) {
        log(`  pipelined ${what} FAILED: ${(e as Error).message}`);
        return NaN;
      }
    };
    const copyPipelined = await tryPipelined('copy', () => pipelined(reps, () => [ctx.copy(data, out)]));
    const pipelinedCopyBandwidth = (2 * 4 * n * DIM) / copyPipelined;
    log(`N = ${n.toExponential(0)}: device copy of ${(4 * n * DIM / 2 ** 30).toFixed(2)} GiB: ${(copySeconds * 1e3).toFixed(3)} ms = ${(copyBandwidth / 1e12).toFixed(3)} TB/s (read + write)` +
      (device ? `; pipelined ${(copyPipelined * 1e3).toFixed(3)} ms = ${(pipelinedCopyBandwidth / 1e12).toFixed(3)} TB/s` : ''));
    for (const scheme of RESAMPLING_SCHEMES) {
      const code = RESAMPLING_SCHEMES.indexOf(scheme);
      const key = (counter: number) => ({ seed: 3, run: 0, step: counter, purpose: native.purposes.user });
      const once = async (counter: number) => {
        await ctx.resampleAsync(lw, code, key(counter), anc, 1);
        await ctx.gatherRowsAsync(data, DIM, anc, out, 1);
      };
      await once(0);
      const times: number[] = [], resampleTimes: number[] = [], gatherTimes: number[] = [];
      for (let r = 0; r < reps; r++) times.push(await timed(() => once(r + 1)));
      for (let r = 0; r < reps; r++) resampleTimes.push(await timed(() => ctx.resampleAsync(lw, code, key(r + 1), anc, 1)));
      for (let r = 0; r < reps; r++) gatherTimes.push(await timed(() => ctx.gatherRowsAsync(data, DIM, anc, out, 1)));
      const pipelinedSeconds = await tryPipelined(scheme, () =>
        pipelined(reps, (r) => [ctx.resampleAsync(lw, code, key(r + 1), anc, 1), ctx.gatherRowsAsync(data, DIM, anc, out, 1)]));
      const seconds = median(times);
      const bytes = n * (8 + 4 + 4 + 2 * 4 * DIM);
      const row: CopyRow = {
        n, scheme, seconds, bytes, bandwidth: bytes / seconds, copyBandwidth, fraction: bytes / seconds / copyBandwidth,
        resampleSeconds: median(resampleTimes), gatherSeconds: median(gatherTimes),
        ...(device ? { pipelinedSeconds, pipelinedCopyBandwidth, pipelinedFraction: bytes / pipelinedSeconds / pipelinedCopyBandwidth } : {}),
      };
      rows.push(row);
      log(`  ${scheme}: ${(seconds * 1e3).toFixed(3)} ms, ${(row.bandwidth / 1e12).toFixed(3)} TB/s = ${(100 * row.fraction).toFixed(1)}% of copy (resample ${(row.resampleSeconds! * 1e3).toFixed(3)} ms, gather ${(row.gatherSeconds! * 1e3).toFixed(3)} ms alone)` +
        (device ? `; pipelined ${(pipelinedSeconds * 1e3).toFixed(3)} ms = ${(100 * row.pipelinedFraction!).toFixed(1)}% of the pipelined copy` : ''));
    }
    for (const a of arrays) a.free?.();
  }
  return rows;
}

export function filterModel(): { model: GaussianMixture; observed: { indices: number[]; values: number[] } } {
  const p = mixtureProblem(DIM, COMPONENTS);
  return { model: GaussianMixture.fromJSON(p.model), observed: p.observed };
}

/** One filter run: seconds of the whole smc call (its `seconds`). */
export async function filterRun(model: GaussianMixture, observed: { indices: number[]; values: number[] }, n: number, steps: number, backend: 'cpu' | 'cuda', threads?: number): Promise<number> {
  const r = await smc({ score: model, schedule: schedules.ou(), steps, observed, particles: n, samples: 1, seed: 1, backend, threads });
  return r.seconds;
}

export async function filterThroughput(
  sizes: number[],
  cpuBaseline: Record<string, number>,
  log: (s: string) => void,
  backend: 'cuda' | 'cpu' = 'cuda',
): Promise<FilterRow[]> {
  const { model, observed } = filterModel();
  await filterRun(model, observed, 1000, 2, backend); // warm-up: context, kernels, staging
  const rows: FilterRow[] = [];
  for (const n of sizes) {
    // About 1 s per run: steps from 2-step probes (whose median also gives the fixed
    // costs: the marginal rate below).
    const probes: number[] = [];
    for (let r = 0; r < 3; r++) probes.push(await filterRun(model, observed, n, 2, backend));
    const probe = median(probes);
    const steps = Math.max(10, Math.min(200, Math.round((1.0 / probe) * 2)));
    const times: number[] = [];
    for (let r = 0; r < 3; r++) times.push(await filterRun(model, observed, n, steps, backend));
    const seconds = median(times);
    const rate = (n * steps) / seconds;
    const marginal = seconds > probe ? (n * (steps - 2)) / (seconds - probe) : NaN;
    const cpu = cpuBaseline[String(n)] ?? null;
    rows.push({ n, steps, seconds, particleStepsPerSecond: rate, marginalParticleStepsPerSecond: marginal, twoStepSeconds: probe, cpuParticleStepsPerSecond: cpu, ratio: cpu ? rate / cpu : null });
    log(`filter N = ${n.toExponential(0)}: ${steps} steps in ${seconds.toFixed(3)} s = ${rate.toExponential(3)} particle-steps/s${cpu ? ` (${(rate / cpu).toFixed(1)}x the CPU's ${cpu.toExponential(3)})` : ''}; 2 steps in ${probe.toFixed(3)} s, so per step ${marginal.toExponential(3)} particle-steps/s without the fixed costs`);
  }
  return rows;
}

/** The same filter on the CPU backend of this machine (2 threads, as on the development
 * machine): one run of about a second per size after a warm-up, so the GPU's ratio to a
 * CPU measured in the same process sits beside the development machine's. */
export async function hostCpuFilter(sizes: number[], log: (s: string) => void, threads = 2): Promise<HostCpuRow[]> {
  const { model, observed } = filterModel();
  await filterRun(model, observed, 1000, 2, 'cpu', threads);
  const rows: HostCpuRow[] = [];
  for (const n of sizes) {
    const probe = await filterRun(model, observed, n, 1, 'cpu', threads);
    const steps = Math.max(2, Math.min(20, Math.round(1.0 / probe)));
    const seconds = await filterRun(model, observed, n, steps, 'cpu', threads);
    const rate = (n * steps) / seconds;
    rows.push({ n, steps, seconds, particleStepsPerSecond: rate, threads });
    log(`host CPU filter N = ${n.toExponential(0)}, ${threads} threads: ${steps} steps in ${seconds.toFixed(3)} s = ${rate.toExponential(3)} particle-steps/s`);
  }
  return rows;
}

/** Device bytes per particle of the filter at D = 64 (lib/driver.ts): z and work (4 D each),
 * log-weights, increment, fixed-point CDF (8 each), ancestors (4), resampling tiles (~0). */
export const BYTES_PER_PARTICLE = 2 * 4 * DIM + 3 * 8 + 4;

export async function largestN(log: (s: string) => void, seconds = Infinity): Promise<LargestRow> {
  const started = performance.now();
  const { model, observed } = filterModel();
  const q = native.cuda!.query({ freeMemory: true });
  const freeMemory = q.freeMemory ?? 0;
  // MATH.md §6: the Philox counter's first word is element / 4, so N D <= 2^34.
  const counterLimit = Math.floor(2 ** 34 / DIM);
  let n = Math.min(counterLimit, Math.floor((0.92 * freeMemory) / BYTES_PER_PARTICLE));
  const attempts: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    if (attempt > 0 && (performance.now() - started) / 1000 > seconds / 2) {
      attempts.push(`stopped: ${((performance.now() - started) / 1000).toFixed(0)} s of ${seconds.toFixed(0)} s used`);
      break;
    }
    try {
      const seconds = await filterRun(model, observed, n, 2, 'cuda');
      attempts.push(`N = ${n}: ran 2 steps in ${seconds.toFixed(2)} s`);
      log(attempts[attempts.length - 1]);
      return { n, bytesPerParticle: BYTES_PER_PARTICLE, freeBytes: freeMemory, secondsPerStep: seconds / 2, attempts };
    } catch (e) {
      attempts.push(`N = ${n}: ${(e as Error).message.split('\n')[0]}`);
      log(attempts[attempts.length - 1]);
      n = Math.floor(n * 0.85);
    }
  }
  return { n: 0, bytesPerParticle: BYTES_PER_PARTICLE, freeBytes: freeMemory, secondsPerStep: null, attempts };
}

export function readCpuBaseline(): { rates: Record<string, number>; note: string } {
  const file = path.join(__dirname, 'cpu-baseline.json');
  const candidates = [file, path.join(__dirname, '..', '..', '..', 'bench', 'gpu', 'cpu-baseline.json'), path.join(process.cwd(), 'bench', 'gpu', 'cpu-baseline.json')];
  for (const f of candidates) {
    if (fs.existsSync(f)) {
      const j = JSON.parse(fs.readFileSync(f, 'utf8')) as { rates: Record<string, number>; machine: string; date: string; threads: number };
      return { rates: j.rates, note: `${j.machine}, ${j.threads} threads, ${j.date}` };
    }
  }
  return { rates: {}, note: 'no bench/gpu/cpu-baseline.json' };
}
