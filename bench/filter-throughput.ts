// Particle-steps per second of the bootstrap filter (`smc`, every step
// resampled) with the built-in Gaussian-mixture score, against
//   (a) the pure-TypeScript filter of bench/ts-baseline.ts (target: >= 10x on 2 threads),
//   (b) the FMA peak of bench/fma-probe.cc: the mixture score alone at D = 64 should reach
//       >= 25% of it; FLOPs counted as 2 D^2 per component per particle (the matrix-vector
//       product C_j^{-1} (z - alpha m_j) with a precomputed inverse; the O(J D) rest is
//       not counted),
//   (c) itself on 1 thread: >= 1.8x from 1 to 2 threads at N = 10^5,
//   (d) the shape of the NumPy/PyTorch comparison (D = 8, 25 components, 256 particles,
//       batched runs), without a ratio: the peers themselves run in the same sitting in
//       bench/mixture-structure.ts (RESULTS.md §7); a figure measured on another machine is
//       no baseline.
// Shapes: (D = 8, J = 25), (D = 64, J = 10), (D = 200, J = 1), full covariances
// (bench/common.ts mixtureProblem), N = 10^3, 10^4, 10^5 particles in one run. Every
// measurement is a fresh process that warms up, picks the step count for about
// TARGET_SECONDS, and times one sampler call (its `seconds`: the whole call).
//
//   node -r ./tools/register-ts.js bench/filter-throughput.ts [--quick] [--dry-run]
import * as os from 'node:os';
import { GaussianMixture, schedules, smc } from '../lib/index';
import { TsBootstrapFilter } from './ts-baseline';
import { measureFmaPeak, FmaPeak } from './fma-probe';
import {
  TRIALS,
  answerTrial,
  machineLines,
  machineRecord,
  markdownTable,
  median,
  mixtureProblem,
  parseScriptArgs,
  progress,
  runTrial,
  seededUniform,
  sig,
  writeSection,
  Verdict,
  sharedFloat32,
} from './common';

const SHAPES: [number, number][] = [
  [8, 25],
  [64, 10],
  [200, 1],
];
const HORIZON = 5;
const TARGETS = { baseline: 10, peakFraction: 0.25, threads: 1.8 };
/** The NumPy / PyTorch (2 CPU threads) range for D = 8, J = 25, 256 particles. */
/** Batched runs of 256 particles for the NumPy comparison: 100 x 256 = 25,600 rows per step. */
const NUMPY_SHAPE = { dim: 8, components: 25, particles: 256, runs: 100 };

/** A filter measurement: one sampler call of `particles` x `runs` rows, about `seconds` long. */
interface FilterSpec {
  dim: number;
  components: number;
  particles: number;
  runs: number;
  threads: number;
  seconds: number;
}

/** A score measurement: GaussianMixture.scoreInto on `rows` rows, repeated for about `seconds`. */
interface ScoreSpec {
  dim: number;
  components: number;
  rows: number;
  threads: number;
  seconds: number;
}

type TrialSpec = (FilterSpec & { kind: 'native' }) | (FilterSpec & { kind: 'ts' }) | (ScoreSpec & { kind: 'score' });

interface FilterTrial {
  steps: number;
  seconds: number;
  particleStepsPerSecond: number;
}

interface ScoreTrial {
  calls: number;
  secondsPerCall: number;
  gflops: number;
}

function stepsFor(secondsPerStep: number, target: number, min: number): number {
  return Math.max(min, Math.min(5000, Math.round(target / secondsPerStep)));
}

async function nativeTrial(spec: FilterSpec): Promise<FilterTrial> {
  const problem = mixtureProblem(spec.dim, spec.components);
  const model = GaussianMixture.fromJSON(problem.model);
  const run = (steps: number) =>
    smc({ score: model, schedule: schedules.ou({ T: HORIZON }), steps, observed: problem.observed, particles: spec.particles, samples: spec.runs, threads: spec.threads, seed: 1 });
  const warm = await run(3);
  const steps = stepsFor(warm.seconds / 3, spec.seconds, 3);
  const timed = await run(steps);
  return { steps, seconds: timed.seconds, particleStepsPerSecond: (spec.particles * spec.runs * steps) / timed.seconds };
}

function tsTrial(spec: FilterSpec): FilterTrial {
  const problem = mixtureProblem(spec.dim, spec.components);
  const filter = (particles: number, steps: number) =>
    new TsBootstrapFilter({ model: problem.model, observed: problem.observed, horizon: HORIZON, steps, particles, runs: spec.runs, seed: 1 });
  // Warm up the JIT on a small run; at N = 10^5 one step of the baseline takes seconds.
  const warmParticles = Math.min(spec.particles, 1000);
  const warm = filter(warmParticles, 3).run();
  const perStep = (warm.seconds / 3) * (spec.particles / warmParticles);
  const steps = stepsFor(perStep, spec.seconds, 1);
  const timed = filter(spec.particles, steps).run();
  return { steps, seconds: timed.seconds, particleStepsPerSecond: (spec.particles * spec.runs * steps) / timed.seconds };
}

