// What the framework costs when the score model is written in JS. The same
// filter runs in one process with three score models, interleaved:
//   native  a model on the native fast path (lib/score.ts NativeScore) whose scoreInto
//           does no work: the score buffer keeps its zeros;
//   sync    a JS callback returning a precomputed Float32Array of zeros;
//   async   the same callback as an async function.
// The score is the same (zero) in all three, so the step's random numbers, kernel,
// weights and resampling are too; the difference in time per step is the cost of
// crossing into JS and back. Reported in ns per particle per dimension per step, against
// the time to copy the state once (Float32Array.prototype.set into a preallocated array).
// Target: the difference within 2x the copy.
//
//   node -r ./tools/register-ts.js bench/js-callback.ts [--quick] [--dry-run]
import * as os from 'node:os';
import { smc, schedules, ScoreContext } from '../lib/index';
import { TRIALS, answerTrial, machineLines, machineRecord, markdownTable, median, parseScriptArgs, progress, runTrial, sig, writeSection, Verdict } from './common';

const DIM = 64;
const THREADS = 1;
const TARGET = 2;
/** Rounds of (native, sync, async) per trial, in rotating order. */
const ROUNDS = 7;

interface TrialSpec {
  particles: number;
  seconds: number;
}

type Variant = 'native' | 'sync' | 'async';
const VARIANTS: Variant[] = ['native', 'sync', 'async'];

interface TrialResult {
  steps: number;
  /** Seconds per step with the native-path model, median over the rounds. */
  native: number;
  /** (JS callback - native) seconds per step, within each round; median over the rounds. */
  syncExtra: number;
  asyncExtra: number;
  /** Median seconds to copy the state once. */
  copy: number;
}

async function trial({ particles, seconds }: TrialSpec): Promise<TrialResult> {
  const rows = particles;
  const zeros = new Float32Array(rows * DIM);
  const models = {
    native: {
      dim: DIM,
      score: (): Float32Array => {
        throw new Error('not called: scoreInto is the fast path');
      },
      scoreInto: async (_z: Float32Array, _context: ScoreContext, _out: Float32Array, _threads: number): Promise<void> => {},
    },
    sync: (_z: Float32Array): Float32Array => zeros,
    async: async (_z: Float32Array): Promise<Float32Array> => zeros,
  };
  const observed = { indices: Array.from({ length: DIM / 4 }, (_, i) => i), values: new Array<number>(DIM / 4).fill(0) };
  const run = async (variant: Variant, steps: number) => {
    const r = await smc({ score: models[variant], dim: DIM, schedule: schedules.ou({ T: 5 }), steps, observed, particles, samples: 1, threads: THREADS, seed: 1 });
    return r.seconds;
  };
  for (const v of VARIANTS) await run(v, 3); // warm up every path
  const steps = Math.max(5, Math.round((seconds * 3) / (await run('native', 3))));
  // Differences are paired within a round, so a slow spell of the machine cancels out.
  const native: number[] = [], syncExtra: number[] = [], asyncExtra: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const perStep = { native: 0, sync: 0, async: 0 };
    for (let k = 0; k < VARIANTS.length; k++) {
      const v = VARIANTS[(round + k) % VARIANTS.length];
      perStep[v] = (await run(v, steps)) / steps;
    }
    native.push(perStep.native);
    syncExtra.push(perStep.sync - perStep.native);
    asyncExtra.push(perStep.async - perStep.native);
  }
  // The yardstick: one copy of the state into a preallocated array.
  const state = new Float32Array(rows * DIM).fill(1);
  const copy = new Float32Array(rows * DIM).fill(0);
  const copies: number[] = [];
  for (let c = 0; c < 200; c++) {
    const t0 = process.hrtime.bigint();
    copy.set(state);
    copies.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return { steps, native: median(native), syncExtra: median(syncExtra), asyncExtra: median(asyncExtra), copy: median(copies) };
}

async function main(): Promise<void> {
  const args = parseScriptArgs();
  if (args.trial !== undefined) return answerTrial(() => trial(args.trial as TrialSpec));
  const machine = machineRecord();
  const sizes = args.quick ? [1e3, 1e4] : [1e3, 1e4, 1e5];
  const seconds = args.quick ? 0.15 : 0.4;
  const results: { particles: number; trials: TrialResult[] }[] = [];
  for (const particles of sizes) {
    const trials: TrialResult[] = [];
    for (let t = 0; t < TRIALS; t++) {
      progress(`N = ${particles}: trial ${t + 1}/${TRIALS}`);
      trials.push((await runTrial<TrialResult>(__filename, { particles, seconds })).result);
    }
    results.push({ particles, trials });
  }
  progress('');

  const ns = (seconds: number, particles: number) => (seconds * 1e9) / (particles * DIM);
  const f = sig(3);
  const verdicts: Verdict[] = [];
  const rows = results.map(({ particles, trials }) => {
    const m = (pick: (t: TrialResult) => number) => median(trials.map(pick));
    const native = m((t) => t.native), copy = m((t) => t.copy);
    const sync = m((t) => t.syncExtra), asyncDiff = m((t) => t.asyncExtra);
    const worst = Math.max(sync, asyncDiff);
    verdicts.push({
      target: `JS callback − native ≤ ${TARGET}× one state copy, N=${particles.toExponential(0)}, D=${DIM}`,
      measured: `sync ${f(ns(sync, particles))} ns, async ${f(ns(asyncDiff, particles))} ns vs copy ${f(ns(copy, particles))} ns per particle·dim·step (${f(worst / copy)}×)`,
      met: worst <= TARGET * copy,
    });
    return [
      particles.toExponential(0),
      `${f(native * 1e3)} ms`,
      `${f(sync * 1e6)} µs = ${f(ns(sync, particles))} ns`,
      `${f(asyncDiff * 1e6)} µs = ${f(ns(asyncDiff, particles))} ns`,
      `${f(copy * 1e6)} µs = ${f(ns(copy, particles))} ns`,
      `**${f(worst / copy)}×**`,
      String(median(trials.map((t) => t.steps))),
    ];
  });

  const markdown = `## 3. A JS score callback against a native model doing no work

${machineLines(machine, os.loadavg())}
- \`smc\`, D = ${DIM} (${DIM / 4} observed), one run of N particles, ${THREADS} thread, score = 0 in all
  three: a native-path model whose \`scoreInto\` does nothing; a sync JS callback returning a
  precomputed zero array; the same as an async function. In each fresh process the three
  run ${ROUNDS} times in rotating order; each difference is taken within a round, its median
  over the rounds is the process's figure, and each cell is the median over ${TRIALS} processes.
  Per-element figures divide by N × D.
- Copy: \`Float32Array.prototype.set\` of the N × D state into a preallocated array.

${markdownTable(['N', 'native: time per step', 'sync − native, per step', 'async − native, per step', 'one state copy', 'worst ÷ copy', 'steps'], rows)}

Target: the difference within ${TARGET}× the copy. A difference at or below zero is within noise.
`;
  writeSection({ name: 'js-callback', title: 'JS callback cost', machine, verdicts, data: results }, markdown, args);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
