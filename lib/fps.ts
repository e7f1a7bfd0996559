// `fps`: FPS (Dou & Song 2024) on condiff's kernels, docs/MATH.md §9.3, for any observation: it
// needs only A and A^T (a mask, a dense A, or an operator's apply and applyT). Consistent for
// σ_y = 0, where it is the SVD bootstrap filter of §9.1; a heuristic for σ_y > 0 (README, "FPS").
import { rangeError, finiteNumber, oneOf, abortError } from './errors';
import { prepare, cpuUnlessNamed, weightedRunShape, runModel, problemWarnings, drawByWeight, finishWeighted, SmcResult, CommonOptions, Prepared } from './samplers';
import { ResamplingScheme } from './driver';
import { normalizeLinearObservation, LinearObservation } from './observation';
import { matchingTimes, observationGrid } from './matching';
import { fpsModel, gram } from './models/fps';
import { checkOptionKeys, COMMON_OPTION_NAMES } from './options';
import { choleskyFactor } from './linear-gaussian';
import { requireSizes } from './sizes';

export interface FpsOptions extends CommonOptions {
  particles: number;
  samples: number;
  resampling?: ResamplingScheme;
  essThreshold?: number;
  output?: 'one' | 'all';
}

export interface FpsResult extends Omit<SmcResult, 'contextPath'> {
  /**
   * log p̂(y) per run: log Ẑ divided by the y-path's forward density (docs/MATH.md §9.3), with
   * noiseStd = 0 (where FPS is consistent); NaN with noiseStd > 0, where Ẑ is the approximate
   * model's path likelihood and no estimate of p(y).
   */
  logPy: Float64Array;
  /** The y-path of every run, (steps + 1) x runs x d_y by grid index (index 0: y). */
  yPath: Float64Array;
}

const FPS_OPTIONS = [...COMMON_OPTION_NAMES, 'particles', 'samples', 'resampling', 'essThreshold', 'output'];

/**
 * The y-path of docs/MATH.md §9.3, one per run: y_0 = y, y_k = α_{k|k−1} y_{k−1} + σ_{k|k−1} A ξ_k,
 * ξ_k ~ N(0, I_D) from the context path's stream (purpose contextPath, step word k, element c).
 */
export async function fpsPath(p: Prepared, obs: LinearObservation, runs: number): Promise<Float64Array> {
  const S = p.grid.length - 1, D = p.dim, m = obs.rows;
  requireSizes(`the y-path noise (steps ${S} + 1, samples ${runs}, dimension ${D})`, [
    { what: 'the y-path noise ((steps + 1) x samples x dimension)', elements: (S + 1) * runs * D, bytesPerElement: 4 },
    { what: 'the y-path ((steps + 1) x samples x d_y)', elements: (S + 1) * runs * m, bytesPerElement: 8 },
  ]);
  const xi = new Float32Array((S + 1) * runs * D);
  const ops = p.backend.ops;
  await ops.forwardContextPath(new Float32Array(D), runs, 0, new Float64Array(S), new Float64Array(S).fill(1), { seed: p.seed, step: 0, purpose: ops.purposes.contextPath }, xi, p.threads);
  const path = new Float64Array((S + 1) * runs * m);
  for (let q = 0; q < runs; q++) path.set(obs.y, q * m);
  for (let k = 1; k <= S; k++) {
    const tr = p.schedule.transition(p.grid[k - 1], p.grid[k]), sd = Math.sqrt(tr.sigma2);
    for (let q = 0; q < runs; q++) {
      const a = obs.apply(Float64Array.from(xi.subarray((k * runs + q) * D, (k * runs + q + 1) * D)));
      const prev = (k - 1) * runs * m + q * m, at = k * runs * m + q * m;
      for (let i = 0; i < m; i++) path[at + i] = tr.alpha * path[prev + i] + sd * a[i];
    }
  }
  return path;
}

/** Σ_{k ≥ 1} log N(y_k; α y_{k−1}, σ² AA^T) per run: the y-path's forward density given y_0. */
export function fpsPathDensity(p: Prepared, obs: LinearObservation, path: Float64Array, runs: number): Float64Array {
  const S = p.grid.length - 1, m = obs.rows, g = gram(obs);
  const out = new Float64Array(runs);
  const u = new Float64Array(m);
  for (let k = 1; k <= S; k++) {
    const tr = p.schedule.transition(p.grid[k - 1], p.grid[k]);
    const l = choleskyFactor(g.map((x) => tr.sigma2 * x), m);
    if (!l) throw new RangeError('fps: AA^T is not positive definite: with noiseStd = 0, A must have full row rank (docs/MATH.md §9.3)');
    let logDet = 0;
    for (let i = 0; i < m; i++) logDet += Math.log(l[i * m + i]);
    for (let q = 0; q < runs; q++) {
      for (let i = 0; i < m; i++) u[i] = path[(k * runs + q) * m + i] - tr.alpha * path[((k - 1) * runs + q) * m + i];
      let quad = 0;
      for (let i = 0; i < m; i++) {
        let acc = u[i];
        for (let c = 0; c < i; c++) acc -= l[i * m + c] * u[c];
        u[i] = acc / l[i * m + i];
        quad += u[i] * u[i];
      }
      out[q] += -0.5 * m * Math.log(2 * Math.PI) - logDet - 0.5 * quad;
    }
  }
  return out;
}

export async function fps(options: FpsOptions): Promise<FpsResult> {
  const started = performance.now();
  checkOptionKeys('fps', options, FPS_OPTIONS);
  // The per-particle arithmetic runs on the host: 'auto' means the CPU here.
  const p = prepare({ ...options, backend: cpuUnlessNamed(options?.backend) });
  const { particles, runs, scheme, tau } = weightedRunShape(options);
  const output = oneOf('output', options.output ?? 'one', ['one', 'all'] as const);
  const lin = p.linear ?? normalizeLinearObservation(options.observed, p.dim);
  if (p.backend.name !== 'cpu') throw new RangeError(`fps runs on the 'cpu' backend only, got backend '${p.backend.name}'`);
  // §9.1's grid, so results compare with smc and mcgdiff; an operator without its SVD has no
  // matching times, and runs on the schedule's own grid.
  const grid = p.stepsGiven && lin.svd ? observationGrid(p.schedule, p.steps, matchingTimes(p.schedule, lin.svd, lin.noiseStd)) : p.grid;
  const q: Prepared = { ...p, grid, steps: grid.length - 1 };
  if (options.signal?.aborted) throw abortError(options.signal);
  const yPath = await fpsPath(q, lin, runs);
  const model = fpsModel({ kernel: q.kernel, finalNoise: q.finalNoise, observation: lin, path: yPath });
  const result = await runModel(q, options, model, { runs, particles, essThreshold: tau, scheme });
  const density = lin.noiseStd === 0 ? fpsPathDensity(q, lin, yPath, runs) : undefined;
  const samples = await drawByWeight(p, result, runs, particles);
  const out: FpsResult = {
    samples,
    shape: [runs, p.dim],
    method: 'fps',
    seconds: 0,
    threads: p.threads,
    backend: p.backend.name,
    warnings: problemWarnings(q),
    logEvidence: result.logEvidence,
    logPy: density ? result.logEvidence.map((z, r) => z - density[r]) : new Float64Array(runs).fill(NaN),
    grid: result.grid,
    ess: result.ess,
    resampled: result.resampled,
    yPath,
  };
  return finishWeighted(p, out, result, q.steps, output, started);
}
