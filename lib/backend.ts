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
// host each step, in row chunks (chunkedHostScorer: device -> host buffer of one chunk ->
// model -> device), one model call per chunk: a single call per step while rows x D is
// below the typed-array limit, several above it (context.rowOffset says which rows).
//
// A CUDA context is created only when a run asks for 'cuda' (or 'auto' finds a device):
// loading the CUDA addon and running on the CPU leaves the device alone. After a sticky
// device failure the context refuses every call with its cause; 'cuda' is then
// unavailable for the rest of the process, naming that cause, and 'auto' runs on the CPU.
import { native, nativeBuild, DeviceOps, DeviceArray, CudaContext, NativeAddon } from './native';
import { oneOf } from './errors';
import { hostFloat32, hostFloat64, hostInt32, recycleHost } from './host-memory';
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
  /**
   * Keeps the memory of arrays that are dead (no caller holds them, no job is in flight) for
   * the next run's (lib/host-memory.ts recycleHost; 'cpu' only).
   */
  recycle?(...arrays: Array<F32Array | F64Array | I32Array | null | undefined>): void;
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
  /** Replacement's fused step, kernel mean and move (host arrays only), where the backend has one. */
  readonly moveStep?: NativeAddon['moveStep'];
  scorer(model: ScoreInput, rows: number, dim: number, threads: number): ScoreRunner;
}

const hostMemory: BackendMemory = {
  f32: (length) => hostFloat32(length),
  f64: async (length, fill = 0) => hostFloat64(length, fill),
  i32: (length) => hostInt32(length),
  readF32: async (a) => a as Float32Array,
  readF64: async (a) => a as Float64Array,
  readI32: async (a) => a as Int32Array,
  free: () => undefined,
  recycle: (...arrays) => recycleHost(...(arrays as Array<Float32Array | Float64Array | Int32Array | null | undefined>)),
};

const cpu: Backend = {
  name: 'cpu',
  ops: { ...native.direct, purposes: native.purposes, codes: native.codes },
  userOps: native,
  memory: hostMemory,
  kernelMeanChecks: true,
  smcStep: native.direct.smcStep,
  moveStep: native.direct.moveStep,
  scorer: (model, _rows, _dim, threads) => ({
    evaluate: (z, context, out, where) => evaluateScore(model, z as Float32Array, context, out as Float32Array, threads, where),
    release: () => undefined,
  }),
};

/**
 * Most elements (rows x D) one score call sees where the state crosses to the host: one
 * less than 2^32, the length limit of a typed array in the Node versions this package
 * supports, so a step is a single call below it. CONDIFF_SCORE_CALL_ELEMENTS lowers it
 * (tests of the chunking); a chunk is at least one row.
 */
export const SCORE_CALL_ELEMENTS = 2 ** 32 - 1;

/**
 * A chunk's host buffers are page-locked (ctx.hostArray: the DMA goes straight into them)
 * up to this size each; larger ones are ordinary memory, which the context copies through
 * its own bounded page-locked staging, so no run pins more than a few of these.
 */
export const PINNED_CHUNK_BYTES = 64 * 2 ** 20;

/** Rows per host score call for a state of `dim` columns (SCORE_CALL_ELEMENTS, or the environment's setting). */
export function scoreCallRows(dim: number, env: NodeJS.ProcessEnv = process.env): number {
  let elements = SCORE_CALL_ELEMENTS;
  const setting = env.CONDIFF_SCORE_CALL_ELEMENTS;
  if (setting !== undefined && setting !== '') {
    const v = Number(setting);
    if (!Number.isInteger(v) || v < 1 || v > SCORE_CALL_ELEMENTS) {
      throw new RangeError(`CONDIFF_SCORE_CALL_ELEMENTS must be an integer in [1, ${SCORE_CALL_ELEMENTS}], got ${JSON.stringify(setting)}`);
    }
    elements = v;
  }
  return Math.max(1, Math.floor(elements / dim));
}

/** What the chunked host scorer needs of a CUDA context (a stand-in with host arrays in tests). */
export interface HostTransfers<D> {
  /** Host memory for `length` float32 values (page-locked where that pays). */
  hostArray(length: number): Float32Array;
  /** host.length values from element `offset` of `device` into `host`. */
  download(device: D, host: Float32Array, offset: number): Promise<unknown>;
  /** host.length values into `device` from element `offset`. */
  upload(host: Float32Array, device: D, offset: number): Promise<unknown>;
}

/**
 * A host score model for state that lives elsewhere (the device): each evaluation moves
 * the rows in chunks of at most `rowsPerCall` through two host buffers of one chunk, and
 * calls the model once per chunk with `context.rows` and `context.rowOffset` set to the
 * chunk's (MATH.md §4's finiteness check names the row among all rows). The buffers are
 * reused from chunk to chunk and step to step, which the callback contract allows (it may
 * not keep `z`).
 */
