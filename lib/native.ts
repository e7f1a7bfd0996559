// The one place that loads the addon and types exactly what it exports (native/binding/,
// registered by addon.cc). The public API wraps these; users never see them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cpuLoadMessage, cudaBuildHint } from './native-hints';

export interface BatchArgs {
  runs: number;
  particles: number;
  dim: number;
  /** Run word of run 0 (run r draws with run word runOffset + r) when there is no runKeys table. */
  runOffset: number;
  /**
   * Per-run keys, so runs of requests with different seeds can share a batch: 3 words per run,
   * (seed mod 2^32, floor(seed / 2^32), run word), runs x 3. When given, every draw of run r
   * uses this key and run word instead of (stream.seed, runOffset + r), in every batched
   * operation on either core; a table equal to (seed, runOffset + r) draws the same bits as
   * no table. floor(seed / 2^32) must be below 2^21 (seeds below 2^53, as stream.seed).
   */
  runKeys?: Uint32Array | null;
}

/** Random stream words of MATH.md §6 (the run word comes from the batch, or `run`). */
export interface StreamArgs {
  seed: number;
  step: number;
  /** A purpose of `native.purposes` (kind << 16); the word drawn with is purpose | index. */
  purpose: number;
  /** The repeated use within a step (corrector step, RePaint jump): an integer in [0, 65535], default 0. */
  index?: number;
  run?: number;
}

/** A stream of one run, named by its run word (normals, resample). */
export type RunStreamArgs = StreamArgs & { run: number };

/** The numbering of the core's enums (native/binding/codes.cc): look codes up here, never restate them. */
export interface NativeCodes {
  schemes: Record<'systematic' | 'stratified' | 'multinomial' | 'residual', number>;
  kernels: Record<'euler' | 'ddpm', number>;
  parameterizations: Record<'score' | 'epsilon' | 'x0', number>;
  langevinRules: Record<'gamma' | 'snr', number>;
}

/**
 * How a fused step ended (native/core/smc_step.h), and what it concerns: the flat element
 * of the kernel mean that is not finite, or the run whose weights are all -Infinity/NaN, or
 * in which resampling found no positive weight; index -1 when 'ok'.
 */
export type StepStatus = 'ok' | 'kernel-mean-not-finite' | 'weights-degenerate' | 'resampling-failed' | 'score-not-finite';
export interface StepOutcome {
  status: StepStatus;
  index: number;
}
/** chooseByWeight: 'weights-degenerate' names the first run with no positive weight. */
export interface ChoiceOutcome {
  status: 'ok' | 'weights-degenerate';
  index: number;
}

/** Test hooks of parallelProbe: refuse thread starts past startLimit, or throw inside the loop. */
export interface ProbeOptions {
  startLimit?: number;
  fail?: 'bad-alloc' | 'error' | 'unknown';
}

export interface NativePosterior {
  latent: Int32Array;
  logWeights: Float64Array;
  means: Float64Array;
  covariances: Float64Array;
}

export interface NativeMixture {
  readonly dim: number;
  readonly components: number;
  /** Resolves to the flat index of the first non-finite value written to `out`, or -1. */
  score(z: Float32Array, alpha: number, sigma2: number, out: Float32Array, threads: number): Promise<number>;
  /** score for a caller that owns z and out for the whole call (DirectOps): used in place. */
  scoreDirect(z: Float32Array, alpha: number, sigma2: number, out: Float32Array, threads: number): Promise<number>;
  /** out = Jᵀu with J = ∂x̂₀/∂z at each row of z (native/core/mixture_vjp.h, docs/MATH.md §10); z, u and out used in place. */
  vjp(z: Float32Array, alpha: number, sigma2: number, out: Float32Array, threads: number, u: Float32Array): Promise<number>;
  posterior(observed: Int32Array, values: Float32Array): NativePosterior;
  samplePosterior(
    observed: Int32Array,
    values: Float32Array,
    n: number,
    stream: { seed: number; run: number; step: number },
    out: Float32Array,
    threads: number,
  ): Promise<number>;
}

