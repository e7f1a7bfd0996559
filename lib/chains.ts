// Markov chains of conditional samples, one particle filter per step of the chain
// (docs/MATH.md §11): particle Gibbs (conditional SMC sweeps with a path refresh) and
// particle marginal Metropolis–Hastings. K chains run side by side: each sweep is one run
// of the driver whose runs are the chains, so the score model sees every chain's
// particles in one call per step.
//
// Random numbers (MATH.md §6): the run word is the chain, the purpose index the sweep
// (0 for the start), so every draw is a function of (seed, chain, sweep, step, purpose,
// element) and a chain draws the same numbers whatever K or the thread count.
import { runFeynmanKac, FeynmanKacModel, DriverResult, notifyProgress } from './driver';
import { conditionalSmc, FinalSelection, PathSampling, ChosenPaths } from './models/conditional-smc';
import { pathDensityModel } from './models/path-density';
import { ChainUniforms } from './models/chain-random';
import { chainDiagnostics } from './chain-diagnostics';
import { CommonOptions, SampleResult, Prepared, prepare, forwardPath, problemWarnings } from './samplers';
import type { NormalizedObservation } from './observation';

/** The chains condition on an exact coordinate mask (docs/MATH.md §11). */
type MaskPrepared = Prepared & { obs: NormalizedObservation };
import { typeError, rangeError, positiveInteger, nonNegativeInteger, finiteNumber, oneOf, abortError } from './errors';
import { checkChainOptionNames } from './options';
import { requireSizes } from './sizes';

/** A sweep's index is the 16-bit index field of its random streams' purpose word (MATH.md §6). */
export const MAX_SWEEPS = 65535;

/** Options both chain samplers take. */
export interface ChainOptions extends Omit<CommonOptions, 'onStep' | 'finalNoise' | 'condition' | 'guidance'> {
  /** Particles N of each sweep's filter. */
  particles: number;
  /** Independent chains K. */
  samples: number;
  /** Sweeps M per chain (default 100, at most 65535). */
  sweeps?: number;
  /** Sweeps left out of `samples` and of the diagnostics (default 10, below sweeps). */
  burnIn?: number;
  /** Keep every T-th post-burn-in sweep in `samples` (default 1). */
  thin?: number;
  /** Called after every sweep; a promise it returns is awaited (its rejection fails the run). */
  onSweep?: (info: { sweep: number; sweeps: number }) => unknown;
}

export interface ParticleGibbsOptions extends ChainOptions {
  /** How the Z path is renewed after a sweep (docs/MATH.md §11): 'mh' (exact, default) or 'forward' (re-noising, approximate). */
  refresh?: 'mh' | 'forward';
  /** The final index: 'weight' (drawn by the final weights, default) or 'forced' (the forced move away from the reference). */
  selection?: FinalSelection;
  /** The new reference: 'ancestry' (trace the chosen particle's ancestors, default) or 'backward' (backward sampling). */
  pathSampling?: PathSampling;
  /**
   * Particles of the bootstrap-filter run that gives each chain its first reference (default:
   * `particles`). More start the chains closer to their target, which matters where the path
   * near t_S mixes slowly (ancestry tracing on an informative Y path, docs/MATH.md §11).
   */
  initialParticles?: number;
  /**
   * Holds every chain's Y path fixed (no refresh): (S + 1) × d_Y values by grid index, row 0
   * the observed values, for every chain; or one path per chain, K × (S + 1) × d_Y chain-major,
   * whose row 0 is that chain's own Y_0 (observed.values then gives only the coordinates' count;
   * a joint test draws Y_0 per chain, docs/MATH.md §11). The chains then target
   * p_θ(X_0 | their path) exactly.
   */
  contextPath?: ArrayLike<number>;
  /**
   * Each chain's first reference X path instead of a bootstrap-filter run's: K × (S + 1) × d_X
   * chain-major, by grid index (row 0 is X_0). Needs contextPath (the Y paths it goes with).
   */
  initialReference?: ArrayLike<number>;
}

export interface PmmhOptions extends ChainOptions {
  /** pCN on the forward innovations, ξ' = β ξ + √(1 − β²) η (default 0: a fresh forward path). */
  pcnBeta?: number;
  /**
   * 'full' (default): the acceptance ratio of docs/MATH.md §11. 'evidence': exp(ℓ̂' − ℓ̂) alone,
   * for comparison only: it targets a tilted law.
   */
  acceptance?: 'full' | 'evidence';
}

