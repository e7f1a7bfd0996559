// Backends: which native core runs the per-particle work (MATH.md §2–§7). 'cpu' is the
// loaded addon's CPU core; 'cuda' is the same operations on the GPU, through a CUDA
// context of the CUDA-enabled addon (lib/native.ts loads it when it is built and a device
// answers). 'auto' takes CUDA when it is available, else the CPU; asking for 'cuda' where
// there is none is an error naming the reason, never a silent CPU run.
//
// The driver (lib/driver.ts) is the same for both: it allocates the run's state through
// `memory` (host typed arrays, or device arrays that stay on the GPU for the whole run),
// calls `ops` on it each step, and evaluates the score through `scorer`. On 'cuda' a
// GaussianMixture is evaluated on the device; any other score model gets the state on the
// host once per step (device -> page-locked buffer -> model -> device).
import { native, nativeBuild, DeviceOps, DeviceArray, CudaContext, NativeAddon } from './native';
import { oneOf } from './errors';
import { ScoreInput, ScoreContext, evaluateScore, nonFiniteScore } from './score';
import { GaussianMixture } from './mixture';

export type BackendName = 'auto' | 'cpu' | 'cuda';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'cpu', 'cuda'];

/** Arrays of a backend: host typed arrays on 'cpu', device arrays on 'cuda'. */
export type F32Array = Float32Array | DeviceArray;
export type F64Array = Float64Array | DeviceArray;
export type I32Array = Int32Array | DeviceArray;

/** The operations the driver and the building blocks call (same names as the addon's). */
export type BackendOps = DeviceOps & Pick<NativeAddon, 'purposes' | 'codes' | 'kernelCoefficients' | 'chooseByWeight'>;

/** Memory that lives with a backend for a whole run. */
export interface BackendMemory {
  f32(length: number): F32Array;
  f64(length: number, fill?: number): Promise<F64Array>;
  i32(length: number): I32Array;
  /** A host copy (on 'cpu', the array itself). */
  readF32(a: F32Array): Promise<Float32Array>;
  readF64(a: F64Array): Promise<Float64Array>;
  readI32(a: I32Array): Promise<Int32Array>;
  /** Gives device memory back now rather than when collected (nothing on 'cpu'). */
  free(...arrays: Array<F32Array | F64Array | I32Array | null | undefined>): void;
}

/** A score model bound to a backend for one run. */
export interface ScoreRunner {
  /** The score at each row of z into `out` (or an array it returns), checked finite (MATH.md §4). */
  evaluate(z: F32Array, context: ScoreContext, out: F32Array, where: string): Promise<F32Array>;
  release(): void;
}

export interface Backend {
  readonly name: 'cpu' | 'cuda';
  /**
   * The operations on arrays the caller owns until each call settles (the driver's, a
   * model's): zero-copy on 'cpu' (lib/native.ts DirectOps).
   */
  readonly ops: BackendOps;
  /** The same operations for a user's arrays, which may be transferred while a call is in flight (the building blocks). */
  readonly userOps: BackendOps;
  readonly memory: BackendMemory;
  /** Whether ops.kernelMean resolves to the first non-finite index of mu (else the caller scans it). */
  readonly kernelMeanChecks: boolean;
  /** The fused bootstrap-filter step (host arrays only), where the backend has one. */
  readonly smcStep?: NativeAddon['smcStep'];
  scorer(model: ScoreInput, rows: number, dim: number, threads: number): ScoreRunner;
}

const hostMemory: BackendMemory = {
  f32: (length) => new Float32Array(length),
  f64: async (length, fill = 0) => new Float64Array(length).fill(fill),
  i32: (length) => new Int32Array(length),
  readF32: async (a) => a as Float32Array,
  readF64: async (a) => a as Float64Array,
  readI32: async (a) => a as Int32Array,
  free: () => undefined,
};

const cpu: Backend = {
  name: 'cpu',
  ops: { ...native.direct, purposes: native.purposes, codes: native.codes },
  userOps: native,
  memory: hostMemory,
  kernelMeanChecks: true,
  smcStep: native.direct.smcStep,
  scorer: (model, _rows, _dim, threads) => ({
    evaluate: (z, context, out, where) => evaluateScore(model, z as Float32Array, context, out as Float32Array, threads, where),
    release: () => undefined,
  }),
};

/** The operations a CUDA context runs (lib/native.ts DeviceOps), bound to it. */
const DEVICE_OPS: readonly (keyof DeviceOps)[] = [
  'normals', 'initState', 'forwardContextPath', 'kernelMean', 'gaussianYLogWeights', 'reweight', 'resampleBatch',
  'propagate', 'langevin', 'renoise', 'firstNonFinite', 'predictionToScore', 'resample', 'resampleAsync', 'gatherRows',
  'gatherRowsAsync',
];