export interface NativePurposes {
  initial: number;
  contextPath: number;
  kernelNoise: number;
  resampling: number;
  outputChoice: number;
  langevin: number;
  repaintNoise: number;
  repaintKernel: number;
  exactComponent: number;
  exactNormal: number;
  user: number;
}

/**
 * A device-resident array of the CUDA addon (`ctx.alloc`): the ops of a CUDA context take
 * it wherever they take a typed array of the same element type, and use it in place.
 */
export interface DeviceArray {
  readonly type: 'float32' | 'float64' | 'int32' | 'uint8';
  readonly length: number;
  readonly byteLength: number;
  /** Gives the device memory back now (otherwise when collected). */
  free(): void;
}

/**
 * The batched particle operations (native/core/particles.h, resampling.h), generic over
 * the array types: host typed arrays for the CPU addon, host arrays or DeviceArrays for a
 * CUDA context. Index lists (latent, observed) and schedules are always host arrays.
 */
export interface ParticleOps<F32, F64, I32, U8> {
  normals(out: F32, stream: RunStreamArgs, firstElement: number, threads: number): Promise<number>;
  initState(
    batch: BatchArgs,
    latent: Int32Array,
    observed: Int32Array,
    yPerRun: F32,
    stream: StreamArgs,
    z: F32,
    threads: number,
  ): Promise<number>;
  forwardContextPath(
    y0: F32,
    runs: number,
    runOffset: number,
    alphaTs: Float64Array,
    sigma2Ts: Float64Array,
    stream: StreamArgs,
    out: F32,
    threads: number,
    runKeys?: Uint32Array | null,
  ): Promise<number>;
  /** The CPU addon resolves to the first non-finite index of mu, or -1; a CUDA context does not check (Backend.kernelMeanChecks). */
  kernelMean(z: F32, score: F32, a: number, b: number, mu: F32, threads: number): Promise<number>;
  gaussianYLogWeights(
    batch: BatchArgs,
    observed: Int32Array,
    mu: F32,
    yPerRun: F32,
    variance: number,
    out: F64,
    threads: number,
  ): Promise<number>;
  reweight(
    batch: BatchArgs,
    logWeights: F64,
    increment: F64,
    essThreshold: number,
    logEvidenceIncrement: F64,
    ess: F64,
    resampleFlags: U8,
    threads: number,
  ): Promise<number>;
  resampleBatch(
    batch: BatchArgs,
    scheme: number,
    resampleFlags: U8,
    stream: StreamArgs,
    logWeights: F64,
    scratch: F64,
    ancestors: I32,
    threads: number,
  ): Promise<number>;
  propagate(
    batch: BatchArgs,
    latent: Int32Array,
    observed: Int32Array,
    mu: F32,
    ancestors: I32 | null,
    noiseScale: number,
    yPerRun: F32,
    stream: StreamArgs,
    zOut: F32,
    threads: number,
  ): Promise<number>;
  langevin(
    batch: BatchArgs,
    latent: Int32Array,
    observed: Int32Array,
    score: F32,
    /** codes.langevinRules */
    rule: number,
    stepParameter: number,
    snrAlpha: number,
    stream: StreamArgs,
    z: F32,
    threads: number,
  ): Promise<number>;
  renoise(
    batch: BatchArgs,
    latent: Int32Array,
    observed: Int32Array,
    alphaTs: number,
    sigma2Ts: number,
    yPerRun: F32,
    stream: StreamArgs,
    z: F32,
    threads: number,
  ): Promise<number>;
  firstNonFinite(values: F32, threads: number): Promise<number>;
  predictionToScore(
    z: F32,
    prediction: F32,
    /** codes.parameterizations */
    parameterization: number,
    alpha: number,
    sigma2: number,
    out: F32,
    threads: number,
  ): Promise<number>;
  resample(logWeights: F64, scheme: number, stream: RunStreamArgs, out: I32, threads: number): number;
  resampleAsync(logWeights: F64, scheme: number, stream: RunStreamArgs, out: I32, threads: number): Promise<number>;
  gatherRows(rows: F32, dim: number, ancestors: I32, out: F32, threads: number): void;
  gatherRowsAsync(rows: F32, dim: number, ancestors: I32, out: F32, threads: number): Promise<number>;
}

