// Resampling N float64 log-weights (each scheme of MATH.md §5) and then
// gathering N rows of D = 64 float32 by the ancestors, into preallocated outputs on one
// thread, against copying the same bytes in the same process: TypedArray.prototype.set of
// the rows plus one read pass over the weights, N·(8 + 2·4·D) bytes. Target: at most 1.5x
// the copy time, at N = 10^4, 10^6 and 10^7.
//
//   node -r ./tools/register-ts.js bench/resample-gather.ts [--quick] [--dry-run]
import * as os from 'node:os';
import { resample, gatherRows, gatherRowsInPlace, ResamplingScheme } from '../lib/index';
import { RESAMPLING_SCHEMES } from '../lib/driver';
import {
  TRIALS,
  answerTrial,
  machineLines,
  machineRecord,
  markdownTable,
  median,
  parseScriptArgs,
  progress,
  runTrial,
  seededUniform,
  sig,
  writeSection,
  Verdict,
} from './common';

const DIM = 64;
const TARGET_RATIO = 1.5;
/** Each timed quantity is repeated until about this much time is spent on it (seconds). */
const BUDGET_SECONDS = 0.3;

interface TrialSpec {
  n: number;
}

interface TrialResult {
  n: number;
  reps: number;
  /** Median over the repetitions, seconds. */
  copy: number;
  schemes: Record<ResamplingScheme, number>;
  /** Median seconds of resample + gatherRowsInPlace (survivors stay in place). */
  inPlace: Record<ResamplingScheme, number>;
  /** Per scheme, the fraction of rows the in-place gather copied (the particles that died). */
  copiedFraction: Record<ResamplingScheme, number>;
  /** The gather alone, by systematic ancestors: what the resampling itself adds is the rest. */
  gather: number;
}

/** The copy baseline's pass over the weights: reads every log-weight once. */
function maxOf(values: Float64Array): number {
  let m = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i] > m) m = values[i];
  return m;
}