function cudaBackend(ctx: CudaContext): Backend {
  const DeviceArrayClass = native.cuda!.DeviceArray;
  const onDevice = (a: unknown): a is DeviceArray => a instanceof DeviceArrayClass;
  const ops = { purposes: native.purposes, codes: native.codes, kernelCoefficients: native.kernelCoefficients, chooseByWeight: native.chooseByWeight } as BackendOps;
  for (const name of DEVICE_OPS) {
    const method = (ctx as unknown as Record<string, (...args: unknown[]) => unknown>)[name];
    (ops as unknown as Record<string, unknown>)[name] = method.bind(ctx);
  }
  const memory: BackendMemory = {
    f32: (length) => ctx.alloc('float32', length),
    f64: async (length, fill = 0) => {
      const a = ctx.alloc('float64', length);
      if (length > 0) await ctx.upload(new Float64Array(length).fill(fill), a);
      return a;
    },
    i32: (length) => ctx.alloc('int32', length),
    readF32: async (a) => {
      if (!onDevice(a)) return a;
      const host = new Float32Array(a.length);
      await ctx.download(a, host);
      return host;
    },
    readF64: async (a) => {
      if (!onDevice(a)) return a;
      const host = new Float64Array(a.length);
      await ctx.download(a, host);
      return host;
    },
    readI32: async (a) => {
      if (!onDevice(a)) return a;
      const host = new Int32Array(a.length);
      await ctx.download(a, host);
      return host;
    },
    free: (...arrays) => {
      for (const a of arrays) if (onDevice(a)) a.free();
    },
  };
  const scorer = (model: ScoreInput, rows: number, dim: number, threads: number): ScoreRunner => {
    if (model instanceof GaussianMixture) {
      const core = model.nativeCore();
      return {
        evaluate: async (z, context, out, where) => {
          await ctx.mixtureScore(core, z, context.alpha, context.sigma * context.sigma, out, threads);
          const bad = await ctx.firstNonFinite(out, threads);
          if (bad >= 0) throw nonFiniteScore((await memory.readF32(out))[bad], bad, context, where);
          return out;
        },
        release: () => undefined,
      };
    }
    // A model that runs on the host: the state crosses once each way per step, through
    // page-locked buffers (the z the model sees, and the buffer native models write into).
    const hostZ = ctx.hostArray('float32', rows * dim);
    const hostOut = ctx.hostArray('float32', rows * dim);
    return {
      evaluate: async (z, context, out, where) => {
        await ctx.download(z as DeviceArray, hostZ);
        const score = await evaluateScore(model, hostZ, context, hostOut, threads, where);
        await ctx.upload(score, out as DeviceArray);
        return out;
      },
      release: () => undefined,
    };
  };
  // A context's calls never touch host arrays from its worker threads (native/binding/cuda_call.h).
  return { name: 'cuda', ops, userOps: ops, memory, kernelMeanChecks: false, scorer };
}

let cuda: Backend | undefined;

/** What `condiff info` reports: the backends this process can use, and the device. */
export interface BackendsInfo {
  /** Usable now: always 'cpu'; 'cuda' when the CUDA build is loaded and a device answers. */
  available: Array<'cpu' | 'cuda'>;
  /** What backend: 'auto' picks. */
  auto: 'cpu' | 'cuda';
  /** Why 'cuda' is not available, or null. */
  cudaReason: string | null;
  /** The loaded addon and the CUDA build's file and device query (lib/native.ts). */
  native: typeof nativeBuild;
}

export function backends(): BackendsInfo {
  const reason = cudaUnavailableReason();
  return { available: reason === null ? ['cpu', 'cuda'] : ['cpu'], auto: reason === null ? 'cuda' : 'cpu', cudaReason: reason, native: nativeBuild };
}

/** Why the CUDA backend is unavailable (no CUDA build, no driver, no device), or null when it is available. */
export function cudaUnavailableReason(): string | null {
  if (nativeBuild.kind === 'cuda' && nativeBuild.cuda.query?.available) return null;
  return nativeBuild.cuda.problem ?? 'no CUDA device answers';
}

export function selectBackend(requested: unknown = 'auto'): Backend {
  const name = oneOf('backend', requested, BACKEND_NAMES);
  if (name === 'cpu') return cpu;
  const reason = cudaUnavailableReason();
  if (reason !== null) {
    if (name === 'cuda') throw new Error(`backend 'cuda' is not available: ${reason}`);
    return cpu;
  }
  cuda ??= cudaBackend(new native.cuda!.Context());
  return cuda;
}