export type HostOps = ParticleOps<Float32Array, Float64Array, Int32Array, Uint8Array>;
export type DeviceOps = ParticleOps<
  Float32Array | DeviceArray,
  Float64Array | DeviceArray,
  Int32Array | DeviceArray,
  Uint8Array | DeviceArray
>;

/** cuda.query(): whether a CUDA device answers, and what it is. */
export interface CudaQuery {
  available: boolean;
  /** Why not (no driver, no device, ...), or null when available. */
  reason: string | null;
  deviceCount: number;
  runtimeVersion: number;
  driverVersion: number;
  name: string | null;
  totalMemory: number;
  /** Free device memory in bytes, measured only with `query({ freeMemory: true })` (which creates a CUDA context); else null. */
  freeMemory: number | null;
  /** Whether this process holds device 0's primary CUDA context (null where the driver cannot say). */
  primaryContextActive: boolean | null;
  computeCapability: string | null;
  multiprocessors: number;
}

/** A CUDA stream with the particle operations (native/binding/cuda_context.h). */
export interface CudaContext extends DeviceOps {
  alloc(type: 'float32' | 'float64' | 'int32' | 'uint8', length: number): DeviceArray;
  /** A typed array over page-locked host memory: transfers to and from it are asynchronous. */
  hostArray(type: 'float32', length: number): Float32Array;
  hostArray(type: 'float64', length: number): Float64Array;
  /**
   * Host to device: without `offset`, whole arrays of equal length; with it, host.length
   * elements into the DeviceArray from element `offset`.
   */
  upload(host: Float32Array | Float64Array | Int32Array | Uint8Array, device: DeviceArray, offset?: number): Promise<number>;
  /**
   * Device to host, the same way. A page-locked host array (hostArray) is copied directly;
   * any other through page-locked staging that stays bounded however large the array.
   */
  download(device: DeviceArray, host: Float32Array | Float64Array | Int32Array | Uint8Array, offset?: number): Promise<number>;
  /**
   * The first sticky device failure's cause (an illegal address, say), after which the
   * context refuses every call; null while it is usable.
   */
  readonly lost: string | null;
  /** Device to device, whole arrays of one type and length. */
  copy(source: DeviceArray, target: DeviceArray): Promise<number>;
  synchronize(): void;
  /** GaussianMixture.score on the device (the mixture must come from the same addon). */
  mixtureScore(mixture: NativeMixture, z: Float32Array | DeviceArray, alpha: number, sigma2: number, out: Float32Array | DeviceArray, threads: number): Promise<number>;
}

/** The `cuda` export of the CUDA-enabled addon (npm run build:cuda). */
export interface NativeCuda {
  /** Creates no CUDA context, unless `freeMemory` is asked for. */
  query(options?: { freeMemory?: boolean }): CudaQuery;
  Context: new () => CudaContext;
  DeviceArray: abstract new (...args: never[]) => DeviceArray;
  architectures: string;
}

