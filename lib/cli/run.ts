// One sampler run as the sample and demo commands make it: the settings a command line
// chooses, the call to replacement or smc with a progress bar, and the filter's summary
// figures (mean log-evidence, smallest ESS, resampling count).
import { GaussianMixture } from '../mixture';
import { Schedule, KernelName } from '../schedules';
import { replacement, smc, CorrectorOptions, ContextKind, SampleResult, SmcResult } from '../samplers';
import { tds, TwistGradient, TdsOptions } from '../tds';
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
  /** Default 'auto'. */
  backend?: BackendName;
}

export interface RunOutcome {
  result: SampleResult;
  meanLogEvidence: number | null;
  minEss: number | null;
  resamplingCount: number | null;
}

export const TDS_GRADIENTS = ['auto', 'exact', 'vjp', 'finite-difference', 'identity', 'none'] as const;

export async function runMethod(model: GaussianMixture, observed: ObservationInput, s: SamplerSettings, io: CliIO, label: string): Promise<RunOutcome> {
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
  };
  try {
    if (s.method === 'smc' || s.method === 'tds') {
      const weighted = { ...common, particles: s.particles, resampling: s.resampling, essThreshold: s.essThreshold };
      const r: Omit<SmcResult, 'contextPath'> = s.method === 'smc'
        ? await userInputAsync('', () => smc(weighted))
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
function warn(io: CliIO, label: string, warnings: string[]): void {
  for (const w of warnings) io.stderr.write(`warning: ${label}: ${w}\n`);
}