export function chunkedHostScorer<D>(
  model: ScoreInput,
  rows: number,
  dim: number,
  threads: number,
  rowsPerCall: number,
  io: HostTransfers<D>,
): { evaluate(z: D, context: ScoreContext, out: D, where: string): Promise<D> } {
  const chunkRows = Math.max(1, Math.min(rows, rowsPerCall));
  const hostZ = io.hostArray(chunkRows * dim);
  const hostOut = io.hostArray(chunkRows * dim);
  return {
    evaluate: async (z, context, out, where) => {
      for (let first = 0; first < rows; first += chunkRows) {
        // An aborted run stops calling the model (the driver has already rejected it).
        if (context.signal?.aborted) throw context.signal.reason;
        const n = Math.min(chunkRows, rows - first) * dim;
        const chunkZ = n === hostZ.length ? hostZ : hostZ.subarray(0, n);
        const chunkOut = n === hostOut.length ? hostOut : hostOut.subarray(0, n);
        await io.download(z, chunkZ, first * dim);
        const part: ScoreContext = { ...context, rows: n / dim, rowOffset: first, condition: context.condition?.subarray(first, first + n / dim) };
        const score = await evaluateScore(model, chunkZ, part, chunkOut, threads, where);
        await io.upload(score, out, first * dim);
      }
      return out;
    },
  };
}

/** A host array for a device array's copy, or a RangeError saying why there can be none. */
function hostCopy<T>(make: (length: number) => T, length: number): T {
  if (length > SCORE_CALL_ELEMENTS) {
    throw new RangeError(`cannot copy ${length} values to the host in one typed array (at most ${SCORE_CALL_ELEMENTS})`);
  }
  return make(length);
}

/** The operations a CUDA context runs (lib/native.ts DeviceOps), bound to it. */
const DEVICE_OPS: readonly (keyof DeviceOps)[] = [
  'normals', 'initState', 'forwardContextPath', 'kernelMean', 'gaussianYLogWeights', 'reweight', 'resampleBatch',
  'propagate', 'langevin', 'renoise', 'firstNonFinite', 'predictionToScore', 'resample', 'resampleAsync', 'gatherRows',
  'gatherRowsAsync',
];

function cudaBackend(ctx: CudaContext, isDevice: (a: unknown) => boolean): Backend {
  const onDevice = (a: unknown): a is DeviceArray => isDevice(a);
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
    // Into ordinary memory: the context stages large copies through its bounded chunk.
    readF32: async (a) => {
      if (!onDevice(a)) return a;
      const host = hostCopy((n) => new Float32Array(n), a.length);
      await ctx.download(a, host);
      return host;
    },
    readF64: async (a) => {
      if (!onDevice(a)) return a;
      const host = hostCopy((n) => new Float64Array(n), a.length);
      await ctx.download(a, host);
      return host;
    },
    readI32: async (a) => {
      if (!onDevice(a)) return a;
      const host = hostCopy((n) => new Int32Array(n), a.length);
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
    // A model that runs on the host: the state crosses each way per step in row chunks,
    // through a z buffer (what the model sees) and an out buffer (what native models write
    // into) of one chunk each.
    const host = chunkedHostScorer<F32Array>(model, rows, dim, threads, scoreCallRows(dim), {
      hostArray: (length) => (4 * length <= PINNED_CHUNK_BYTES ? ctx.hostArray('float32', length) : new Float32Array(length)),
      download: (device, h, offset) => ctx.download(device as DeviceArray, h, offset),
      upload: (h, device, offset) => ctx.upload(h, device as DeviceArray, offset),
    });
    return { evaluate: host.evaluate, release: () => undefined };
  };
  // A context's calls never touch host arrays from its worker threads (native/binding/cuda_call.h).
  return { name: 'cuda', ops, userOps: ops, memory, kernelMeanChecks: false, scorer };
}

/** The CUDA backend once created, and its context. */
let cuda: { backend: Backend; ctx: CudaContext } | undefined;
/** Whether 'auto' has said that it fell back to the CPU after the context was lost. */
let warnedLost = false;

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

/**
 * Why the CUDA backend is unavailable (no CUDA build, no driver, no device, or its context
 * was lost to a sticky device failure), or null when it is available.
 */
export function cudaUnavailableReason(): string | null {
  if (cuda !== undefined) {
    const cause = cuda.ctx.lost;
    if (cause === null || cause === undefined) return null;
    return `the CUDA context of this process was lost after a device failure (${cause}); restart the process to use the GPU again`;
  }
  if (nativeBuild.kind === 'cuda' && nativeBuild.cuda.query?.available) return null;
  return nativeBuild.cuda.problem ?? 'no CUDA device answers';
}

export function selectBackend(requested: unknown = 'auto'): Backend {
  const name = oneOf('backend', requested, BACKEND_NAMES);
  if (name === 'cpu') return cpu;
  const reason = cudaUnavailableReason();
  if (reason !== null) {
    if (name === 'cuda') throw new Error(`backend 'cuda' is not available: ${reason}`);
    if (cuda !== undefined && !warnedLost) {
      warnedLost = true;
      process.emitWarning(`backend 'auto' runs on the CPU from now on: ${reason}`, { code: 'CONDIFF_CUDA_LOST' });
    }
    return cpu;
  }
  if (cuda === undefined) {
    const ctx = new native.cuda!.Context();
    const DeviceArrayClass = native.cuda!.DeviceArray;
    cuda = { ctx, backend: cudaBackend(ctx, (a) => a instanceof DeviceArrayClass) };
  }
  return cuda.backend;
}

/**
 * Tests only: 'cuda' and 'auto' run on `ctx`, a stand-in for a CUDA context whose device
 * arrays are those `isDevice` accepts, until called with null (then the real one, if any,
 * is created when next asked for).
 */
export function useCudaContextForTests(ctx: CudaContext | null, isDevice: (a: unknown) => boolean = () => false): void {
  cuda = ctx === null ? undefined : { ctx, backend: cudaBackend(ctx, isDevice) };
  warnedLost = false;
}
