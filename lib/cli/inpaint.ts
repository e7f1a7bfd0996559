// `condiff inpaint`: the shipped digits network (models/digits-eps.onnx) completes held-out
// 8x8 digits with part of the image hidden (top half, left half, a random half of the
// pixels), by replacement, Langevin, RePaint, the particle filter and twisted SMC. Prints a
// table per method and mask (error on the hidden pixels, spread across completions, agreement
// of the shipped classifier with the original's class, network evaluations per completion,
// seconds) and writes a PNG grid.
import { replacement, smc, CorrectorOptions } from '../samplers';
import { tds } from '../tds';
import { MASK_KINDS, MaskKind, digitMask, maskedObservation, completionStats } from '../digits';
import { CliIO, Progress } from './io';
import { userInputAsync } from './errors';
import { parseFlags, integerFlag, numberFlag, stringFlag } from './flags';
import { DIGITS_FLAGS, DigitsRowFigures, RowTotals, tableLine, listFlag, digitsRunFlags, loadDigitsSetup, digitsOutputs, heldOutDigits, DigitsGrid, writeJsonTable } from './digits-setup';

export const INPAINT_METHODS = ['replacement', 'langevin', 'repaint', 'smc', 'tds'] as const;
export type InpaintMethod = (typeof INPAINT_METHODS)[number];

export const INPAINT_USAGE = `condiff inpaint: inpaint held-out 8x8 digits with the shipped network (models/digits-eps.onnx)

Usage:
  condiff inpaint [--digits N] [--completions K] [--steps S] [--particles N] [--out FILE.png] [options]

Hides part of each digit (top half, left half, or a random half of the pixels), completes
it K times with each method, prints a table per method and mask and writes a PNG grid:
masked input (hidden pixels in blue), completions per method, the original.
  --digits N            held-out digits, cycling through the classes 0..9 (default 10)
  --completions K       completions per digit, mask and method (default 8)
  --masks M[,M..]       top | left | random (default all three)
  --methods M[,M..]     replacement | langevin | repaint | smc | tds (default all five)
  --steps S             backward steps, DDPM K = 1000 respaced to S (default 100)
  --particles N         smc: particles per run; each completion is one run (default 64)
  --tds-particles N     tds: particles per run, Jacobian-free (identity) twist gradient (default 8)
  --langevin-steps L    langevin: corrector steps per step (default 2)
  --langevin-gamma G    langevin: delta = G sigma_s^2 (default 0.1)
  --jumps U             repaint: jumps per step (default 2)
  --clip                clip x0-hat to [-1, 1] inside the sampler (default off)
  --seed X              seed (default 0); --threads P worker and onnxruntime threads
  --out FILE.png        the picture (default inpaint.png, - for stdout); --no-picture to skip it (needs sharp)
  --show N              digits per mask in the picture (default 2); --shown K completions per method (default 4)
  --json FILE           also write the table and settings as JSON (- for stdout)
  --model FILE.onnx, --classifier FILE.json, --data FILE.json   (default: models/)
The default run takes about a minute on 2 cores.`;

const MASK_LABELS: Record<MaskKind, string> = { top: 'top half', left: 'left half', random: 'random 50%' };

const FLAGS = {
  ...DIGITS_FLAGS,
  masks: 'value',
  'langevin-steps': 'value',
  'langevin-gamma': 'value',
  jumps: 'value',
} as const;

/** One row of the table: MSE and spread over the hidden pixels; evaluations: score calls × the rows each completion contributes. */
export interface InpaintRow extends DigitsRowFigures {
  mask: MaskKind;
  method: InpaintMethod;
}