/** The mixture score alone (the native fast path the sampler calls), rows x D at t = 1. */
async function scoreTrial(spec: ScoreSpec): Promise<ScoreTrial> {
  const problem = mixtureProblem(spec.dim, spec.components);
  const model = GaussianMixture.fromJSON(problem.model);
  const uniform = seededUniform(7);
  // On a SharedArrayBuffer: used in place, as the sampler's own arrays are (no copies timed).
  const z = sharedFloat32(spec.rows * spec.dim);
  for (let k = 0; k < z.length; k++) z[k] = 4 * uniform() - 2;
  const out = sharedFloat32(z.length);
  const t = 1;
  const context = { t, alpha: Math.exp(-t), sigma: Math.sqrt(1 - Math.exp(-2 * t)), rows: spec.rows, dim: spec.dim };
  const call = async () => {
    const t0 = process.hrtime.bigint();
    await model.scoreInto(z, context, out, spec.threads);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  const warm = await call();
  const calls = Math.max(3, Math.round(spec.seconds / warm));
  const times: number[] = [];
  for (let c = 0; c < calls; c++) times.push(await call());
  const secondsPerCall = median(times);
  const flops = spec.rows * spec.components * 2 * spec.dim * spec.dim;
  return { calls, secondsPerCall, gflops: flops / secondsPerCall / 1e9 };
}

async function trial(spec: TrialSpec): Promise<object> {
  if (spec.kind === 'native') return nativeTrial(spec);
  if (spec.kind === 'ts') return tsTrial(spec);
  return scoreTrial(spec);
}

async function trials<T>(spec: TrialSpec, label: string): Promise<T[]> {
  const out: T[] = [];
  for (let t = 0; t < TRIALS; t++) {
    progress(`${label}: trial ${t + 1}/${TRIALS}`);
    out.push((await runTrial<T>(__filename, spec)).result);
  }
  return out;
}

const rate = (x: number) => {
  if (x >= 1e6) return `${sig(3)(x / 1e6)}M`;
  if (x >= 1e3) return `${sig(3)(x / 1e3)}k`;
  return sig(3)(x);
};
const times = (x: number) => `${x >= 10 ? x.toFixed(0) : x.toFixed(1)}×`;

async function main(): Promise<void> {
  const args = parseScriptArgs();
  if (args.trial !== undefined) return answerTrial(() => trial(args.trial as TrialSpec));
  const machine = machineRecord();
  const seconds = args.quick ? 0.5 : 1;
  const sizes = args.quick ? [1e3, 1e4] : [1e3, 1e4, 1e5];
  const threadCounts = [1, 2];

  // (a), (c): every shape and size, native on 1 and 2 threads and the TypeScript baseline.
  const grid: { dim: number; components: number; particles: number; native: Record<number, FilterTrial[]>; ts: FilterTrial[] }[] = [];
  for (const [dim, components] of SHAPES) {
    for (const particles of sizes) {
      const native: Record<number, FilterTrial[]> = {};
      for (const threads of threadCounts) {
        native[threads] = await trials<FilterTrial>({ kind: 'native', dim, components, particles, runs: 1, threads, seconds }, `D=${dim} J=${components} N=${particles} native ${threads}t`);
      }
      const ts = await trials<FilterTrial>({ kind: 'ts', dim, components, particles, runs: 1, threads: 1, seconds }, `D=${dim} J=${components} N=${particles} TypeScript`);
      grid.push({ dim, components, particles, native, ts });
    }
  }
  // (d): the NumPy / PyTorch shape.
  const numpy: Record<string, FilterTrial[]> = {};
  for (const threads of threadCounts) {
    numpy[`native${threads}`] = await trials<FilterTrial>({ kind: 'native', ...NUMPY_SHAPE, threads, seconds }, `NumPy shape native ${threads}t`);
  }
  numpy.ts = await trials<FilterTrial>({ kind: 'ts', ...NUMPY_SHAPE, threads: 1, seconds }, 'NumPy shape TypeScript');
  // (b): the score alone at D = 64 against the FMA peak.
  const scoreRows = args.quick ? [1e4] : [1e4, 1e5];
  const score: { rows: number; threads: number; trials: ScoreTrial[] }[] = [];
  for (const rows of scoreRows) {
    for (const threads of threadCounts) {
      score.push({ rows, threads, trials: await trials<ScoreTrial>({ kind: 'score', dim: 64, components: 10, rows, threads, seconds }, `score D=64 rows=${rows} ${threads}t`) });
    }
  }
  progress('');
  const peak: FmaPeak = await measureFmaPeak(threadCounts, { seconds: args.quick ? 0.2 : 0.5 });

  // Tables and verdicts.
  const verdicts: Verdict[] = [];
  const psps = (ts: FilterTrial[]) => median(ts.map((t) => t.particleStepsPerSecond));
  const throughputRows = grid.map((g) => {
    const one = psps(g.native[1]), two = psps(g.native[2]), base = psps(g.ts);
    return [`D=${g.dim}, J=${g.components}`, g.particles.toExponential(0), rate(one), rate(two), rate(base), `**${times(two / base)}**`, `${(two / one).toFixed(2)}×`, `${median(g.native[2].map((t) => t.steps))} / ${median(g.ts.map((t) => t.steps))}`];
  });
  for (const [dim, components] of SHAPES) {
    const mine = grid.filter((g) => g.dim === dim && g.components === components);
    const ratios = mine.map((g) => psps(g.native[2]) / psps(g.ts));
    verdicts.push({
      target: `≥ ${TARGETS.baseline}× the TypeScript baseline on 2 threads, D=${dim}, J=${components}`,
      measured: mine.map((g, i) => `N=${g.particles.toExponential(0)}: ${times(ratios[i])}`).join(', '),
      met: Math.min(...ratios) >= TARGETS.baseline,
    });
  }
  const largest = Math.max(...sizes);
  for (const g of grid.filter((x) => x.particles === largest)) {
    const speedup = psps(g.native[2]) / psps(g.native[1]);
    verdicts.push({
      target: `≥ ${TARGETS.threads}× from 1 to 2 threads at N=${largest.toExponential(0)}, D=${g.dim}, J=${g.components}`,
      measured: `${speedup.toFixed(2)}×`,
      met: speedup >= TARGETS.threads,
    });
  }
  const scoreTable = score.map((s) => {
    const g = median(s.trials.map((t) => t.gflops));
    const fraction = g / peak.gflops[s.threads];
    return { ...s, gflops: g, fraction, row: [s.rows.toExponential(0), s.threads, `${sig(3)(median(s.trials.map((t) => t.secondsPerCall)) * 1e3)} ms`, sig(3)(g), `${sig(4)(peak.gflops[s.threads])} (${peak.best})`, `**${(fraction * 100).toFixed(1)}%**`] };
  });
  const worstScore = scoreTable.reduce((a, b) => (a.fraction <= b.fraction ? a : b));
  verdicts.push({
    target: `mixture score at D=64 (J=10) ≥ ${TARGETS.peakFraction * 100}% of the FMA peak`,
    measured: scoreTable.map((s) => `${s.rows.toExponential(0)} rows, ${s.threads}t: ${(s.fraction * 100).toFixed(1)}%`).join(', '),
    met: worstScore.fraction >= TARGETS.peakFraction,
  });
  const numpyTwo = psps(numpy.native2);

  const markdown = `## 2. The whole filter: particle-steps per second

${machineLines(machine, os.loadavg())}
- \`smc\` with \`GaussianMixture\` (full covariances, \`mixtureProblem\` in bench/common.ts:
  means ~ N(0, 4 I), covariances B Bᵀ/D + 0.5 I, the first D/4 coordinates observed), OU
  schedule T = ${HORIZON}, Euler kernel, systematic resampling at every step, one run of N
  particles. Particle-steps/s = N × steps / the sampler call's \`seconds\`. Steps are picked per
  trial for about ${seconds} s (after a warm-up run); each cell is the median of ${TRIALS} fresh
  processes. The TypeScript baseline (bench/ts-baseline.ts) is single-threaded JavaScript.

${markdownTable(['shape', 'N', 'native 1 thread', 'native 2 threads', 'TypeScript', '2 threads ÷ TS', '2 ÷ 1 threads', 'steps (native 2t / TS)'], throughputRows)}

### The NumPy / PyTorch shape

D = 8, J = 25, ${NUMPY_SHAPE.particles} particles × ${NUMPY_SHAPE.runs} batched runs (${NUMPY_SHAPE.particles * NUMPY_SHAPE.runs} rows per score call). NumPy and
PyTorch run this shape in the same sitting as condiff in §7 (bench/mixture-structure.ts); no
ratio is taken here to figures measured elsewhere.

${markdownTable(['native 1 thread', 'native 2 threads', 'TypeScript'], [[rate(psps(numpy.native1)), rate(numpyTwo), rate(psps(numpy.ts))]])}

### The mixture score against the FMA peak, D = 64, J = 10

FLOPs per call = rows × J × 2 D² (the matrix-vector product with the precomputed inverse
covariance; the O(J D) differences, quadratic forms, exponentials and the weighted sum are
not counted, so the true rate is a little higher). \`GaussianMixture.scoreInto\` at t = 1,
median call time; peak from bench/fma-probe.cc (${peak.best}) on the same thread count.

${markdownTable(['rows', 'threads', 'time per call', 'GFLOP/s', 'FMA peak GFLOP/s', 'fraction of peak'], scoreTable.map((s) => s.row))}
`;
  writeSection({ name: 'filter-throughput', title: 'Filter throughput', machine, verdicts, data: { grid, numpy, score, peak } }, markdown, args);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