export interface ChainResult extends SampleResult {
  /** Every chain's state after every sweep, chains × sweeps × D (observed coordinates filled in). */
  chains: Float32Array;
  chainsShape: [number, number, number];
  sweeps: number;
  burnIn: number;
  thin: number;
  /** Fraction of sweeps whose X_0 differs from the previous sweep's. */
  moveRate: number;
  /** The latent coordinates the diagnostics are for. */
  coordinates: Int32Array;
  /** Integrated autocorrelation time per latent coordinate (sweeps), over the post-burn-in sweeps. */
  iat: Float64Array;
  /** Effective sample size per latent coordinate: chains × post-burn-in sweeps / iat. */
  ess: Float64Array;
  /** Each chain's Y path after the last sweep, (steps + 1) × chains × d_Y by grid index (row 0: the data). */
  contextPath: Float32Array;
}

export interface ParticleGibbsResult extends ChainResult {
  /** The refresh used: 'none' with a fixed contextPath. */
  refresh: 'mh' | 'forward' | 'none';
  /** Fraction of accepted Metropolis–Hastings refreshes (1 for 'forward', NaN for 'none'). */
  refreshAcceptance: number;
}

export interface PmmhResult extends ChainResult {
  acceptance: 'full' | 'evidence';
  pcnBeta: number;
  /** Fraction of accepted proposals. */
  acceptanceRate: number;
  /** The current log Ẑ of each chain after the last sweep. */
  logEvidence: Float64Array;
}

interface Shape {
  p: MaskPrepared;
  particles: number;
  chains: number;
  sweeps: number;
  burnIn: number;
  thin: number;
}

function chainShape(method: string, o: ChainOptions): Shape {
  if (typeof o !== 'object' || o === null) throw typeError('options', 'an object', o);
  if (o.backend !== undefined && o.backend !== 'auto' && o.backend !== 'cpu') {
    throw rangeError('backend', `'cpu' or 'auto' (${method} runs on the CPU)`, o.backend);
  }
  const prepared = prepare({ ...o, backend: 'cpu' });
  if (!prepared.obs) {
    throw new TypeError(`${method} conditions on exact coordinates observed = { indices, values } (docs/MATH.md §11); a noisy or matrix observation is for smc and replacement`);
  }
  const p = prepared as MaskPrepared;
  const particles = positiveInteger('particles', o.particles);
  const chains = positiveInteger('samples', o.samples);
  if (particles * chains > 2 ** 31 - 1) throw rangeError('particles * samples', 'at most 2^31 - 1', particles * chains);
  const sweeps = positiveInteger('sweeps', o.sweeps ?? 100, MAX_SWEEPS);
  const burnIn = nonNegativeInteger('burnIn', o.burnIn ?? Math.min(10, sweeps - 1));
  if (burnIn >= sweeps) throw rangeError('burnIn', `below sweeps (${sweeps})`, o.burnIn);
  const thin = positiveInteger('thin', o.thin ?? 1);
  if (thin > sweeps - burnIn) throw rangeError('thin', `at most sweeps - burnIn (${sweeps - burnIn}), so that one draw is kept`, o.thin);
  if (o.onSweep !== undefined && typeof o.onSweep !== 'function') throw typeError('onSweep', 'a function', o.onSweep);
  requireSizes(`${method} (chains ${chains} x sweeps ${sweeps} x dimension ${p.dim})`, [
    { what: 'the chains (samples x sweeps x dimension)', elements: chains * sweeps * p.dim, bytesPerElement: 4 },
  ]);
  return { p, particles, chains, sweeps, burnIn, thin };
}

/** The forward transitions α_{t_i|t_{i−1}}, σ²_{t_i|t_{i−1}} of the grid, index i − 1 (MATH.md §1). */
function transitions(p: MaskPrepared): { alpha: Float64Array; sigma2: Float64Array } {
  const alpha = new Float64Array(p.steps), sigma2 = new Float64Array(p.steps);
  for (let i = 1; i <= p.steps; i++) {
    const tr = p.schedule.transition(p.grid[i - 1], p.grid[i]);
    alpha[i - 1] = tr.alpha;
    sigma2[i - 1] = tr.sigma2;
  }
  return { alpha, sigma2 };
}

/**
 * log q_fwd(V_{1:S} | V_0) = Σ_i log N(V_i; α_i V_{i−1}, σ_i² I) of one run's path of width w,
 * stored (S + 1) × runs × w by grid index (MATH.md §1), Gaussian constants kept.
 */
