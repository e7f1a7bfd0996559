// `condiff sample`: draws from p(x | y) for a Gaussian mixture given in a JSON file and an
// observation (a mask, or y = A x + noise: docs/MATH.md §8) in another, by one method (MATH.md §3, §9.1), and writes the draws as
// a float32 .npy file (for smc, optionally the log-evidence and ESS as float64 .npy files)
// with a one-line JSON summary on stdout (on stderr when the .npy goes to stdout, `--out -`).
import { schedules } from '../schedules';
import { RESAMPLING_SCHEMES } from '../driver';
import { encodeNpy } from '../npy';
import type { SmcResult } from '../samplers';
import { defaultThreads } from '../threads';
import { CliIO } from './io';
import { UsageError } from './errors';
import {
  FlagKind,
  METHODS,
  METHOD_ONLY_FLAGS,
  WEIGHTED_METHODS,
  methodsText,
  CHAIN_METHODS,
  CHAIN_ONLY_FLAGS,
  SCHEDULES,
  KERNELS,
  CONTEXTS,
  parseFlags,
  requiredFlag,
  stringFlag,
  integerFlag,
  numberFlag,
  choiceFlag,
  backendFlag,
} from './flags';
import { loadSampleModel, loadObservation } from './files';
import { ConditionalGaussianMixture } from '../conditional-mixture';
import { queueJob, runOnQueue } from './queue';
import { prepareOutput } from './output';
import { runMethod, SamplerSettings, TDS_GRADIENTS } from './run';
import { SAMPLE_USAGE } from './usage';

const SAMPLE_FLAGS: Record<string, FlagKind> = {
  model: 'value',
  observe: 'value',
  method: 'value',
  out: 'value',
  'out-evidence': 'value',
  'out-ess': 'value',
  context: 'value',
  schedule: 'value',
  horizon: 'value',
  steps: 'value',
  kernel: 'value',
  particles: 'value',
  samples: 'value',
  'langevin-steps': 'value',
  'langevin-gamma': 'value',
  jumps: 'value',
  resampling: 'value',
  'ess-threshold': 'value',
  'twist-tau2': 'value',
  gradient: 'value',
  kappa: 'value',
  'final-weight': 'value',
  seed: 'value',
  threads: 'value',
  backend: 'value',
  sweeps: 'value',
  'burn-in': 'value',
  thin: 'value',
  refresh: 'value',
  'pcn-beta': 'value',
  class: 'value',
  guidance: 'value',
  'guidance-scale': 'value',
  'guidance-rescale': 'value',
  'guidance-weighted': 'switch',
  redis: 'value',
  queue: 'value',
  'chunk-runs': 'value',
  attempts: 'value',
  help: 'switch',
};