function seconds(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function trial({ n }: TrialSpec): TrialResult {
  const uniform = seededUniform(n);
  const logWeights = new Float64Array(n);
  for (let i = 0; i < n; i++) logWeights[i] = Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  const rows = new Float32Array(n * DIM);
  for (let i = 0; i < rows.length; i++) rows[i] = i % 1021;
  // Outputs allocated and touched once, before any timing: page faults are not the subject.
  const ancestors = new Int32Array(n).fill(0);
  const out = new Float32Array(n * DIM).fill(0);
  let sink = 0;
  const copy = () => {
    out.set(rows);
    sink += maxOf(logWeights);
  };
  let counter = 0;
  const resampleGather = (scheme: ResamplingScheme) => () => {
    resample(logWeights, scheme, { seed: 1, counter: counter++ }, ancestors, { threads: 1 });
    gatherRows(rows, DIM, ancestors, out, { threads: 1 });
  };
  // Survivors stay in place: only the rows of particles that died are copied, inside the
  // population itself (`inPlaceRows`, the state a sampler would resample).
  const inPlaceRows = rows.slice();
  const order = new Int32Array(n).fill(0);
  const copied = Object.fromEntries(RESAMPLING_SCHEMES.map((s) => [s, 0])) as Record<ResamplingScheme, number>;
  const resampleInPlace = (scheme: ResamplingScheme) => () => {
    resample(logWeights, scheme, { seed: 1, counter: counter++ }, ancestors, { threads: 1 });
    gatherRowsInPlace(inPlaceRows, DIM, ancestors, { order, threads: 1 });
  };
  const systematicAncestors = new Int32Array(n);
  resample(logWeights, 'systematic', { seed: 2, counter: 0 }, systematicAncestors, { threads: 1 });
  const gather = () => {
    gatherRows(rows, DIM, systematicAncestors, out, { threads: 1 });
  };
  // Warm up every path once, then size the repetitions from the copy time.
  const warmCopy = seconds(copy);
  seconds(gather);
  for (const s of RESAMPLING_SCHEMES) seconds(resampleGather(s));
  for (const s of RESAMPLING_SCHEMES) {
    seconds(resampleInPlace(s));
    let moved = 0;
    for (let i = 0; i < n; i++) if (order[i] !== i) moved++;
    copied[s] = moved / n;
  }
  const reps = Math.max(3, Math.min(1000, Math.ceil(BUDGET_SECONDS / Math.max(warmCopy, 1e-6))));
  const times = {
    copy: [] as number[],
    gather: [] as number[],
    schemes: Object.fromEntries(RESAMPLING_SCHEMES.map((s) => [s, [] as number[]])),
    inPlace: Object.fromEntries(RESAMPLING_SCHEMES.map((s) => [s, [] as number[]])),
  };
  // Interleaved, so a slow moment of the machine hits the baseline and the subject alike.
  for (let r = 0; r < reps; r++) {
    times.copy.push(seconds(copy));
    times.gather.push(seconds(gather));
    for (const s of RESAMPLING_SCHEMES) times.schemes[s].push(seconds(resampleGather(s)));
    for (const s of RESAMPLING_SCHEMES) times.inPlace[s].push(seconds(resampleInPlace(s)));
  }
  if (!Number.isFinite(sink)) throw new Error('unreachable: the weights are finite');
  return {
    n,
    reps,
    copy: median(times.copy),
    gather: median(times.gather),
    schemes: Object.fromEntries(RESAMPLING_SCHEMES.map((s) => [s, median(times.schemes[s])])) as Record<ResamplingScheme, number>,
    inPlace: Object.fromEntries(RESAMPLING_SCHEMES.map((s) => [s, median(times.inPlace[s])])) as Record<ResamplingScheme, number>,
    copiedFraction: copied,
  };
}

async function main(): Promise<void> {
  const args = parseScriptArgs();
  if (args.trial !== undefined) return answerTrial(() => trial(args.trial as TrialSpec));
  const machine = machineRecord();
  const sizes = args.quick ? [1e4, 1e6] : [1e4, 1e6, 1e7];
  const perSize: { n: number; trials: TrialResult[] }[] = [];
  for (const n of sizes) {
    const trials: TrialResult[] = [];
    for (let t = 0; t < TRIALS; t++) {
      progress(`N = ${n}: trial ${t + 1}/${TRIALS}`);
      trials.push((await runTrial<TrialResult>(__filename, { n })).result);
    }
    perSize.push({ n, trials });
  }
  progress('');

  const ms = sig(3);
  const rows: string[][] = [];
  const inPlaceRows: string[][] = [];
  const verdicts: Verdict[] = [];
  const perScheme = (trials: TrialResult[], pick: (t: TrialResult) => Record<ResamplingScheme, number>) => ({
    ratios: Object.fromEntries(RESAMPLING_SCHEMES.map((s) => [s, median(trials.map((t) => pick(t)[s] / t.copy))])) as Record<ResamplingScheme, number>,
    times: Object.fromEntries(RESAMPLING_SCHEMES.map((s) => [s, median(trials.map((t) => pick(t)[s]))])) as Record<ResamplingScheme, number>,
  });
  const data = perSize.map(({ n, trials }) => {
    const copy = median(trials.map((t) => t.copy));
    const { ratios, times } = perScheme(trials, (t) => t.schemes);
    const inPlace = perScheme(trials, (t) => t.inPlace);
    const bytes = n * (8 + 2 * 4 * DIM);
    const gather = median(trials.map((t) => t.gather)), gatherRatio = median(trials.map((t) => t.gather / t.copy));
    rows.push([
      n.toExponential(0),
      `${sig(3)(bytes / 2 ** 20)} MiB`,
      `${ms(copy * 1e3)} ms (${sig(3)(bytes / copy / 1e9)} GB/s)`,
      `${ms(gather * 1e3)} ms = ${gatherRatio.toFixed(2)}×`,
      ...RESAMPLING_SCHEMES.map((s) => `${ms(times[s] * 1e3)} ms = ${ratios[s].toFixed(2)}×`),
      String(median(trials.map((t) => t.reps))),
    ]);
    inPlaceRows.push([
      n.toExponential(0),
      `${ms(copy * 1e3)} ms`,
      ...RESAMPLING_SCHEMES.map(
        (s) => `${ms(inPlace.times[s] * 1e3)} ms = **${inPlace.ratios[s].toFixed(2)}×** (${Math.round(100 * median(trials.map((t) => t.copiedFraction[s])))}% copied)`,
      ),
    ]);
    // The issue's target, per scheme with the better of the library's two gathers: into a
    // second buffer wins while the state fits in cache, survivors in place beyond it.
    const best = Object.fromEntries(RESAMPLING_SCHEMES.map((s) => [s, Math.min(ratios[s], inPlace.ratios[s])])) as Record<ResamplingScheme, number>;
    const worst = RESAMPLING_SCHEMES.reduce((a, b) => (best[a] >= best[b] ? a : b));
    verdicts.push({
      target: `resample + gather ≤ ${TARGET_RATIO}× copy, N = ${n.toExponential(0)}, 1 thread`,
      measured: `${RESAMPLING_SCHEMES.map((s) => `${s} ${best[s].toFixed(2)}× (${inPlace.ratios[s] <= ratios[s] ? 'in place' : 'second buffer'})`).join(', ')}; worst: ${worst}`,
      met: best[worst] <= TARGET_RATIO,
    });
    return { n, bytes, copySeconds: copy, gatherSeconds: gather, schemeSeconds: times, ratios, inPlaceSeconds: inPlace.times, inPlaceRatios: inPlace.ratios, trials };
  });

  const markdown = `## 1. Resampling + gather vs copying the same bytes (one thread)

${machineLines(machine, os.loadavg())}
- Per scheme: \`resample(logWeights, scheme, { seed, counter }, ancestors, { threads: 1 })\` then
  \`gatherRows(rows, ${DIM}, ancestors, out, { threads: 1 })\`, outputs allocated and touched
  before timing. Copy baseline: \`out.set(rows)\` plus one read pass over the weights (their
  maximum, in JS), interleaved with the schemes in the same process. "Gather alone" gathers by
  fixed systematic ancestors: the rest of each scheme's time is the resampling. Each cell: the median over
  ${TRIALS} fresh processes of each process's median over its repetitions; the ratio is taken
  within each process, then its median.

Survivors stay in place: \`resample\`, then \`gatherRowsInPlace(rows, ${DIM}, ancestors,
{ order, threads: 1 })\`, which copies only the rows of particles that died (the share in
brackets) and needs no second state buffer. The target is judged per scheme on the better
of this and the gather into a second buffer (the second table):

${markdownTable(['N', 'copy', ...RESAMPLING_SCHEMES.map((s) => `${s} + in-place gather (÷ copy)`)], inPlaceRows)}

Into a second buffer: \`resample\` then \`gatherRows(rows, ${DIM}, ancestors, out)\`:

${markdownTable(['N', 'bytes moved', 'copy', 'gather alone (÷ copy)', ...RESAMPLING_SCHEMES.map((s) => `${s} + gather (÷ copy)`), 'reps/trial'], rows)}

Target: at most ${TARGET_RATIO}× the copy, every scheme and size (the better of the two gathers). ${verdicts.every((v) => v.met) ? 'Met everywhere.' : `Not met: ${verdicts.filter((v) => !v.met).map((v) => v.target.split(', ')[1]).join('; ')}.`}
`;
  writeSection({ name: 'resample-gather', title: 'Resampling + gather vs copy', machine, verdicts, data }, markdown, args);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
