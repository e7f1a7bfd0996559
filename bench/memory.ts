// Peak resident memory of the filter at N = 10^5 particles, D = 64, against
// 3x the particle state (N x D float32) plus a constant. Each measurement is a fresh
// process under `/usr/bin/time -v` (its "Maximum resident set size") that runs `smc`
// with the built-in mixture (D = 64, 10 full-covariance components). The constant is the
// same process at N = 10^3 (Node, the addon, the model, the compiled code); N = 2 x 10^5
// gives the slope, the bytes each particle adds.
//
//   node -r ./tools/register-ts.js bench/memory.ts [--quick] [--dry-run]
// Needs /usr/bin/time (Debian/Ubuntu: apt-get install -y time).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { GaussianMixture, smc, schedules } from '../lib/index';
import { TRIALS, answerTrial, machineLines, machineRecord, markdownTable, median, mixtureProblem, parseScriptArgs, progress, runTrial, sig, writeSection, Verdict } from './common';

const DIM = 64;
const COMPONENTS = 10;
const STEPS = 5;
const THREADS = 2;
const TIME = '/usr/bin/time';
const TARGET_STATES = 3;

interface TrialSpec {
  particles: number;
}

interface TrialResult {
  seconds: number;
  /** Most memory held by ArrayBuffers (typed arrays) at the end of a step, bytes. */
  arrayBuffers: number;
}

async function trial({ particles }: TrialSpec): Promise<TrialResult> {
  const problem = mixtureProblem(DIM, COMPONENTS);
  const model = GaussianMixture.fromJSON(problem.model);
  let arrayBuffers = 0;
  const onStep = () => {
    arrayBuffers = Math.max(arrayBuffers, process.memoryUsage().arrayBuffers);
  };
  const r = await smc({ score: model, schedule: schedules.ou({ T: 5 }), steps: STEPS, observed: problem.observed, particles, samples: 1, threads: THREADS, seed: 1, onStep });
  return { seconds: r.seconds, arrayBuffers };
}

/** "Maximum resident set size (kbytes): 123" in /usr/bin/time -v output, in bytes. */
function peakRss(timeOutput: string): number {
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(timeOutput);
  if (!m) throw new Error(`no "Maximum resident set size" in the output of ${TIME} -v:\n${timeOutput.slice(-500)}`);
  return Number(m[1]) * 1024;
}

async function main(): Promise<void> {
  const args = parseScriptArgs();
  if (args.trial !== undefined) return answerTrial(() => trial(args.trial as TrialSpec));
  if (!fs.existsSync(TIME)) throw new Error(`${TIME} is missing: install it (Debian/Ubuntu: apt-get install -y time)`);
  const machine = machineRecord();
  const baseline = 1e3, measured = 1e5;
  const sizes = args.quick ? [baseline, measured] : [baseline, measured, 2e5];
  const peaks = new Map<number, number[]>();
  const held = new Map<number, number[]>();
  for (const particles of sizes) {
    const values: number[] = [], buffers: number[] = [];
    for (let t = 0; t < TRIALS; t++) {
      progress(`N = ${particles}: trial ${t + 1}/${TRIALS}`);
      const r = await runTrial<TrialResult>(__filename, { particles }, [TIME, '-v']);
      values.push(peakRss(r.stderr));
      buffers.push(r.result.arrayBuffers);
    }
    peaks.set(particles, values);
    held.set(particles, buffers);
  }
  progress('');

  const MiB = (bytes: number) => `${sig(4)(bytes / 2 ** 20)} MiB`;
  const state = (n: number) => n * DIM * 4;
  const constant = median(peaks.get(baseline)!);
  const rows = sizes.map((n) => {
    const peak = median(peaks.get(n)!);
    const above = peak - constant;
    const buffers = median(held.get(n)!);
    return [
      n.toExponential(0),
      MiB(state(n)),
      MiB(peak),
      `${MiB(Math.min(...peaks.get(n)!))}–${MiB(Math.max(...peaks.get(n)!))}`,
      n === baseline ? '(the constant)' : MiB(above),
      n === baseline ? '' : `**${(above / state(n)).toFixed(2)}×**`,
      `${MiB(buffers)} (${(buffers / state(n)).toFixed(2)}×)`,
    ];
  });
  const above = median(peaks.get(measured)!) - constant;
  const verdicts: Verdict[] = [
    {
      target: `peak RSS ≤ ${TARGET_STATES}× the particle state + a constant, N=1e+5, D=${DIM}`,
      measured: `${MiB(above)} above the N=1e+3 constant = ${(above / state(measured)).toFixed(2)}× the ${MiB(state(measured))} state`,
      met: above <= TARGET_STATES * state(measured),
    },
  ];
  let slope = '';
  if (peaks.has(2e5)) {
    const perParticle = (median(peaks.get(2e5)!) - median(peaks.get(measured)!)) / 1e5;
    slope = `\nSlope between N = 1e+5 and 2e+5: ${sig(4)(perParticle)} bytes per particle = ${(perParticle / (DIM * 4)).toFixed(2)}× the ${DIM * 4} bytes of one particle's state.\n`;
  }
  const markdown = `## 5. Memory: peak resident set size

${machineLines(machine, os.loadavg())}
- \`${TIME} -v\` on a fresh process per trial running \`smc\` (D = ${DIM}, ${COMPONENTS} full-covariance
  components, one run of N particles, ${STEPS} steps, ${THREADS} threads); median of ${TRIALS} trials. The constant is
  the peak at N = 1e+3.

${markdownTable(['N', 'particle state (N × D × 4 B)', 'peak RSS', 'range', 'above the constant', '÷ state', 'typed arrays held (÷ state)'], rows)}
${slope}
"Typed arrays held": the most \`process.memoryUsage().arrayBuffers\` seen after a step, i.e.
the buffers the sampler keeps (state-sized float32 arrays, plus ${sig(3)((3 * 8 + 4) / (DIM * 4))}× the state for
float64 log-weights, increments and CDF and int32 ancestors, if all are present).
Target: ≤ ${TARGET_STATES}× the state above the constant.
`;
  writeSection({ name: 'memory', title: 'Memory', machine, verdicts, data: Object.fromEntries(peaks) }, markdown, args);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