export interface NativeAddon extends HostOps {
  abiVersion: number;
  /**
   * The instruction set the hand-vectorised kernels run (native/core/isa.h): the widest the
   * CPU has, or lower when CONDIFF_MAX_ISA caps it. Every set gives the same bytes.
   */
  instructionSet: InstructionSet;
  /** CONDIFF_MAX_ISA as the addon read it, once per process (null when unset or empty). */
  instructionSetCap: string | null;
  purposes: NativePurposes;
  codes: NativeCodes;
  philox4x32(counter: Uint32Array, key: Uint32Array, rounds: number): Uint32Array;
  /**
   * Advises Linux to back the whole pages inside `array` with transparent huge pages
   * (madvise MADV_HUGEPAGE), before anything touches them (lib/host-memory.ts). True when
   * the advice was taken; false on other platforms, for an empty or detached array, or when
   * the kernel declines. Never changes the contents.
   */
  adviseHugePages(array: Float32Array | Float64Array | Int32Array): boolean;
  /**
   * The thin SVD of a row-major rows x cols matrix (docs/MATH.md §8, native/core/svd.h):
   * A = U diag(s) Vt, rank r counted by s_i > 1e-12 s_max; u is rows x r, vt r x cols;
   * sDropped is the largest singular value below the cutoff (0 when none).
   */
  thinSvd(rows: number, cols: number, a: Float64Array): { rank: number; s: Float64Array; u: Float64Array; vt: Float64Array; sMax: number; sDropped: number };
  /** kernel: codes.kernels. Returns [a, b, v] (MATH.md §2). */
  kernelCoefficients(kernel: number, schedule: Float64Array): Float64Array;
  /**
   * Grid indices first + 1 .. first + count of the forward context path (MATH.md §3) from every
   * run's context at grid index `first` (start: runs x d_Y): out holds count = out.length /
   * start.length slices, each runs x d_Y, with the values forwardContextPath gives them
   * (alphaTs, sigma2Ts: the whole path's transitions). CPU only (lib/context-path.ts).
   */
  forwardContextSegment(
    start: Float32Array,
    runs: number,
    runOffset: number,
    first: number,
    alphaTs: Float64Array,
    sigma2Ts: Float64Array,
    stream: StreamArgs,
    out: Float32Array,
    threads: number,
    runKeys?: Uint32Array | null,
  ): Promise<number>;
  /** One particle per run by its final weight (MATH.md §3), into out[r]; stream.run is unused (the batch gives the run words). */
  chooseByWeight(batch: BatchArgs, logWeights: Float64Array, stream: StreamArgs, out: Int32Array): ChoiceOutcome;
  /** Distinct OS threads that ran a parallel loop over n items (tests). */
  parallelProbe(n: number, threads: number, options?: ProbeOptions): number;
  parallelProbeAsync(n: number, threads: number, options?: ProbeOptions): Promise<number>;
  /**
   * One bootstrap-filter step after the score (kernelMean, gaussianYLogWeights, reweight,
   * resampleBatch of the flagged runs, propagate) in one job, to the same bits
   * (native/core/smc_step.h). mu holds kernel means afterwards only where a run's mean was
   * not finite (the status names it); on a failure the other runs' outputs are unspecified.
   * Given `mixture` (the native model of a GaussianMixture) with its level `alpha`,
   * `sigma2`, the step scores z itself, each run's rows where it uses them (the same bits as
   * scoreDirect then smcStep): `score` must then be `mu`, and 'score-not-finite' names a
   * flat element of the score, whose run's score is left in mu.
   */
  smcStep(
    batch: BatchArgs,
    latent: Int32Array,
    observed: Int32Array,
    z: Float32Array,
    score: Float32Array,
    a: number,
    b: number,
    mu: Float32Array,
    yPerRun: Float32Array,
    variance: number,
    logWeights: Float64Array,
    increment: Float64Array,
    essThreshold: number,
    logEvidenceIncrement: Float64Array,
    ess: Float64Array,
    resampleFlags: Uint8Array,
    scheme: number,
    resamplingStream: StreamArgs,
    scratch: Float64Array,
    ancestors: Int32Array,
    noiseScale: number,
    kernelStream: StreamArgs,
    threads: number,
    mixture?: NativeMixture,
    alpha?: number,
    sigma2?: number,
  ): Promise<StepOutcome>;
  /**
   * Replacement's step (native/core/smc_step.h move_step): the kernel mean a z + b score
   * and the move without ancestors (X from the mean plus noiseScale times normals, Y from
   * yPerRun) in one job, a block of rows at a time, to the bits of kernelMean then
   * propagate. 'kernel-mean-not-finite' names a flat element of the mean, whose block's
   * means are then in mu; mu is not written otherwise. Given `mixture` with its level
   * `alpha`, `sigma2`, the step scores z itself (the bits of scoreDirect first): `score`
   * must then be `mu`, and 'score-not-finite' names a flat element of the score, whose
   * block's score is left in mu. On a failure z is unspecified.
   */
  moveStep(
    batch: BatchArgs,
    latent: Int32Array,
    observed: Int32Array,
    z: Float32Array,
    score: Float32Array,
    a: number,
    b: number,
    mu: Float32Array,
    yPerRun: Float32Array,
    noiseScale: number,
    kernelStream: StreamArgs,
    threads: number,
    mixture?: NativeMixture,
    alpha?: number,
    sigma2?: number,
  ): Promise<StepOutcome>;
  gatherRowsInPlace(rows: Float32Array, dim: number, ancestors: Int32Array, order: Int32Array, threads: number): void;
  gatherRowsInPlaceAsync(rows: Float32Array, dim: number, ancestors: Int32Array, order: Int32Array, threads: number): Promise<number>;
  /**
   * The mask twist of tds (native/core/twist.h, docs/MATH.md §10): log p̃ per row of x into
   * logTwist (its length is the row count), and u = (y − x̂₀[M]) / variance at M (0 elsewhere)
   * when u is given. Resolves to the first row with a non-finite x̂₀ at M, or -1.
   */
  maskTwist(
    x: Float32Array,
    score: Float32Array,
    alpha: number,
    sigma2: number,
    observed: Int32Array,
    values: Float32Array,
    variance: number,
    logTwist: Float64Array,
    u: Float32Array | null,
    threads: number,
  ): Promise<number>;
  /** increment[r] = Σ_k (xs − (μ + μ̃)/2)(μ − μ̃) / v + logTwistS[r] − logTwistT[r] (native/core/twist.h). */
  twistIncrement(
    xs: Float32Array,
    mu: Float32Array,
    muTwisted: Float32Array,
    v: number,
    logTwistS: Float64Array,
    logTwistT: Float64Array,
    increment: Float64Array,
    threads: number,
  ): Promise<number>;
  /**
   * The SVD filter's projections (native/core/subspace.h, docs/MATH.md §9.1): out (rows x n)
   * = (V_rᵀ x)_{index_j} for each row of x, with vt the r x D matrix V_rᵀ and n = index.length.
   */
  svdProject(x: Float32Array, vt: Float64Array, index: Int32Array, out: Float64Array, threads: number): Promise<number>;
  /**
   * increment[row] = constant − Σ_j (targets[run, j] − (V_rᵀ mu_row)_{index_j})² / (2 variance),
   * run = row / particles, targets runs x n (native/core/subspace.h).
   */
  svdLogWeights(
    mu: Float32Array,
    vt: Float64Array,
    index: Int32Array,
    targets: Float32Array,
    particles: number,
    variance: number,
    constant: number,
    increment: Float64Array,
    threads: number,
  ): Promise<number>;
  /** z_row ← z_row + Σ_j v_{index_j} (targets[run, j] − (V_rᵀ z_row)_{index_j}) in place (native/core/subspace.h). */
  svdPin(z: Float32Array, vt: Float64Array, index: Int32Array, targets: Float32Array, particles: number, threads: number): Promise<number>;
  /**
   * out[q] = Σ_i [log N(path[S, q, i]; 0, 1) − Σ_{k = starts[i] + 1}^{S} log N(path[k, q, i]; alpha[k] path[k − 1, q, i], sigma2[k])]
   * (docs/MATH.md §9.1; native/core/path_correction.h): path is (S + 1) x runs x rank with
   * S + 1 = alpha.length (entry 0 of the tables unused), runs = out.length, rank =
   * starts.length, starts[i] in [0, S + 1] (S + 1: never pinned); log N takes log(2π σ²) from
   * log2piSigma2 and log(2π) from log2pi.
   */
  svdPathCorrection(
    path: Float32Array,
    starts: Int32Array,
    alpha: Float64Array,
    sigma2: Float64Array,
    log2piSigma2: Float64Array,
    log2pi: number,
    out: Float64Array,
    threads: number,
  ): Promise<number>;
  GaussianMixture: new (
    dim: number,
    components: number,
    weights: Float64Array,
    means: Float64Array,
    covariance: Float64Array,
    diagonal: boolean,
  ) => NativeMixture;
  /** Only in the CUDA-enabled build (CMakeLists.txt). */
  cuda?: NativeCuda;
  /** The operations again, for a caller that owns every array it passes for the whole call (DirectOps). */
  direct: DirectOps;
}