function logForward(path: Float32Array, runs: number, run: number, w: number, tr: { alpha: Float64Array; sigma2: Float64Array }): number {
  let lq = 0;
  for (let i = 1; i < tr.alpha.length + 1; i++) {
    const a = tr.alpha[i - 1], v = tr.sigma2[i - 1];
    let q = 0;
    for (let c = 0; c < w; c++) {
      const d = path[(i * runs + run) * w + c] - a * path[((i - 1) * runs + run) * w + c];
      q += d * d;
    }
    lq += -q / (2 * v) - 0.5 * w * Math.log(2 * Math.PI * v);
  }
  return lq;
}

/** One run of a model on the driver with the chains as runs (MATH.md §6: run word = chain). */
function runChains(p: MaskPrepared, o: ChainOptions, model: FeynmanKacModel, runs: number, particles: number): Promise<DriverResult> {
  return runFeynmanKac({
    backend: p.backend, model, score: p.score, schedule: p.schedule, grid: p.grid, dim: p.dim,
    runs, particles, runOffset: 0, seed: p.seed, threads: p.threads, signal: o.signal,
    essThreshold: 1, scheme: 'multinomial',
  });
}

/** One filter run per chain (conditional when `reference` is given), sweep index `sweep`. */
async function sweepRun(
  p: MaskPrepared, o: ChainOptions, s: Shape, yPath: Float32Array, reference: Float32Array | null, sweep: number,
  selection: FinalSelection, sampling: PathSampling, particles = s.particles,
): Promise<{ chosen: ChosenPaths; logEvidence: Float64Array }> {
  const csmc = conditionalSmc({ kernel: p.kernel, latent: p.obs.latent, observed: p.obs.indices, yPath, reference, sweep, selection, sampling });
  const result = await runChains(p, o, csmc.model, s.chains, particles);
  p.backend.memory.free(result.particles);
  return { chosen: csmc.choosePaths(result.logWeights, result.ancestry), logEvidence: result.logEvidence };
}

/** Writes chain r's state (X_0 from `x0`, Y_0 from row 0 of its Y path) as sweep m's row of `chains`. */
function record(s: Shape, chains: Float32Array, r: number, m: number, x0: ArrayLike<number>, x0At: number, yPath: Float32Array): void {
  const { p } = s;
  const row = (r * s.sweeps + m) * p.dim;
  const dY = p.obs.indices.length;
  p.obs.indices.forEach((c, j) => (chains[row + c] = yPath[r * dY + j]));
  p.obs.latent.forEach((c, j) => (chains[row + c] = x0[x0At + j]));
}

function finish(started: number, method: string, s: Shape, chains: Float32Array, moves: number, contextPath: Float32Array): ChainResult {
  const { p, sweeps, burnIn, thin } = s;
  const K = s.chains, D = p.dim;
  const kept = Math.floor((sweeps - burnIn) / thin);
  const samples = new Float32Array(K * kept * D);
  for (let r = 0; r < K; r++) {
    for (let k = 0; k < kept; k++) {
      const m = burnIn + (k + 1) * thin - 1;
      samples.set(chains.subarray((r * sweeps + m) * D, (r * sweeps + m + 1) * D), (r * kept + k) * D);
    }
  }
  const diag = chainDiagnostics(chains, K, sweeps, D, p.obs.latent, burnIn);
  return {
    samples, shape: [K * kept, D], method, seconds: (performance.now() - started) / 1000, threads: p.threads, backend: 'cpu',
    warnings: problemWarnings(p), chains, chainsShape: [K, sweeps, D], sweeps, burnIn, thin,
    moveRate: moves / (K * sweeps), coordinates: p.obs.latent, iat: diag.iat, ess: diag.ess, contextPath,
  };
}

function sameLatent(a: Float32Array, aAt: number, b: Float32Array, bAt: number, dX: number): boolean {
  for (let j = 0; j < dX; j++) if (a[aAt + j] !== b[bAt + j]) return false;
  return true;
}

/**
 * Fixed Y paths given by the user: (S + 1) × d_Y repeated for every chain (row 0 the observed
 * values), or K × (S + 1) × d_Y, one per chain (row 0 that chain's Y_0). Internal layout
 * (S + 1) × K × d_Y by grid index.
 */