export async function sampleCommand(args: readonly string[], io: CliIO): Promise<number> {
  const flags = parseFlags(args, SAMPLE_FLAGS, 'sample');
  if (flags.has('help')) {
    io.stdout.write(SAMPLE_USAGE + '\n');
    return 0;
  }
  const modelFile = requiredFlag(flags, 'model', 'the mixture JSON file');
  const observeFile = requiredFlag(flags, 'observe', 'the observation JSON file');
  requiredFlag(flags, 'method', METHODS.join(' | '));
  const method = choiceFlag(flags, 'method', METHODS, 'replacement');
  const out = requiredFlag(flags, 'out', 'the .npy file to write');

  // Options that mean nothing for this method are mistakes, not silently ignored.
  const chain = CHAIN_METHODS.includes(method);
  for (const [flag, m] of Object.entries(METHOD_ONLY_FLAGS)) {
    if (flag === 'particles' && chain) continue;
    if (flags.has(flag) && !m.includes(method)) throw new UsageError(`--${flag} applies only to ${methodsText(flag === 'particles' ? [...m, ...CHAIN_METHODS] : m)}, not ${method}`);
  }
  for (const [flag, ms] of Object.entries(CHAIN_ONLY_FLAGS)) {
    if (flags.has(flag) && !ms.includes(method)) throw new UsageError(`--${flag} applies only to --method ${ms.join(', ')}, not ${method}`);
  }
  const context = choiceFlag(flags, 'context', CONTEXTS, 'forward');
  if ((method === 'smc' || chain) && context === 'fixed') {
    throw new UsageError(`--context fixed cannot be used with --method ${method}: the particle filter's weights assume the forward (noising) path of the observed coordinates`);
  }
  if ((method === 'tds' || method === 'mcgdiff' || method === 'fps') && flags.has('context')) {
    throw new UsageError(`--context applies to replacement, langevin, repaint and smc, not ${method}: ${method === 'tds' ? 'the twisted filter' : method} has no context path`);
  }
  const scheduleName = choiceFlag(flags, 'schedule', SCHEDULES, 'ou');
  const horizon = numberFlag(flags, 'horizon', scheduleName === 'ou' ? 5 : 1, { positive: true });
  const schedule = scheduleName === 'ou' ? schedules.ou({ T: horizon }) : schedules.vp({ T: horizon });
  const settings: SamplerSettings = {
    method,
    context,
    schedule,
    steps: integerFlag(flags, 'steps', 200, 1, 1_000_000),
    kernel: choiceFlag(flags, 'kernel', KERNELS, schedule.defaultKernel),
    samples: integerFlag(flags, 'samples', 1000, 1, 2 ** 31 - 1),
    seed: integerFlag(flags, 'seed', 0, 0),
    threads: integerFlag(flags, 'threads', defaultThreads(), 1, 1024),
    particles: integerFlag(flags, 'particles', 256, 1, 2 ** 31 - 1),
    resampling: choiceFlag(flags, 'resampling', RESAMPLING_SCHEMES, 'systematic'),
    essThreshold: numberFlag(flags, 'ess-threshold', 1, { min: 0, max: 1 }),
    backend: backendFlag(flags),
  };
  if (method === 'mcgdiff') {
    settings.kappa = numberFlag(flags, 'kappa', 1e-4, { positive: true });
    const fw = flags.has('final-weight') ? choiceFlag(flags, 'final-weight', ['on', 'off'] as const, 'on') : undefined;
    settings.finalWeight = fw === undefined ? undefined : fw === 'on';
  }
  if (method === 'tds') {
    settings.twistTau2 = numberFlag(flags, 'twist-tau2', 1, { positive: true });
    settings.gradient = choiceFlag(flags, 'gradient', TDS_GRADIENTS, 'auto');
  }
  if (chain) {
    const sweeps = integerFlag(flags, 'sweeps', 100, 1, 65535);
    const burnIn = integerFlag(flags, 'burn-in', Math.min(10, sweeps - 1), 0);
    if (burnIn >= sweeps) throw new UsageError(`--burn-in must be below --sweeps (${sweeps}), got ${burnIn}`);
    const thin = integerFlag(flags, 'thin', 1, 1);
    if (thin > sweeps - burnIn) throw new UsageError(`--thin must be at most --sweeps minus --burn-in (${sweeps - burnIn}), so that one draw is kept, got ${thin}`);
    settings.chain = {
      sweeps, burnIn, thin,
      refresh: choiceFlag(flags, 'refresh', ['mh', 'forward'] as const, 'mh'),
      pcnBeta: numberFlag(flags, 'pcn-beta', 0, { min: 0, max: 1 }),
    };
    if (settings.chain.pcnBeta === 1) throw new UsageError('--pcn-beta must be a number in [0, 1), got 1');
  }
  if ((WEIGHTED_METHODS.includes(method) || chain) && settings.particles * settings.samples > 2 ** 31 - 1) {
    throw new UsageError(`--particles times --samples must be at most 2^31 - 1, got ${settings.particles} x ${settings.samples}`);
  }
  if (method === 'langevin') {
    settings.corrector = {
      kind: 'langevin',
      steps: integerFlag(flags, 'langevin-steps', 5, 1, 65536),
      gamma: numberFlag(flags, 'langevin-gamma', 0.1, { positive: true }),
    };
  } else if (method === 'repaint') {
    settings.corrector = { kind: 'repaint', jumps: integerFlag(flags, 'jumps', 5, 1, 10000) };
  }

  const { model, spec } = loadSampleModel(modelFile);
  const observed = loadObservation(observeFile, model.dim);
  guidanceFlags(flags, method, chain, model, settings);
  const output = prepareOutput(out, io, { flag: '--out', what: 'the .npy file', stdout: true });
  // The filters' per-run figures, float64 as computed (weighted methods only: METHOD_ONLY_FLAGS).
  const extras = (['out-evidence', 'out-ess'] as const).flatMap((flag) => {
    const file = stringFlag(flags, flag);
    return file === undefined ? [] : [{ flag, output: prepareOutput(file, io, { flag: `--${flag}`, what: 'the .npy file', stdout: false }) }];
  });
  const names = [output.name, ...extras.map((e) => e.output.name)];
  const repeated = names.find((p, i) => names.indexOf(p) !== i);
  if (repeated !== undefined) throw new UsageError(`--out, --out-evidence and --out-ess must name different files, got ${JSON.stringify(repeated)} twice`);

  // A queue job carries a plain mixture and no class or guidance (README "Scale-out"): refuse
  // rather than run the unconditional model on the workers.
  if (flags.has('redis') && (model instanceof ConditionalGaussianMixture || settings.condition !== undefined || settings.guidance !== undefined)) {
    throw new UsageError('--redis runs plain mixtures: a class-conditional model, --class and --guidance run locally only');
  }
  const queued = queueJob(flags, settings, spec, observed, scheduleName === 'ou' ? { name: 'ou', horizon } : { name: 'vp', horizon });
  const run = queued ? await runOnQueue(queued, io, method) : await runMethod(model, observed, settings, io, method);
  const [rows, dim] = run.result.shape;
  await output.write(encodeNpy(run.result.samples, [rows, dim]), io.signal);
  const filter = run.result as SmcResult;
  for (const e of extras) {
    const bytes = e.flag === 'out-evidence' ? encodeNpy(filter.logEvidence, [rows]) : encodeNpy(filter.ess, [filter.ess.length / rows, rows]);
    await e.output.write(bytes, io.signal);
  }
  const summary = {
    method,
    samples: rows,
    dim,
    seconds: Math.round(run.result.seconds * 1000) / 1000,
    meanLogEvidence: run.meanLogEvidence,
    minEss: run.minEss,
    resamplingCount: run.resamplingCount,
    backend: run.result.backend,
    warnings: run.result.warnings,
    ...(run.chain ?? {}),
    ...(run.queue ? { queue: run.queue } : {}),
    out: output.name,
    ...Object.fromEntries(extras.map((e) => [e.flag === 'out-evidence' ? 'outEvidence' : 'outEss', e.output.name])),
  };
  (output.kind === 'stdout' ? io.stderr : io.stdout).write(JSON.stringify(summary) + '\n');
  return 0;
}

