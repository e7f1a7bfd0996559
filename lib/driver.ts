// One driver for every sampler (MATH.md §3): each is a Feynman–Kac model given by an
// initial draw, a move (the backward kernel on X, plus any corrector) and a
// log-potential. The driver owns time stepping, batching of runs, weights, ESS,
// resampling and the log-evidence; models only say what is specific to them.
import { native, BatchArgs, StreamArgs, NativeAddon } from './native';
import { Schedule, KernelName } from './schedules';
import { ScoreInput, ScoreContext } from './score';
import type { Backend, F32Array, I32Array } from './backend';
import { abortError } from './errors';

export type ResamplingScheme = 'systematic' | 'stratified' | 'multinomial' | 'residual';
export const RESAMPLING_SCHEMES: readonly ResamplingScheme[] = ['systematic', 'stratified', 'multinomial', 'residual'];

export type Corrector =
  | { kind: 'langevin'; steps: number; rule: 'gamma'; gamma: number }
  | { kind: 'langevin'; steps: number; rule: 'snr'; snr: number }
  | { kind: 'repaint'; jumps: number };

/** Progress report, once per step. */
export interface StepInfo {
  /** Steps done so far (1..steps). */
  step: number;
  steps: number;
  /** The time just reached (s = t_{i-1}). */
  t: number;
  /** Per-run ESS after this step's reweighting (filters only): a view of the result's `ess` row, never rewritten. */
  ess?: Float64Array;
  /** Runs resampled at this step (filters only). */
  resampledRuns?: number;
}

/** The Feynman–Kac model: what distinguishes one sampler from another. */
export interface FeynmanKacModel {
  readonly name: string;
  /** Log-potential on the kernel mean of the Y block (MATH.md §3), or none (replacement). */
  readonly potential: 'none' | 'gaussian-y';
  /** Corrector moves after each backward step (Algorithm 2, RePaint), if any. */
  readonly corrector?: Corrector;
}

export interface DriverProblem {
  /** The backend (lib/backend.ts): its operations, the memory the state lives in, the score. */
  backend: Backend;
  model: FeynmanKacModel;
  score: ScoreInput;
  schedule: Schedule;
  kernel: KernelName;
  steps: number;
  /** The time grid t_0 = 0 < … < t_steps (MATH.md §1). */
  grid: Float64Array;
  dim: number;
  latent: Int32Array;
  observed: Int32Array;
  /** Y at each grid index for every run: (steps + 1) x runs x d_Y, or one runs x d_Y slice when fixed. */
  context: { kind: 'fixed'; values: Float32Array } | { kind: 'path'; path: Float32Array };
  runs: number;
  particles: number;
  runOffset: number;
  seed: number;
  threads: number;
  essThreshold: number;
  scheme: ResamplingScheme;
  finalNoise: boolean;
  signal?: AbortSignal;
  onStep?: (info: StepInfo) => void;
}

export interface DriverResult {
  /** Final particles, runs x particles x D, in the backend's memory (readF32, then free). */
  particles: F32Array;
  /** Final normalised log-weights, runs x particles. */
  logWeights: Float64Array;
  /** log Ẑ per run (MATH.md §3), 0 for unweighted models. */
  logEvidence: Float64Array;
  /** ESS after each step's reweighting, steps x runs (step order: first step first). */
  ess: Float64Array;
  /** 1 where a run was resampled, steps x runs. */
  resampled: Uint8Array;
}

interface StepCoefficients {
  a: number;
  b: number;
  v: number;
  /** Variance for the weight: v, or at a DDPM last step (v = 0) the previous step's v (MATH.md §2). */
  weightVariance: number;
  alphaTs: number;
  sigma2Ts: number;
}

const KERNEL_CODE: Record<KernelName, 0 | 1> = { euler: 0, ddpm: 1 };
export const SCHEME_CODE: Record<ResamplingScheme, number> = { systematic: 0, stratified: 1, multinomial: 2, residual: 3 };

/** Kernel coefficients for every step i = 1..S (index i - 1), from the native formula of MATH.md §2. */
export function stepCoefficients(
  schedule: Schedule,
  kernel: KernelName,
  grid: Float64Array,
  ops: Pick<NativeAddon, 'kernelCoefficients'> = native,
): StepCoefficients[] {
  const out: StepCoefficients[] = [];
  for (let i = 1; i < grid.length; i++) {
    const s = grid[i - 1], t = grid[i];
    const tr = schedule.transition(s, t);
    const euler = kernel === 'euler';
    const q = Float64Array.of(
      Math.exp(schedule.logAlpha(t)),
      schedule.sigma2(t),
      Math.exp(schedule.logAlpha(s)),
      schedule.sigma2(s),
      tr.alpha,
      tr.sigma2,
      t - s,
      euler ? schedule.drift(t) : 0,
      euler ? schedule.diffusion2(t) : 0,
    );
    const [a, b, v] = ops.kernelCoefficients(KERNEL_CODE[kernel], q);
    out.push({ a, b, v, weightVariance: v, alphaTs: tr.alpha, sigma2Ts: tr.sigma2 });
  }
  // MATH.md §2, "the last step": DDPM's v vanishes at s = 0; its weight uses the previous step's v.
  for (let i = 0; i < out.length; i++) {
    if (!(out[i].v > 0)) out[i].weightVariance = i + 1 < out.length ? out[i + 1].weightVariance : out[i].v;
  }
  return out;
}