function fixedContextPath(p: MaskPrepared, chains: number, given: ArrayLike<number>): Float32Array {
  const dY = p.obs.indices.length, S = p.steps, one = (S + 1) * dY;
  const expected = `(steps + 1) x observed coordinates = ${one} numbers, or ${chains} (samples) times that, one path per chain`;
  if (typeof given !== 'object' || given === null || typeof (given as ArrayLike<number>).length !== 'number') throw typeError('contextPath', `an array of ${expected}`, given);
  const perChain = given.length === chains * one;
  if (given.length !== one && !perChain) throw rangeError('contextPath.length', expected, given.length);
  const out = new Float32Array((S + 1) * chains * dY);
  for (let r = 0; r < (perChain ? chains : 1); r++) {
    for (let g = 0; g <= S; g++) {
      for (let j = 0; j < dY; j++) {
        const at = r * one + g * dY + j, v = given[at];
        if (typeof v !== 'number' || !Number.isFinite(v)) throw typeError(`contextPath[${at}]`, 'a finite number', v);
        if (!perChain && g === 0 && Math.fround(v) !== p.obs.values[j]) throw rangeError(`contextPath[${j}]`, `the observed value ${Number(p.obs.values[j].toPrecision(7))} (row 0 is the data)`, v);
        if (perChain) out[(g * chains + r) * dY + j] = v;
        else for (let c = 0; c < chains; c++) out[(g * chains + c) * dY + j] = v;
      }
    }
  }
  return out;
}

/** The user's first references, K × (S + 1) × d_X chain-major, into (S + 1) × K × d_X. */
function initialReferencePaths(p: MaskPrepared, chains: number, given: ArrayLike<number>): Float32Array {
  const dX = p.obs.latent.length, S = p.steps, one = (S + 1) * dX;
  if (typeof given !== 'object' || given === null || typeof (given as ArrayLike<number>).length !== 'number') {
    throw typeError('initialReference', `an array of samples x (steps + 1) x latent coordinates = ${chains * one} numbers`, given);
  }
  if (given.length !== chains * one) throw rangeError('initialReference.length', `samples x (steps + 1) x latent coordinates = ${chains * one}`, given.length);
  const out = new Float32Array(chains * one);
  for (let r = 0; r < chains; r++) {
    for (let g = 0; g <= S; g++) {
      for (let j = 0; j < dX; j++) {
        const at = r * one + g * dX + j, v = given[at];
        if (typeof v !== 'number' || !Number.isFinite(v)) throw typeError(`initialReference[${at}]`, 'a finite number', v);
        out[(g * chains + r) * dX + j] = v;
      }
    }
  }
  return out;
}

/**
 * Particle Gibbs (docs/MATH.md §11): K chains; each starts from one bootstrap-filter run's
 * path and then alternates a conditional SMC sweep (the X path given the Y path) with a
 * refresh of the whole Z path given Z_0. The draws are X_0 after each sweep.
 */
