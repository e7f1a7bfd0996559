// `condiff restore`: the shipped digits network (models/digits-eps.onnx) restores held-out 8x8
// digits from a linear-Gaussian observation y = A x + σ_y ε (docs/MATH.md §8): noisy inpainting
// (half the pixels, each with noise) and 2x super-resolution (the 4x4 means of 2x2 blocks, with
// noise), by replacement, the SVD bootstrap filter (smc), mcgdiff, fps and twisted SMC (tds). Prints a table per
// task and method (error over every pixel, spread across restorations, agreement of the shipped
// classifier with the original's class, network evaluations per restoration, seconds) and
// writes a PNG grid.
import { replacement, smc } from '../samplers';
import { mcgdiff } from '../mcgdiff';
import { fps } from '../fps';
import { tds } from '../tds';
import { MaskKind, digitMask, noisyMaskObservation, pooledObservation, restorationStats, Degraded } from '../digits';
import { CliIO, Progress } from './io';
import { userInputAsync } from './errors';
import { parseFlags, numberFlag, stringFlag } from './flags';
import { DIGITS_FLAGS, DigitsRowFigures, RowTotals, tableLine, listFlag, digitsRunFlags, loadDigitsSetup, digitsOutputs, heldOutDigits, DigitsGrid, writeJsonTable } from './digits-setup';

export const RESTORE_METHODS = ['replacement', 'smc', 'mcgdiff', 'fps', 'tds'] as const;
export type RestoreMethod = (typeof RESTORE_METHODS)[number];
/** Noisy inpainting with a mask of lib/digits.ts, or 2x super-resolution by 2x2 average pooling. */
export const RESTORE_TASKS = ['top', 'left', 'random', 'superres'] as const;
export type RestoreTask = (typeof RESTORE_TASKS)[number];
const DEFAULT_TASKS: readonly RestoreTask[] = ['top', 'superres'];

export const RESTORE_USAGE = `condiff restore: restore held-out 8x8 digits from noisy linear observations with the shipped network

Usage:
  condiff restore [--digits N] [--completions K] [--steps S] [--particles N] [--noise S] [--out FILE.png] [options]

Observes each digit through y = A x + noise and restores it K times with each method: noisy
inpainting (the pixels a mask keeps, each plus noise) and 2x super-resolution (the means of
its 2x2 blocks, 4x4, plus noise). Prints a table per task and method and writes a PNG grid:
the observation (unobserved pixels in blue; for super-resolution each block drawn with its
observed mean), restorations per method, the original.
  --digits N            held-out digits, cycling through the classes 0..9 (default 10)
  --completions K       restorations per digit, task and method (default 8)
  --tasks T[,T..]       top | left | random (noisy inpainting with that mask hidden) | superres
                        (default top,superres)
  --methods M[,M..]     replacement | smc | mcgdiff | fps | tds (default all five)
  --noise S             the observation's noise standard deviation, pixels on [-1, 1], 0 to 10 (default 0.1;
                        0: exact observations)
  --steps S             backward steps, DDPM K = 1000 respaced to S (default 100; smc and mcgdiff
                        place the observation's matching levels among them, MATH.md 9.1)
  --particles N         smc, mcgdiff, fps: particles per run; each restoration is one run (default 64)
  --tds-particles N     tds: particles per run, Jacobian-free (identity) twist gradient (default 8)
  --kappa K             mcgdiff: the twist's width (default 1e-4)
  --clip                clip x0-hat to [-1, 1] inside the sampler (default off)
  --seed X              seed (default 0); --threads P worker and onnxruntime threads
  --out FILE.png        the picture (default restore.png, - for stdout); --no-picture to skip it (needs sharp)
  --show N              digits per task in the picture (default 2); --shown K restorations per method (default 4)
  --json FILE           also write the table and settings as JSON (- for stdout)
  --model FILE.onnx, --classifier FILE.json, --data FILE.json   (default: models/)
The default run takes about a minute on 2 cores.`;

const TASK_LABELS: Record<RestoreTask, string> = { top: 'noisy, top hidden', left: 'noisy, left hidden', random: 'noisy, random 50%', superres: '2x super-res' };

const FLAGS = {
  ...DIGITS_FLAGS,
  tasks: 'value',
  noise: 'value',
  kappa: 'value',
} as const;

/** One row of the table: MSE and spread over every pixel; evaluations: particles x the steps of the grid the run used. */
export interface RestoreRow extends DigitsRowFigures {
  task: RestoreTask;
  method: RestoreMethod;
}

/** The observation of digit d for a task: the mask and the noise are functions of (seed, task, d). */
export function degrade(task: RestoreTask, image: Float32Array, noiseStd: number, seed: number, d: number, ti: number): Degraded {
  const noiseSeed = (seed * 7919 + d * 31 + ti * 1_000_003 + 17) >>> 0;
  if (task === 'superres') return pooledObservation(image, 2, noiseStd, noiseSeed);
  return noisyMaskObservation(image, digitMask(task as MaskKind, seed * 7919 + d * 31 + ti), noiseStd, noiseSeed);
}