export async function runFeynmanKac(p: DriverProblem): Promise<DriverResult> {
  const { runs, particles: n, dim: D, threads, model } = p;
  const rows = runs * n;
  const dY = p.observed.length;
  const batch: BatchArgs = { runs, particles: n, dim: D, runOffset: p.runOffset };
  const grid = p.grid;
  const { ops, memory } = p.backend;
  const coef = stepCoefficients(p.schedule, p.kernel, grid, ops);
  for (let i = 0; i < coef.length; i++) {
    if (model.potential !== 'none' && !(coef[i].weightVariance > 0)) {
      throw new RangeError(`the kernel variance must be positive to weight particles, got ${coef[i].weightVariance} at step ${i + 1}`);
    }
  }
  const P = ops.purposes;
  const stream = (step: number, purpose: number): StreamArgs => ({ seed: p.seed, step, purpose });
  const contextAt = (i: number): Float32Array =>
    p.context.kind === 'fixed' ? p.context.values : p.context.path.subarray(i * runs * dY, (i + 1) * runs * dY);

  // Two state-sized buffers for the whole run, nothing state-sized inside the loop:
  // `z` holds the particles; `work` receives the score and then, in place, the kernel
  // mean mu = a z + b s. The move writes mu[ancestor] + noise back into z (mu is a
  // separate buffer, so gathering in place is safe).
  // On 'cuda' these live on the device for the whole run; per-run numbers stay on the host.
  const z = memory.f32(rows * D);
  const work = memory.f32(rows * D);
  const mu = work;
  const weighted = model.potential !== 'none';
  const logWeights = await memory.f64(rows, -Math.log(n));
  const increment = await memory.f64(weighted ? rows : 0);
  const cdf = await memory.f64(weighted ? rows : 0);
  const ancestors = memory.i32(weighted ? rows : 0);
  const flags = new Uint8Array(runs);
  const evidenceIncrement = new Float64Array(runs);
  const essNow = new Float64Array(runs);
  const logEvidence = new Float64Array(runs);
  const essTrace = new Float64Array(p.steps * runs).fill(weighted ? NaN : n);
  const resampledTrace = new Uint8Array(p.steps * runs);

  const checkAbort = () => {
    if (p.signal?.aborted) throw abortError(p.signal);
  };
  const scorer = p.backend.scorer(p.score, rows, D, threads);
  const score = async (state: F32Array, t: number, where: string): Promise<F32Array> => {
    const context: ScoreContext = { t, alpha: Math.exp(p.schedule.logAlpha(t)), sigma: Math.sqrt(p.schedule.sigma2(t)), rows, dim: D };
    return scorer.evaluate(state, context, work, where);
  };

  // mu = a z + b s (MATH.md §2), checked: a finite but huge score can overflow float32.
  const kernelMeanError = (where: string, value: number, bad: number) =>
    new RangeError(`the kernel mean must be finite ${where}, got ${value} at row ${Math.floor(bad / D)} (the score overflows float32)`);
  const kernelMean = async (state: F32Array, g: F32Array, c: StepCoefficients, where: string) => {
    const checked = await ops.kernelMean(state, g, c.a, c.b, mu, threads);
    const bad = p.backend.kernelMeanChecks ? checked : await ops.firstNonFinite(mu, threads);
    if (bad >= 0) throw kernelMeanError(where, (await memory.readF32(mu))[bad], bad);
  };
  const weightsError = (where: string, run: number) =>
    new RangeError(`all log-weights are -Infinity or NaN ${where} in run ${p.runOffset + run}: no particle explains the observation (MATH.md §4)`);
  const resamplingError = (where: string, run: number) => new RangeError(`resampling found no positive weight ${where} in run ${p.runOffset + run}`);
  // The per-run numbers of step i after a reweighting; returns how many runs resample.
  const recordWeights = (i: number): number => {
    let resampled = 0;
    for (let r = 0; r < runs; r++) {
      logEvidence[r] += evidenceIncrement[r];
      essTrace[(p.steps - i) * runs + r] = essNow[r];
      resampledTrace[(p.steps - i) * runs + r] = flags[r];
      resampled += flags[r];
    }
    return resampled;
  };
  // The fused native step (host arrays only: the CPU backend).
  const fusedStep = p.backend.smcStep;
  const status = new Float64Array(1);

  checkAbort();
  await ops.initState(batch, p.latent, p.observed, contextAt(p.steps), stream(p.steps, P.initial), z, threads);

  for (let i = p.steps; i >= 1; i--) {
    checkAbort();
    const t = grid[i], s = grid[i - 1];
    const c = coef[i - 1];
    const where = `at step ${p.steps - i + 1} of ${p.steps} (t = ${t})`;
    const ySource = contextAt(i - 1);
    // X_s = mu_X[ancestor] + sqrt(v) xi; no noise at the last step unless asked (MATH.md §2).
    const noise = i === 1 && !p.finalNoise ? 0 : Math.sqrt(c.v);
    let resampledRuns = 0;
    if (weighted && fusedStep) {
      // The same operations as below, in one native job (ops.cc SmcStep): kernel mean,
      // weights, reweighting, resampling, move.
      const g = await score(z, t, where);
      const code = await fusedStep(
        batch, p.latent, p.observed, z as Float32Array, g as Float32Array, c.a, c.b, mu as Float32Array, ySource,
        c.weightVariance, logWeights as Float64Array, increment as Float64Array, p.essThreshold, evidenceIncrement,
        essNow, flags, SCHEME_CODE[p.scheme], stream(i, P.resampling), cdf as Float64Array, ancestors as Int32Array,
        noise, stream(i, P.kernelNoise), status, threads,
      );
      if (code === 1) throw kernelMeanError(where, (mu as Float32Array)[status[0]], status[0]);
      if (code === 2) throw weightsError(where, status[0]);
      if (code === 3) throw resamplingError(where, status[0]);
      resampledRuns = recordWeights(i);
    } else {
      // Backward kernel mean at Z_t = [X_t, Y_t] (MATH.md §2).
      await kernelMean(z, await score(z, t, where), c, where);
      let anc: I32Array | null = null;
      if (weighted) {
        // Bootstrap weights: where each particle's Y block should land (MATH.md §3).
        await ops.gaussianYLogWeights(batch, p.observed, mu, ySource, c.weightVariance, increment, threads);
        const failed = await ops.reweight(batch, logWeights, increment, p.essThreshold, evidenceIncrement, essNow, flags, threads);
        if (failed >= 0) throw weightsError(where, failed);
        resampledRuns = recordWeights(i);
        if (resampledRuns > 0) {
          const bad = await ops.resampleBatch(batch, SCHEME_CODE[p.scheme], flags, stream(i, P.resampling), logWeights, cdf, ancestors, threads);
          if (bad >= 0) throw resamplingError(where, bad);
          anc = ancestors;
        }
      }
      await ops.propagate(batch, p.latent, p.observed, mu, anc, noise, ySource, stream(i, P.kernelNoise), z, threads);
    }

    const corrector = model.corrector;
    if (corrector?.kind === 'langevin') {
      // Algorithm 2: the score at s (at s = 0 the smallest positive grid time).
      const tScore = s > 0 ? s : grid[1];
      const sigma2 = p.schedule.sigma2(tScore);
      for (let j = 0; j < corrector.steps; j++) {
        checkAbort();
        const g = await score(z, tScore, `${where}, Langevin step ${j + 1}`);
        if (corrector.rule === 'gamma') {
          await ops.langevin(batch, p.latent, p.observed, g, 0, corrector.gamma * sigma2, 0, stream(i, P.langevin + j), z, threads);
        } else {
          await ops.langevin(batch, p.latent, p.observed, g, 1, corrector.snr, c.alphaTs * c.alphaTs, stream(i, P.langevin + j), z, threads);
        }
      }
    } else if (corrector?.kind === 'repaint') {
      // RePaint: re-noise X from s back to t, then take the backward step again.
      const yT = contextAt(i);
      for (let u = 0; u < corrector.jumps; u++) {
        checkAbort();
        await ops.renoise(batch, p.latent, p.observed, c.alphaTs, c.sigma2Ts, yT, stream(i, P.repaintNoise + u), z, threads);
        const jump = `${where}, RePaint jump ${u + 1}`;
        await kernelMean(z, await score(z, t, jump), c, jump);
        await ops.propagate(batch, p.latent, p.observed, mu, null, noise, ySource, stream(i, P.repaintKernel + u), z, threads);
      }
    }
    p.onStep?.({ step: p.steps - i + 1, steps: p.steps, t: s, ess: weighted ? essTrace.subarray((p.steps - i) * runs, (p.steps - i + 1) * runs) : undefined, resampledRuns: weighted ? resampledRuns : undefined });
  }
  const finalLogWeights = await memory.readF64(logWeights);
  memory.free(work, increment, cdf, ancestors, logWeights);
  scorer.release();
  return { particles: z, logWeights: finalLogWeights, logEvidence, ess: essTrace, resampled: resampledTrace };
}