/**
 * The addon's operations for callers that own every array they pass until the call
 * settles (the driver and the score evaluation of a run): their async calls use the
 * arrays in place. The addon's own exports instead work on copies of arrays that could be
 * transferred meanwhile (copied in when called, results copied back when the call settles;
 * arrays on a SharedArrayBuffer are used in place), so a user's transfer can never make the
 * addon touch memory another array owns (native/binding/job.h). Never pass a user's array
 * to these.
 */
export type DirectOps = Pick<
  NativeAddon,
  | keyof HostOps
  | 'smcStep'
  | 'moveStep'
  | 'forwardContextSegment'
  | 'chooseByWeight'
  | 'gatherRowsInPlace'
  | 'gatherRowsInPlaceAsync'
  | 'maskTwist'
  | 'twistIncrement'
  | 'svdProject'
  | 'svdLogWeights'
  | 'svdPin'
  | 'svdPathCorrection'
  | 'philox4x32'
  | 'adviseHugePages'
  | 'kernelCoefficients'
  | 'parallelProbe'
  | 'parallelProbeAsync'
>;

/** The x86-64 instruction sets the CPU kernels are built for, widest first. */
export type InstructionSet = 'avx512' | 'avx2' | 'baseline';
export const INSTRUCTION_SETS: readonly InstructionSet[] = ['avx512', 'avx2', 'baseline'];