export async function particleGibbs(options: ParticleGibbsOptions): Promise<ParticleGibbsResult> {
  const started = performance.now();
  checkChainOptionNames('particleGibbs', options);
  const s = chainShape('particleGibbs', options);
  const { p } = s;
  const refreshKind = oneOf('refresh', options.refresh ?? 'mh', ['mh', 'forward'] as const);
  const selection = oneOf('selection', options.selection ?? 'weight', ['weight', 'forced'] as const);
  const sampling = oneOf('pathSampling', options.pathSampling ?? 'ancestry', ['ancestry', 'backward'] as const);
  const initialParticles = positiveInteger('initialParticles', options.initialParticles ?? s.particles);
  if (initialParticles * s.chains > 2 ** 31 - 1) throw rangeError('initialParticles * samples', 'at most 2^31 - 1', initialParticles * s.chains);
  const K = s.chains, S = p.steps, D = p.dim;
  const lat = p.obs.latent, obs = p.obs.indices, dX = lat.length, dY = obs.length;
  const fixed = options.contextPath !== undefined;
  if (options.initialReference !== undefined && !fixed) {
    throw new TypeError('initialReference needs contextPath: a first reference X path goes with the Y path it was drawn with');
  }
  const yPath = fixed ? fixedContextPath(p, K, options.contextPath!) : await forwardPath(p, K);
  const given = options.initialReference !== undefined ? initialReferencePaths(p, K, options.initialReference) : null;
  const tr = transitions(p);
  const chains = new Float32Array(K * s.sweeps * D);
  const check = () => {
    if (options.signal?.aborted) throw abortError(options.signal);
  };

  check();
  // The first reference: the user's, or one bootstrap-filter run's path per chain (sweep index 0).
  // Only its path is read while the Y paths are fixed (no refresh needs its density).
  let current: ChosenPaths = given
    ? { path: given, finalIndex: new Int32Array(K), logDensity: new Float64Array(K).fill(NaN) }
    : (await sweepRun(p, options, s, yPath, null, 0, 'weight', sampling, initialParticles)).chosen;
  let moves = 0, accepted = 0;
  const proposal = new Float32Array((S + 1) * K * D);
  const xi = new Float32Array(S * D);
  const logProposed = new Float64Array(K);
  for (let m = 1; m <= s.sweeps; m++) {
    check();
    const next = (await sweepRun(p, options, s, yPath, current.path, m, selection, sampling)).chosen;
    for (let r = 0; r < K; r++) {
      if (!sameLatent(next.path, r * dX, current.path, r * dX, dX)) moves++;
      record(s, chains, r, m - 1, next.path, r * dX, yPath);
    }
    current = next;
    if (!fixed) {
      // A forward path from Z_0 = [x_0, y] per chain (purpose contextPath, step word 0, index m).
      for (let r = 0; r < K; r++) {
        await p.backend.ops.normals(xi, { seed: p.seed, run: r, step: 0, purpose: p.backend.ops.purposes.contextPath, index: m }, 0, p.threads);
        lat.forEach((c, j) => (proposal[r * D + c] = current.path[r * dX + j]));
        obs.forEach((c, j) => (proposal[r * D + c] = p.obs.values[j]));
        for (let i = 1; i <= S; i++) {
          const a = tr.alpha[i - 1], sd = Math.sqrt(tr.sigma2[i - 1]);
          for (let c = 0; c < D; c++) proposal[(i * K + r) * D + c] = a * proposal[((i - 1) * K + r) * D + c] + sd * xi[(i - 1) * D + c];
        }
      }
      let accept: (r: number) => boolean = () => true;
      if (refreshKind === 'mh') {
        // Independent MH with the forward proposal (§11): accept with
        // [p_θ(Z') q_fwd(Z | Z_0)] / [p_θ(Z) q_fwd(Z' | Z_0)]; p_θ(Z) came with the sweep's path.
        await runChains(p, options, pathDensityModel({ kernel: p.kernel, latent: lat, observed: obs, path: proposal, out: logProposed }), K, 1)
          .then((res) => p.backend.memory.free(res.particles));
        const currentZ = new Float32Array((S + 1) * K * D);
        for (let g = 0; g <= S; g++) {
          for (let r = 0; r < K; r++) {
            lat.forEach((c, j) => (currentZ[(g * K + r) * D + c] = current.path[(g * K + r) * dX + j]));
            obs.forEach((c, j) => (currentZ[(g * K + r) * D + c] = yPath[(g * K + r) * dY + j]));
          }
        }
        accept = (r) => {
          const logRatio = logProposed[r] - logForward(proposal, K, r, D, tr) - (current.logDensity[r] - logForward(currentZ, K, r, D, tr));
          return new ChainUniforms(p.seed, r, S + 1, p.backend.ops.purposes.outputChoice | m).at(0) < Math.exp(logRatio);
        };
      }
      for (let r = 0; r < K; r++) {
        if (!accept(r)) continue;
        accepted++;
        for (let g = 1; g <= S; g++) {
          lat.forEach((c, j) => (current.path[(g * K + r) * dX + j] = proposal[(g * K + r) * D + c]));
          obs.forEach((c, j) => (yPath[(g * K + r) * dY + j] = proposal[(g * K + r) * D + c]));
        }
      }
    }
    await notifyProgress(options.onSweep, { sweep: m, sweeps: s.sweeps }, options.signal);
  }
  const out = finish(started, 'particle-gibbs', s, chains, moves, yPath);
  return {
    ...out,
    refresh: fixed ? 'none' : refreshKind,
    refreshAcceptance: fixed ? NaN : accepted / (K * s.sweeps),
  };
}

/**
 * Particle marginal Metropolis–Hastings (docs/MATH.md §11): the state is (Y path, X_0, log Ẑ);
 * each iteration proposes a Y path (fresh or pCN), runs the bootstrap filter on it and
 * accepts with the full ratio; X_0 is a final particle drawn by its final weight.
 */