export async function inpaintCommand(args: readonly string[], io: CliIO): Promise<number> {
  const flags = parseFlags(args, FLAGS, 'inpaint');
  if (flags.has('help')) {
    io.stdout.write(INPAINT_USAGE + '\n');
    return 0;
  }
  const str = (name: string) => stringFlag(flags, name);
  const { digits: digitsWanted, completions: K, steps, particles, tdsParticles, clip, seed, threads } = digitsRunFlags(flags);
  const masks = listFlag(str('masks'), MASK_KINDS, 'masks');
  const methods = listFlag(str('methods'), INPAINT_METHODS, 'methods');
  const langevinSteps = integerFlag(flags, 'langevin-steps', 2, 1, 1000);
  const gamma = numberFlag(flags, 'langevin-gamma', 0.1, { positive: true });
  const jumps = integerFlag(flags, 'jumps', 2, 1, 1000);
  // Checked now, before the network is loaded and anything is sampled.
  const out = digitsOutputs(flags, io, 'inpaint.png');
  const { text, show, shown } = out;

  const setup = await loadDigitsSetup(flags, { threads, clip, steps });
  const { classifier, model, schedule } = setup;
  try {
    const { chosen, originals, labels, originalsRight, sourceIndices } = heldOutDigits(setup, digitsWanted);

    text.write(
      `condiff inpaint: ${chosen.length} held-out digits x ${masks.length} mask${masks.length > 1 ? 's' : ''}, ${K} completions per digit and method; ` +
        `DDPM (K = ${schedule.T}) respaced to ${steps} steps; smc N = ${particles}, tds N = ${tdsParticles}, langevin L = ${langevinSteps} (gamma ${gamma}), repaint U = ${jumps}; ` +
        `x0 clipping ${clip ? 'on' : 'off'}; seed ${seed}, ${threads} thread${threads > 1 ? 's' : ''}\n` +
        `the classifier puts ${originalsRight} of the ${chosen.length} originals in their class\n\n`,
    );

    const corrector = (m: InpaintMethod): CorrectorOptions | undefined =>
      m === 'langevin' ? { kind: 'langevin', steps: langevinSteps, gamma } : m === 'repaint' ? { kind: 'repaint', jumps } : undefined;
    const rows: InpaintRow[] = [];
    const grid = new DigitsGrid(methods, shown);
    const header = ['| mask | method | MSE hidden | spread | class agreement | max abs | network evaluations | seconds |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |'];
    text.write(header.join('\n') + '\n');
    for (const [mi, mask] of masks.entries()) {
      const perMethod = new Map<InpaintMethod, Float32Array[]>();
      const maskOf = chosen.map((_, d) => digitMask(mask, seed * 7919 + d * 31 + mi));
      for (const method of methods) {
        const progress = new Progress(io, `${mask} / ${method}`);
        const totals = new RowTotals();
        const completions: Float32Array[] = [];
        try {
          for (let d = 0; d < chosen.length; d++) {
            const observed = maskedObservation(originals[d], maskOf[d]);
            const common = {
              score: model,
              schedule,
              steps,
              observed,
              samples: K,
              seed: seed + 1000 * d + 100000 * mi,
              threads,
              signal: io.signal,
              onStep: progress.onStep,
            };
            const r = await userInputAsync('', () =>
              method === 'smc'
                ? smc({ ...common, particles })
                : method === 'tds'
                  ? tds({ ...common, particles: tdsParticles, gradient: 'identity' })
                  : replacement({ ...common, corrector: corrector(method) }),
            );
            const st = completionStats(r.samples, originals[d], maskOf[d], labels[d], classifier);
            if (st.observedMismatches > 0 || st.nonFinite > 0) {
              throw new Error(`${method} on digit ${d} (${mask}): ${st.observedMismatches} observed pixels changed, ${st.nonFinite} non-finite values`);
            }
            totals.add(st, K, r.seconds);
            completions.push(r.samples);
          }
        } finally {
          progress.clear();
        }
        perMethod.set(method, completions);
        const evaluations =
          method === 'smc' ? particles * steps
          : method === 'tds' ? tdsParticles * steps
          : method === 'langevin' ? steps * (1 + langevinSteps)
          : method === 'repaint' ? steps * (1 + jumps)
          : steps;
        const row: InpaintRow = { mask, method, ...totals.figures(evaluations) };
        rows.push(row);
        text.write(tableLine(mask, method, row));
      }
      // Different digits for each mask: the picture shows digits mi * show, mi * show + 1, ...
      for (let j = 0; j < Math.min(show, chosen.length); j++) {
        const d = (mi * show + j) % chosen.length;
        const masked = Float32Array.from(originals[d], (v, i) => (maskOf[d][i] ? v : NaN));
        grid.add(MASK_LABELS[mask], masked, new Map(methods.map((m) => [m, perMethod.get(m)![d]])), originals[d]);
      }
    }
    text.write(
      `\nMSE hidden: mean squared error of the hidden pixels against the original ([-1, 1] scale); spread: root mean\n` +
        `variance across a digit's completions over hidden pixels; class agreement: share of completions the shipped\n` +
        `classifier puts in the original's class; network evaluations: per completion (smc and tds: particles x steps;\n` +
        `langevin and repaint: (1 + L or U) x steps); max abs: largest |pixel| of the raw completions (never clipped\n` +
        `afterwards; --clip clips x0-hat inside the sampler, and Langevin's last moves add noise after it).\n`,
    );
    await grid.write(out, io, K);
    await writeJsonTable(out, io, { digits: chosen.length, sourceIndices, completions: K, steps, particles, langevinSteps, gamma, jumps, clip, seed, threads, rows });
    return 0;
  } finally {
    await model.release();
  }
}