/** Which native build this process loaded, and what became of the CUDA-enabled one. */
export interface NativeBuild {
  /** 'cpu': the addon of binding.gyp; 'cuda': the CUDA-enabled addon (the CPU ops plus `cuda`). */
  kind: 'cpu' | 'cuda';
  /** How it was chosen: CONDIFF_NATIVE=auto (default), cpu or cuda. */
  mode: 'auto' | 'cpu' | 'cuda';
  /** The instruction set the CPU kernels run (native/core/isa.h). */
  instructionSet: InstructionSet;
  /** CONDIFF_MAX_ISA as the addon read it (the cap on instructionSet), or null when unset. */
  maxInstructionSet: InstructionSet | null;
  cuda: {
    /** The CUDA-enabled addon's file, or null when this install has none. */
    path: string | null;
    /** Its device query, when it loaded. */
    query: CudaQuery | null;
    /** Why it is not in use, or null when it is. */
    problem: string | null;
  };
}

const NATIVE_MODES = ['auto', 'cpu', 'cuda'] as const;

/** The CUDA-enabled addon: CONDIFF_CUDA_ADDON, else build-cuda/Release (npm run build:cuda). */
function cudaAddonFile(root: string): string | null {
  const override = process.env.CONDIFF_CUDA_ADDON;
  if (override) return path.resolve(override);
  const built = path.join(root, 'build-cuda', 'Release', 'condiff_cuda.node');
  return fs.existsSync(built) ? built : null;
}

/**
 * Why an addon is older than this library, or null: it lacks an export the library gained
 * since (the newest of each kind; a build between two of them lacks the later one).
 */
function olderThanLibrary(addon: NativeAddon): string | null {
  if (addon.instructionSetCap === undefined) return 'is older than this library (it does not report its instruction set)';
  if (typeof (addon as Partial<NativeAddon>).svdPathCorrection !== 'function') return 'is older than this library (it has no svdPathCorrection)';
  return null;
}

