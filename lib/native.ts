// The one place that loads the addon and types exactly what it exports
// (native/binding/*.cc). The public API wraps these; users never see them.
import * as path from 'node:path';

export interface BatchArgs {
  runs: number;
  particles: number;
  dim: number;
  runOffset: number;
}

/** Random stream words of MATH.md §6 (the run word comes from the batch, or `run`). */
export interface StreamArgs {
  seed: number;
  step: number;
  purpose: number;
  run?: number;
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
  score(z: Float32Array, alpha: number, sigma2: number, out: Float32Array, threads: number): Promise<number>;
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

export interface NativeAddon {
  abiVersion: number;
  purposes: NativePurposes;
  philox4x32(counter: Uint32Array, key: Uint32Array, rounds: number): Uint32Array;
  normals(out: Float32Array, stream: Required<StreamArgs>, firstElement: number, threads: number): Promise<number>;
  kernelCoefficients(kernel: 0 | 1, schedule: Float64Array): Float64Array;
  initState(
    batch: BatchArgs,
    latent: Int32Array,
    observed: Int32Array,
    yPerRun: Float32Array,
    stream: StreamArgs,
    z: Float32Array,
    threads: number,
  ): Promise<number>;
  forwardContextPath(
    y0: Float32Array,
    runs: number,
    runOffset: number,
    alphaTs: Float64Array,
    sigma2Ts: Float64Array,
    stream: StreamArgs,
    out: Float32Array,
    threads: number,
  ): Promise<number>;
  kernelMean(z: Float32Array, score: Float32Array, a: number, b: number, mu: Float32Array, threads: number): Promise<number>;
  gaussianYLogWeights(
    batch: BatchArgs,
    observed: Int32Array,
    mu: Float32Array,
    yPerRun: Float32Array,
    variance: number,
    out: Float64Array,
    threads: number,
  ): Promise<number>;
  reweight(
    batch: BatchArgs,
    logWeights: Float64Array,
    increment: Float64Array,
    essThreshold: number,
    logEvidenceIncrement: Float64Array,
    ess: Float64Array,
    resampleFlags: Uint8Array,
    threads: number,
  ): Promise<number>;
  resampleBatch(
    batch: BatchArgs,
    scheme: number,
    resampleFlags: Uint8Array,
    stream: StreamArgs,
    logWeights: Float64Array,
    scratch: Float64Array,
    ancestors: Int32Array,
    threads: number,
  ): Promise<number>;
  propagate(
    batch: BatchArgs,
    latent: Int32Array,
    observed: Int32Array,
    mu: Float32Array,
    ancestors: Int32Array | null,
    noiseScale: number,
    yPerRun: Float32Array,
    stream: StreamArgs,
    zOut: Float32Array,
    threads: number,
  ): Promise<number>;
  langevin(
    batch: BatchArgs,
    latent: Int32Array,
    observed: Int32Array,
    score: Float32Array,
    rule: 0 | 1,
    stepParameter: number,
    snrAlpha: number,
    stream: StreamArgs,
    z: Float32Array,
    threads: number,
  ): Promise<number>;
  renoise(
    batch: BatchArgs,
    latent: Int32Array,
    observed: Int32Array,
    alphaTs: number,
    sigma2Ts: number,
    yPerRun: Float32Array,
    stream: StreamArgs,
    z: Float32Array,
    threads: number,
  ): Promise<number>;
  firstNonFinite(values: Float32Array, threads: number): Promise<number>;
  predictionToScore(
    z: Float32Array,
    prediction: Float32Array,
    parameterization: 0 | 1 | 2,
    alpha: number,
    sigma2: number,
    out: Float32Array,
    threads: number,
  ): Promise<number>;
  resample(logWeights: Float64Array, scheme: number, stream: Required<StreamArgs>, out: Int32Array, threads: number): number;
  resampleAsync(
    logWeights: Float64Array,
    scheme: number,
    stream: Required<StreamArgs>,
    out: Int32Array,
    threads: number,
  ): Promise<number>;
  gatherRows(rows: Float32Array, dim: number, ancestors: Int32Array, out: Float32Array, threads: number): void;
  gatherRowsAsync(rows: Float32Array, dim: number, ancestors: Int32Array, out: Float32Array, threads: number): Promise<number>;
  chooseByWeight(batch: BatchArgs, logWeights: Float64Array, stream: StreamArgs, out: Int32Array): number;
  parallelProbe(n: number, threads: number): number;
  GaussianMixture: new (
    dim: number,
    components: number,
    weights: Float64Array,
    means: Float64Array,
    covariance: Float64Array,
    diagonal: boolean,
  ) => NativeMixture;
}

function load(): NativeAddon {
  const root = path.join(__dirname, '..');
  try {
    // node-gyp-build looks in build/Release, build/Debug, then prebuilds/<platform>-<arch>.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    return nodeGypBuild(root) as NativeAddon;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(
      `condiff: could not load its native addon (${reason}). ` +
        `Build it with "npm run build:native" (needs python3, make and a C++17 compiler), ` +
        `or install a package that ships prebuilds/ for ${process.platform}-${process.arch}.`,
    );
  }
}

export const native: NativeAddon = load();