export async function restoreCommand(args: readonly string[], io: CliIO): Promise<number> {
  const flags = parseFlags(args, FLAGS, 'restore');
  if (flags.has('help')) {
    io.stdout.write(RESTORE_USAGE + '\n');
    return 0;
  }
  const str = (name: string) => stringFlag(flags, name);
  const { digits: digitsWanted, completions: K, steps, particles, tdsParticles, clip, seed, threads } = digitsRunFlags(flags);
  const tasks = listFlag(str('tasks'), RESTORE_TASKS, 'tasks', DEFAULT_TASKS);
  const methods = listFlag(str('methods'), RESTORE_METHODS, 'methods');
  const noiseStd = numberFlag(flags, 'noise', 0.1, { min: 0, max: 10 });
  const kappa = numberFlag(flags, 'kappa', 1e-4, { positive: true });
  // Checked now, before the network is loaded and anything is sampled.
  const out = digitsOutputs(flags, io, 'restore.png');
  const { text, show, shown } = out;

  const setup = await loadDigitsSetup(flags, { threads, clip, steps });
  const { classifier, model, schedule } = setup;
  try {
    const { chosen, originals, labels, originalsRight, sourceIndices } = heldOutDigits(setup, digitsWanted);

    text.write(
      `condiff restore: ${chosen.length} held-out digits x ${tasks.length} task${tasks.length > 1 ? 's' : ''}, ${K} restorations per digit and method; ` +
        `noise std ${noiseStd}; DDPM (K = ${schedule.T}) with ${steps} steps; N = ${particles} particles (smc, mcgdiff, fps), tds N = ${tdsParticles}, mcgdiff kappa ${kappa}; ` +
        `x0 clipping ${clip ? 'on' : 'off'}; seed ${seed}, ${threads} thread${threads > 1 ? 's' : ''}\n` +
        `the classifier puts ${originalsRight} of the ${chosen.length} originals in their class\n\n`,
    );

    const rows: RestoreRow[] = [];
    const grid = new DigitsGrid(methods, shown);
    text.write('| task | method | MSE | spread | class agreement | max abs | network evaluations | seconds |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n');
    for (const [ti, task] of tasks.entries()) {
      const perMethod = new Map<RestoreMethod, Float32Array[]>();
      const degraded = originals.map((o, d) => degrade(task, o, noiseStd, seed, d, ti));
      for (const method of methods) {
        const progress = new Progress(io, `${task} / ${method}`);
        const totals = new RowTotals();
        let evaluations = 0;
        const restorations: Float32Array[] = [];
        try {
          for (let d = 0; d < chosen.length; d++) {
            const common = {
              score: model,
              schedule,
              steps,
              observed: degraded[d].observed,
              samples: K,
              seed: seed + 1000 * d + 100000 * ti,
              threads,
              signal: io.signal,
              onStep: progress.onStep,
            };
            const r = await userInputAsync('', async () => {
              if (method === 'replacement') {
                const res = await replacement(common);
                return { samples: res.samples, seconds: res.seconds, evaluations: steps };
              }
              if (method === 'tds') {
                const res = await tds({ ...common, particles: tdsParticles, gradient: 'identity' });
                return { samples: res.samples, seconds: res.seconds, evaluations: tdsParticles * (res.grid.length - 1) };
              }
              const res = method === 'smc' ? await smc({ ...common, particles }) : method === 'mcgdiff' ? await mcgdiff({ ...common, particles, kappa }) : await fps({ ...common, particles });
              return { samples: res.samples, seconds: res.seconds, evaluations: particles * (res.grid.length - 1) };
            });
            evaluations = Math.max(evaluations, r.evaluations);
            const st = restorationStats(r.samples, originals[d], labels[d], classifier);
            if (st.nonFinite > 0) throw new Error(`${method} on digit ${d} (${task}): ${st.nonFinite} non-finite values`);
            totals.add(st, K, r.seconds);
            restorations.push(r.samples);
          }
        } finally {
          progress.clear();
        }
        perMethod.set(method, restorations);
        const row: RestoreRow = { task, method, ...totals.figures(evaluations) };
        rows.push(row);
        text.write(tableLine(task, method, row));
      }
      // Different digits for each task: the picture shows digits ti * show, ti * show + 1, ...
      for (let j = 0; j < Math.min(show, chosen.length); j++) {
        const d = (ti * show + j) % chosen.length;
        grid.add(TASK_LABELS[task], degraded[d].input, new Map(methods.map((m) => [m, perMethod.get(m)![d]])), originals[d]);
      }
    }
    text.write(
      `\nMSE: mean squared error of every pixel against the original ([-1, 1] scale; the observed pixels are\n` +
        `noisy, so the samplers estimate them too); spread: root mean variance across a digit's restorations over\n` +
        `pixels; class agreement: share of restorations the shipped classifier puts in the original's class;\n` +
        `network evaluations: per restoration (particles x the steps of the run's grid; replacement: steps;\n` +
        `tds: identity twist gradient, no extra calls);\n` +
        `max abs: largest |pixel| of the raw restorations.\n`,
    );
    await grid.write(out, io, K);
    await writeJsonTable(out, io, { digits: chosen.length, sourceIndices, completions: K, tasks, noiseStd, steps, particles, tdsParticles, kappa, clip, seed, threads, rows });
    return 0;
  } finally {
    await model.release();
  }
}