function loadCpu(root: string): NativeAddon {
  try {
    // node-gyp-build looks in build/Release, build/Debug, then prebuilds/<platform>-<arch>.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    return nodeGypBuild(root) as NativeAddon;
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new Error(cpuLoadMessage(reason, root), { cause: err });
  }
}

/**
 * Loads the CUDA-enabled addon when it exists and a device answers, else the CPU addon.
 * CONDIFF_NATIVE=cpu never touches the CUDA build; CONDIFF_NATIVE=cuda loads it even with
 * no device (its CPU operations then serve the 'cpu' backend, as in CI).
 */
function load(): { addon: NativeAddon; build: NativeBuild } {
  const root = path.join(__dirname, '..');
  const requested = process.env.CONDIFF_NATIVE || 'auto';
  if (!(NATIVE_MODES as readonly string[]).includes(requested)) {
    throw new Error(`condiff: CONDIFF_NATIVE must be one of auto, cpu, cuda, got ${JSON.stringify(requested)}`);
  }
  const mode = requested as NativeBuild['mode'];
  const cuda: NativeBuild['cuda'] = { path: null, query: null, problem: null };
  const build = (kind: 'cpu' | 'cuda', addon: NativeAddon): NativeBuild => {
    // CONDIFF_MAX_ISA as the addon read it, once per process (a Worker given its own env still
    // runs what the process read): it takes an unknown value for no cap; refused here, before
    // any kernel runs.
    const cap = addon.instructionSetCap;
    const stale = olderThanLibrary(addon);
    if (stale !== null) {
      // The CUDA build was checked when it loaded (an 'auto' load falls back to the CPU).
      throw new Error(`condiff: the CPU addon ${stale}: rebuild it (npm run build:native)`);
    }
    if (cap !== null && !(INSTRUCTION_SETS as readonly string[]).includes(cap)) {
      throw new Error(`condiff: CONDIFF_MAX_ISA must be one of ${INSTRUCTION_SETS.join(', ')}, got ${JSON.stringify(cap)}`);
    }
    return { kind, mode, instructionSet: addon.instructionSet, maxInstructionSet: cap as InstructionSet | null, cuda };
  };
  const cpu = (problem: string) => {
    cuda.problem = problem;
    const addon = loadCpu(root);
    return { addon, build: build('cpu', addon) };
  };
  if (mode === 'cpu') return cpu('not loaded (CONDIFF_NATIVE=cpu)');
  const file = cudaAddonFile(root);
  if (file === null) {
    if (mode === 'cuda') {
      throw new Error(`condiff: CONDIFF_NATIVE=cuda, but this install has no CUDA build (${cudaBuildHint(root)})`);
    }
    return cpu(`this install has no CUDA build (${cudaBuildHint(root)})`);
  }
  cuda.path = file;
  let addon: NativeAddon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(file) as NativeAddon;
    if (typeof addon.cuda?.query !== 'function') throw new Error('it has no cuda export');
    const stale = olderThanLibrary(addon);
    if (stale !== null) throw new Error(`it ${stale}: rebuild it (npm run build:cuda)`);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    if (mode === 'cuda') throw new Error(`condiff: CONDIFF_NATIVE=cuda, but the CUDA build ${file} could not be loaded (${reason})`);
    return cpu(`the CUDA build ${file} could not be loaded (${reason})`);
  }
  const query = addon.cuda!.query();
  cuda.query = query;
  if (!query.available && mode === 'auto') return cpu(query.reason ?? 'no CUDA device answers');
  cuda.problem = query.available ? null : query.reason;
  return { addon, build: build('cuda', addon) };
}

const loaded = load();
/** The loaded addon: its CPU operations serve the 'cpu' backend whichever build it is. */
export const native: NativeAddon = loaded.addon;
export const nativeBuild: NativeBuild = loaded.build;