export async function pmmh(options: PmmhOptions): Promise<PmmhResult> {
  const started = performance.now();
  checkChainOptionNames('pmmh', options);
  const s = chainShape('pmmh', options);
  const { p } = s;
  const beta = finiteNumber('pcnBeta', options.pcnBeta ?? 0);
  if (beta < 0 || beta >= 1) throw rangeError('pcnBeta', 'a number in [0, 1)', options.pcnBeta);
  const acceptance = oneOf('acceptance', options.acceptance ?? 'full', ['full', 'evidence'] as const);
  const K = s.chains, S = p.steps, D = p.dim;
  const lat = p.obs.latent, dX = lat.length, dY = p.obs.indices.length;
  const tr = transitions(p);
  const chains = new Float32Array(K * s.sweeps * D);
  const check = () => {
    if (options.signal?.aborted) throw abortError(options.signal);
  };
  // log N(Y_S; 0, I) − log q_fwd(Y_{1:S} | y): the path terms of the full ratio.
  const pathTerm = (path: Float32Array, r: number) => {
    let q = 0;
    for (let j = 0; j < dY; j++) q += path[(S * K + r) * dY + j] ** 2;
    return -0.5 * q - logForward(path, K, r, dY, tr);
  };
  const filter = async (yPath: Float32Array, sweep: number) => {
    const csmc = conditionalSmc({ kernel: p.kernel, latent: lat, observed: p.obs.indices, yPath, reference: null, sweep, keepHistory: false });
    const res = await runChains(p, options, csmc.model, K, s.particles);
    const z = res.particles as Float32Array;
    // The output particle by its final weight, never a fixed slot (§11's trap).
    const chosen = csmc.chooseFinal(res.logWeights);
    const x0 = new Float32Array(K * dX);
    for (let r = 0; r < K; r++) lat.forEach((c, j) => (x0[r * dX + j] = z[(r * s.particles + chosen[r]) * D + c]));
    p.backend.memory.free(res.particles);
    return { logEvidence: res.logEvidence, x0 };
  };

  check();
  const yPath = await forwardPath(p, K);
  const start = await filter(yPath, 0);
  const logEvidence = start.logEvidence;
  const x0 = start.x0;
  const proposal = new Float32Array(yPath.length);
  proposal.set(yPath.subarray(0, K * dY));
  const eta = new Float32Array(S * dY);
  let moves = 0, accepted = 0;
  for (let m = 1; m <= s.sweeps; m++) {
    check();
    // pCN on the innovations of each chain's current path (purpose contextPath, step word 0, index m).
    for (let r = 0; r < K; r++) {
      await p.backend.ops.normals(eta, { seed: p.seed, run: r, step: 0, purpose: p.backend.ops.purposes.contextPath, index: m }, 0, p.threads);
      for (let i = 1; i <= S; i++) {
        const a = tr.alpha[i - 1], sd = Math.sqrt(tr.sigma2[i - 1]);
        for (let j = 0; j < dY; j++) {
          const xi = (yPath[(i * K + r) * dY + j] - a * yPath[((i - 1) * K + r) * dY + j]) / sd;
          const xiNew = beta * xi + Math.sqrt(1 - beta * beta) * eta[(i - 1) * dY + j];
          proposal[(i * K + r) * dY + j] = a * proposal[((i - 1) * K + r) * dY + j] + sd * xiNew;
        }
      }
    }
    const next = await filter(proposal, m);
    for (let r = 0; r < K; r++) {
      let logRatio = next.logEvidence[r] - logEvidence[r];
      if (acceptance === 'full') logRatio += pathTerm(proposal, r) - pathTerm(yPath, r);
      const u = new ChainUniforms(p.seed, r, S + 1, p.backend.ops.purposes.outputChoice | m).at(0);
      if (u < Math.exp(logRatio)) {
        accepted++;
        if (!sameLatent(next.x0, r * dX, x0, r * dX, dX)) moves++;
        logEvidence[r] = next.logEvidence[r];
        x0.set(next.x0.subarray(r * dX, (r + 1) * dX), r * dX);
        for (let g = 1; g <= S; g++) for (let j = 0; j < dY; j++) yPath[(g * K + r) * dY + j] = proposal[(g * K + r) * dY + j];
      }
      record(s, chains, r, m - 1, x0, r * dX, yPath);
    }
    await notifyProgress(options.onSweep, { sweep: m, sweeps: s.sweeps }, options.signal);
  }
  const out = finish(started, 'pmmh', s, chains, moves, yPath);
  return { ...out, acceptance, pcnBeta: beta, acceptanceRate: accepted / (K * s.sweeps), logEvidence };
}
