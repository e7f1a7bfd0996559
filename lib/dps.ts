// `dps`: diffusion posterior sampling for a linear observation (docs/MATH.md §12), a labelled
// heuristic: it does not sample p(x₀ | y) for any step ζ, and no weights correct it (use smc or
// tds for that). README, "Guidance", gives its measured bias.
import { typeError, rangeError, positiveInteger, finiteNumber, oneOf, abortError } from './errors';
import { prepare, cpuUnlessNamed, runModel, problemWarnings, CommonOptions, SampleResult } from './samplers';
import { GaussianMixture } from './mixture';
import { normalizeLinearObservation, ObservationInput } from './observation';
import { dpsModel, DpsJacobian } from './models/dps';
import type { ScoreVjp } from './models/twisted';
import { checkOptionKeys, COMMON_OPTION_NAMES } from './options';

export type { DpsJacobian } from './models/dps';

export interface DpsOptions extends Omit<CommonOptions, 'observed' | 'guidance'> {
  /** y = A x₀ + noiseStd ε: a mask, a matrix { A, y, noiseStd } or an operator with apply and applyT. */
  observed: ObservationInput;
  /** Independent samples. */
  samples: number;
  /** The step ζ ≥ 0 of x_s = μ + √v ξ + ζ Jᵀ Aᵀ r / ‖r‖ (docs/MATH.md §12). */
  zeta: number;
  /** Where J = ∂x̂₀/∂x_t comes from (default 'auto': 'exact' for a GaussianMixture, 'vjp' for a model with vjp, else 'identity'). */
  jacobian?: 'auto' | DpsJacobian;
  /** τ² of the identity Jacobian c_t = τ²/(α_t(τ² + λ_t)) (default 1: data of unit scale). */
  tau2?: number;
}

export interface DpsResult extends SampleResult {
  jacobian: DpsJacobian;
  /** Score evaluations per sample: one per step, two more per step for finite differences. */
  scoreEvaluations: number;
}

const DPS_OPTIONS = [...COMMON_OPTION_NAMES.filter((k) => k !== 'guidance'), 'samples', 'zeta', 'jacobian', 'tau2'];

/** DPS (docs/MATH.md §12): a heuristic, biased for every ζ; measured in the README. */
export async function dps(options: DpsOptions): Promise<DpsResult> {
  const started = performance.now();
  checkOptionKeys('dps', options, DPS_OPTIONS);
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
  // Every coordinate is free: the observation enters only through the DPS step.
  const p = prepare({ ...options, backend: cpuUnlessNamed(options.backend), observed: { indices: [], values: [] } }, 'dps');
  if (p.backend.name !== 'cpu') throw new RangeError(`dps runs on the 'cpu' backend, got backend '${p.backend.name}'`);
  const observation = normalizeLinearObservation(options.observed, p.dim);
  const samples = positiveInteger('samples', options.samples);
  const zeta = finiteNumber('zeta', options.zeta);
  if (zeta < 0) throw rangeError('zeta', 'a non-negative number', options.zeta);
  const requested = oneOf('jacobian', options.jacobian ?? 'auto', ['auto', 'exact', 'vjp', 'finite-difference', 'identity'] as const);
  const mixture = p.score instanceof GaussianMixture ? p.score : undefined;
  const vjp = typeof p.score === 'object' && p.score !== null && typeof (p.score as { vjp?: unknown }).vjp === 'function'
    ? ((p.score as unknown as { vjp: ScoreVjp }).vjp.bind(p.score) as ScoreVjp)
    : undefined;
  const jacobian: DpsJacobian = requested === 'auto' ? (mixture ? 'exact' : vjp ? 'vjp' : 'identity') : requested;
  if (jacobian === 'exact' && !mixture) throw new TypeError("jacobian 'exact' needs a GaussianMixture score model; use 'vjp', 'finite-difference' or 'identity'");
  if (jacobian === 'vjp' && !vjp) throw new TypeError("jacobian 'vjp' needs a score model with a vjp(z, t, u, context) method returning (ds/dz)^T u");
  const tau2 = finiteNumber('tau2', options.tau2 ?? 1);
  if (!(tau2 > 0)) throw rangeError('tau2', 'a positive number', options.tau2);
  if (options.signal?.aborted) throw abortError(options.signal);
  const model = dpsModel({ kernel: p.kernel, observation, zeta, jacobian, tau2, finalNoise: p.finalNoise, mixture: mixture?.nativeCore(), vjp });
  const result = await runModel(p, options as CommonOptions, model, { runs: samples, particles: 1, essThreshold: 0, scheme: 'systematic' });
  const drawn = await p.backend.memory.readF32(result.particles);
  p.backend.memory.free(result.particles);
  return {
    samples: drawn,
    shape: [samples, p.dim],
    method: 'dps',
    seconds: (performance.now() - started) / 1000,
    threads: p.threads,
    backend: p.backend.name,
    warnings: problemWarnings(p),
    jacobian,
    scoreEvaluations: p.steps * (jacobian === 'finite-difference' && zeta > 0 ? 3 : 1),
  };
}
