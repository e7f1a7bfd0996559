// Dynamic batching's sampler side: requests that share every option but their seed, sample
// count and observed values run as one driver call, side by side. Each run draws with its own
// request's seed and run index (per-run keys, docs/MATH.md §6) against its own request's
// context path, so each request gets exactly the bytes it would get alone (tested). Exact
// masks only (the context path of the seed's methods); `tds` is not batched.
import { prepare, problemWarnings, corrector, forwardPath, kernelSpec, Prepared, SampleResult, SmcResult, ReplacementOptions, SmcOptions, CorrectorOptions } from '../samplers';
import { runFeynmanKac, RESAMPLING_SCHEMES, StepInfo } from '../driver';
import { bootstrapModel } from '../models/bootstrap';
import { replacementModel } from '../models/replacement';
import type { Context } from '../models/backward-kernel';
import { normalizeObservation, normalizeLinearObservation } from '../observation';
import { evidenceCorrection } from '../matching';
import { collapseWarning } from '../diagnostics';
import { positiveInteger, finiteNumber, oneOf, rangeError } from '../errors';

/** One request of a batch. */
export interface BatchMember {
  seed: number;
  samples: number;
  values: ArrayLike<number>;
}

/** What the members share: a sampler's options without seed, samples or observed values. */
export type SharedOptions =
  | ({ method: 'smc' } & Omit<SmcOptions, 'seed' | 'samples' | 'observed' | 'onStep' | 'output'> & { indices: ArrayLike<number> })
  | ({ method: 'replacement' } & Omit<ReplacementOptions, 'seed' | 'samples' | 'observed' | 'onStep'> & { indices: ArrayLike<number> });

/** Runs the members as one batch; resolves to one result per member, in order. */
export async function sampleBatched(shared: SharedOptions, members: BatchMember[], onStep?: (info: StepInfo) => void): Promise<Array<SampleResult | SmcResult>> {
  const started = performance.now();
  if (members.length === 0) return [];
  const first = prepare({ ...shared, observed: { indices: shared.indices, values: members[0].values }, seed: members[0].seed });
  const per: Prepared[] = members.map((m) => ({ ...first, seed: m.seed, obs: normalizeObservation({ indices: shared.indices, values: m.values }, first.dim) }));
  const sizes = members.map((m) => positiveInteger('samples', m.samples));
  const runs = sizes.reduce((a, b) => a + b, 0);
  const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
  // Per-run keys: (seed mod 2^32, floor(seed / 2^32), the run's index in its own request).
  const runKeys = new Uint32Array(3 * runs);
  members.forEach((m, i) => {
    for (let r = 0; r < sizes[i]; r++) runKeys.set([m.seed % 2 ** 32, Math.floor(m.seed / 2 ** 32), r], 3 * (offsets[i] + r));
  });
  if (!first.obs) throw new TypeError('only exact masks are batched');
  const dY = first.obs.indices.length, S = first.steps;
  const contextKind = oneOf('context', shared.context ?? 'forward', ['fixed', 'forward'] as const);
  let context: Context;
  const paths: Float32Array[] = [];
  if (contextKind === 'forward') {
    // Each request's own path (its seed, its values), side by side in the batch's layout.
    const path = new Float32Array((S + 1) * runs * dY);
    for (let i = 0; i < members.length; i++) {
      const own = await forwardPath(per[i], sizes[i]);
      paths.push(own);
      for (let g = 0; g <= S; g++) path.set(own.subarray(g * sizes[i] * dY, (g + 1) * sizes[i] * dY), (g * runs + offsets[i]) * dY);
    }
    context = { kind: 'path', path };
  } else {
    if (shared.method === 'smc') throw new RangeError("context must be 'forward' for smc: the filter's weights assume the noising path (MATH.md §3), got 'fixed'");
    const values = new Float32Array(runs * dY);
    for (let i = 0; i < members.length; i++) for (let r = 0; r < sizes[i]; r++) values.set(per[i].obs!.values, (offsets[i] + r) * dY);
    context = { kind: 'fixed', values };
  }
  const filter = shared.method === 'smc';
  const particles = filter ? positiveInteger('particles', shared.particles) : 1;
  const scheme = filter ? oneOf('resampling', shared.resampling ?? 'systematic', RESAMPLING_SCHEMES) : 'systematic';
  const tau = filter ? finiteNumber('essThreshold', shared.essThreshold ?? 1) : 0;
  if (tau < 0 || tau > 1) throw rangeError('essThreshold', 'a number in [0, 1]', tau);
  const model = filter
    ? bootstrapModel(kernelSpec(first, context))
    : replacementModel({ ...kernelSpec(first, context), corrector: corrector((shared as { corrector?: CorrectorOptions }).corrector) });
  const result = await runFeynmanKac({
    backend: first.backend, model, score: first.score, schedule: first.schedule, grid: first.grid, dim: first.dim,
    runs, particles, runOffset: 0, runKeys, seed: 0, threads: first.threads, essThreshold: tau, scheme, signal: shared.signal, onStep,
  });
  const D = first.dim;
  const { ops, memory } = first.backend;
  let drawn: Float32Array;
  if (filter) {
    const chosen = new Int32Array(runs);
    const choice = ops.chooseByWeight({ runs, particles, dim: D, runOffset: 0, runKeys }, result.logWeights, { seed: 0, step: 0, purpose: ops.purposes.outputChoice }, chosen);
    if (choice.status !== 'ok') throw new RangeError(`run ${choice.index} ended with no positive weight`);
    drawn = new Float32Array(runs * D);
    await ops.gatherRowsAsync(result.particles, D, chosen.map((k, r) => r * particles + k), drawn, 1);
  } else {
    drawn = await memory.readF32(result.particles);
  }
  memory.free(result.particles);
  const seconds = (performance.now() - started) / 1000;
  return Promise.all(members.map(async (_, i) => {
    const K = sizes[i], o = offsets[i];
    const base: SampleResult = {
      samples: drawn.slice(o * D, (o + K) * D),
      shape: [K, D],
      method: model.name,
      seconds,
      threads: first.threads,
      backend: first.backend.name,
      warnings: problemWarnings(per[i]),
    };
    if (!filter) return base;
    const ess = new Float64Array(S * K), resampled = new Uint8Array(S * K);
    for (let g = 0; g < S; g++) {
      ess.set(result.ess.subarray(g * runs + o, g * runs + o + K), g * K);
      resampled.set(result.resampled.subarray(g * runs + o, g * runs + o + K), g * K);
    }
    const collapse = collapseWarning(ess, S, K, particles);
    // log p̂(y) as smc converts it for an exact mask (docs/MATH.md §9.1).
    const mask = normalizeLinearObservation({ indices: shared.indices, values: members[i].values }, D);
    const correction = await evidenceCorrection(first.schedule, result.grid, mask.svd!, 0, mask.rows, new Int32Array(mask.svd!.rank), paths[i], K, first.threads);
    const logEvidence = result.logEvidence.slice(o, o + K);
    const out: SmcResult = { ...base, logEvidence, logPy: logEvidence.map((z, r) => z + correction[r]), grid: result.grid, ess, resampled, contextPath: paths[i] };
    if (collapse) out.warnings.push(collapse);
    return out;
  }));
}
