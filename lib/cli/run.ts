// One sampler run as the sample and demo commands make it: the settings a command line
// chooses, the call to replacement or smc with a progress bar, and the filter's summary
// figures (mean log-evidence, smallest ESS, resampling count).
import { GaussianMixture } from '../mixture';
import { ConditionalGaussianMixture } from '../conditional-mixture';
import type { GuidanceOptions } from '../guidance';
import { Schedule, KernelName } from '../schedules';
import { replacement, smc, CorrectorOptions, ContextKind, SampleResult, SmcResult } from '../samplers';
import { tds, TwistGradient, TdsOptions } from '../tds';
import { mcgdiff } from '../mcgdiff';
import { fps } from '../fps';
import { particleGibbs, pmmh, ChainResult } from '../chains';
import { ResamplingScheme } from '../driver';
import { ObservationInput } from '../observation';
import type { BackendName } from '../backend';
import { CliIO, Progress } from './io';
import { userInputAsync } from './errors';
import type { Method } from './flags';

export interface SamplerSettings {
  method: Method;
  context: ContextKind;
  schedule: Schedule;
  steps: number;
  kernel: KernelName;
  samples: number;
  seed: number;
  threads: number;
  particles: number;
  resampling: ResamplingScheme;
  essThreshold: number;
  corrector?: CorrectorOptions;
  /** tds: the twist's τ² and the gradient source. */
  twistTau2?: number;
  gradient?: 'auto' | TwistGradient;
  /** mcgdiff: κ and w₀ (undefined: the default, on when noiseStd > 0). */
  kappa?: number;
  finalWeight?: boolean;
  /** Default 'auto'. */
  backend?: BackendName;
  /** The class to generate and the guidance (docs/MATH.md §12). */
  condition?: number;
  guidance?: GuidanceOptions;
  /** The chain methods' settings (particle-gibbs, pmmh). */
  chain?: { sweeps: number; burnIn: number; thin: number; refresh: 'mh' | 'forward'; pcnBeta: number };
}

export interface RunOutcome {
  result: SampleResult;
  meanLogEvidence: number | null;
  minEss: number | null;
  resamplingCount: number | null;
  /** The chain methods' diagnostics for the JSON summary (NaN written as null). */
  chain?: Record<string, unknown>;
  /** A run on a queue (--redis): its chunks and the workers' time in all. */
  queue?: { chunks: number; workerSeconds: number };
}

/** A number for JSON: NaN and ±Infinity become null. */
const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

function chainSummary(r: ChainResult, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    chains: r.chainsShape[0],
    sweeps: r.sweeps,
    burnIn: r.burnIn,
    thin: r.thin,
    moveRate: r.moveRate,
    ...extra,
    coordinates: Array.from(r.coordinates),
    iat: Array.from(r.iat, finite),
    ess: Array.from(r.ess, finite),
  };
}

export const TDS_GRADIENTS = ['auto', 'exact', 'vjp', 'finite-difference', 'identity', 'none'] as const;

export async function runMethod(model: GaussianMixture | ConditionalGaussianMixture, observed: ObservationInput, s: SamplerSettings, io: CliIO, label: string): Promise<RunOutcome> {
  const progress = new Progress(io, label);
  const common = {
    score: model,
    schedule: s.schedule,
    steps: s.steps,
    observed,
    kernel: s.kernel,
    seed: s.seed,
    threads: s.threads,
    samples: s.samples,
    backend: s.backend,
    signal: io.signal,
    onStep: progress.onStep,
    ...(s.condition !== undefined ? { condition: s.condition } : {}),
    ...(s.guidance !== undefined ? { guidance: s.guidance } : {}),
  };
  try {
    if (s.method === 'particle-gibbs' || s.method === 'pmmh') {
      progress.clear();
      const bar = new Progress(io, label, 'sweeps');
      const c = s.chain!;
      const { onStep: _onStep, ...rest } = common;
      const chainCommon = { ...rest, particles: s.particles, sweeps: c.sweeps, burnIn: c.burnIn, thin: c.thin, onSweep: (i: { sweep: number; sweeps: number }) => bar.onStep({ step: i.sweep, steps: i.sweeps, t: 0 }) };
      try {
        if (s.method === 'pmmh') {
          const r = await userInputAsync('', () => pmmh({ ...chainCommon, pcnBeta: c.pcnBeta }));
          warn(io, label, r.warnings);
          return { result: r, meanLogEvidence: null, minEss: null, resamplingCount: null, chain: chainSummary(r, { pcnBeta: r.pcnBeta, acceptanceRate: r.acceptanceRate }) };
        }
        const r = await userInputAsync('', () => particleGibbs({ ...chainCommon, refresh: c.refresh }));
        warn(io, label, r.warnings);
        return { result: r, meanLogEvidence: null, minEss: null, resamplingCount: null, chain: chainSummary(r, { refresh: r.refresh, refreshAcceptance: finite(r.refreshAcceptance) }) };
      } finally {
        bar.clear();
      }
    }
    if (s.method === 'smc' || s.method === 'mcgdiff' || s.method === 'fps' || s.method === 'tds') {
      const weighted = { ...common, particles: s.particles, resampling: s.resampling, essThreshold: s.essThreshold };
      const r: Omit<SmcResult, 'contextPath'> = s.method === 'smc'
        ? await userInputAsync('', () => smc(weighted))
        : s.method === 'mcgdiff'
          ? await userInputAsync('', () => mcgdiff({ ...weighted, kappa: s.kappa, finalWeight: s.finalWeight }))
          : s.method === 'fps'
            ? await userInputAsync('', () => fps(weighted))
            : await userInputAsync('', () => tds({ ...weighted, observed: observed as TdsOptions['observed'], twistTau2: s.twistTau2, gradient: s.gradient }));
      let minEss = Infinity;
      for (const e of r.ess) if (e < minEss) minEss = e; // NaN never compares below
      let count = 0;
      for (const f of r.resampled) count += f;
      const meanLogEvidence = r.logEvidence.reduce((a, b) => a + b, 0) / r.logEvidence.length;
      warn(io, label, r.warnings);
      return { result: r, meanLogEvidence, minEss: Number.isFinite(minEss) ? minEss : null, resamplingCount: count };
    }
    const r = await userInputAsync('', () => replacement({ ...common, context: s.context, corrector: s.corrector }));
    warn(io, label, r.warnings);
    return { result: r, meanLogEvidence: null, minEss: null, resamplingCount: null };
  } finally {
    progress.clear();
  }
}

/** The result's diagnostics (lib/diagnostics.ts) on stderr, one `warning:` line each. */
export function warn(io: CliIO, label: string, warnings: string[]): void {
  for (const w of warnings) io.stderr.write(`warning: ${label}: ${w}\n`);
}