/** --class, --guidance, --guidance-scale, --guidance-rescale, --guidance-weighted (docs/MATH.md §12) into the settings. */
function guidanceFlags(flags: ReturnType<typeof parseFlags>, method: string, chain: boolean, model: unknown, settings: SamplerSettings): void {
  const given = ['class', 'guidance', 'guidance-scale', 'guidance-rescale', 'guidance-weighted'].filter((f) => flags.has(f));
  if (given.length === 0) return;
  if (chain) throw new UsageError(`--${given[0]} applies to replacement, langevin, repaint, smc and tds, not ${method}`);
  if (!(model instanceof ConditionalGaussianMixture)) {
    throw new UsageError(`--${given[0]} needs a class-conditional model: a model file with "classes" (the class of each component)`);
  }
  if (!flags.has('class')) throw new UsageError('--guidance needs --class: the class to generate');
  settings.condition = integerFlag(flags, 'class', 0, 0, model.classCount - 1);
  if (!flags.has('guidance')) {
    for (const f of ['guidance-scale', 'guidance-rescale', 'guidance-weighted']) if (flags.has(f)) throw new UsageError(`--${f} needs --guidance cfg or classifier`);
    return;
  }
  const kind = choiceFlag(flags, 'guidance', ['cfg', 'classifier'] as const, 'cfg');
  const scale = numberFlag(flags, 'guidance-scale', 1, {});
  if (kind === 'classifier') {
    for (const f of ['guidance-rescale', 'guidance-weighted']) if (flags.has(f)) throw new UsageError(`--${f} applies to --guidance cfg, not classifier`);
    // The model's exact noisy classifier, ∇ log p_t(c | x) = s_c − s_∅.
    settings.guidance = { kind, scale, classifierGradient: model.classifierGradient.bind(model) };
    return;
  }
  const weighted = flags.has('guidance-weighted');
  if (weighted && method !== 'smc' && method !== 'tds') throw new UsageError(`--guidance-weighted applies only to --method smc or tds, not ${method}`);
  settings.guidance = { kind, scale, rescale: numberFlag(flags, 'guidance-rescale', 0, { min: 0, max: 1 }), weighted };
}
