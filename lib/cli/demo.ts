// `condiff demo`: a built-in 3-D two-mode problem, every method against the exact posterior
// (MATH.md §7): the sliced Wasserstein distance of each method's draws to exact draws,
// beside the noise floor of exact-vs-exact replicates.
import { GaussianMixture } from '../mixture';
import { schedules, KernelName } from '../schedules';
import { slicedWasserstein, noiseFloor } from '../metrics';
import { defaultThreads } from '../threads';
import { CliIO, Progress } from './io';
import { FlagKind, parseFlags, integerFlag } from './flags';
import { runMethod, SamplerSettings } from './run';
import { DEMO_USAGE } from './usage';

const DEMO_FLAGS: Record<string, FlagKind> = {
  samples: 'value',
  seed: 'value',
  threads: 'value',
  quick: 'switch', // hidden: a small, fast demo for tests
  help: 'switch',
};

/**
 * Two well-separated modes in R^3 at (-2,-2,-2) and (2,2,2); within each, both latent
 * coordinates are strongly correlated with the observed z[2] (+0.8 in one mode, -0.8 in
 * the other). Observing z[2] = 0.5 puts 88% of the posterior on the second mode (latent
 * mean (3.2, 3.2)) and 12% on the first (latent mean (0, 0)); replacement sampling keeps
 * roughly the prior's 50/50 split.
 */
export const DEMO_MODEL = {
  weights: [0.5, 0.5],
  means: [
    [-2, -2, -2],
    [2, 2, 2],
  ],
  covariances: [
    [
      [1, 0.7, 0.8],
      [0.7, 1, 0.8],
      [0.8, 0.8, 1],
    ],
    [
      [1, 0.7, -0.8],
      [0.7, 1, -0.8],
      [-0.8, -0.8, 1],
    ],
  ],
};
export const DEMO_OBSERVATION = { indices: [2], values: [0.5] };

/**
 * Seconds the demo is expected to take, from the CPU time it measured on a 2-core x86-64
 * machine (Node 20, default settings: 1.2 s for the exact draws and noise floor and 1.5 s for
 * the five samplers, per 1000 samples, most of it in the smc row), spread over the threads
 * the cores can run at once. Other programs on the cores make it longer.
 */
export function demoSeconds(samples: number, steps: number, particles: number, threads: number): number {
  const perThousand = 1.2 + 1.5 * ((steps * particles) / (100 * 256));
  return 0.3 + ((samples / 1000) * perThousand) / Math.max(1, Math.min(threads, defaultThreads()));
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

export async function demoCommand(args: readonly string[], io: CliIO): Promise<number> {
  const flags = parseFlags(args, DEMO_FLAGS, 'demo');
  if (flags.has('help')) {
    io.stdout.write(DEMO_USAGE + '\n');
    return 0;
  }
  const quick = flags.has('quick');
  const samples = integerFlag(flags, 'samples', quick ? 200 : 1000, 1, 1_000_000);
  const seed = integerFlag(flags, 'seed', 0, 0);
  const threads = integerFlag(flags, 'threads', defaultThreads(), 1, 1024);
  const steps = quick ? 20 : 100;
  const particles = quick ? 16 : 256;
  const schedule = schedules.ou({ T: 5 });
  const kernel: KernelName = 'ddpm';
  const model = GaussianMixture.fromJSON(DEMO_MODEL);
  const observed = DEMO_OBSERVATION;
  const posterior = model.posterior(observed);
  const latent = posterior.latent;
  const k = latent.length;
  const major = posterior.weights[0] > posterior.weights[1] ? 0 : 1;

  // Share of draws nearer (over the latent coordinates) to the major posterior mode's mean.
  const majorShare = (z: Float32Array): number => {
    let count = 0;
    const n = z.length / model.dim;
    for (let i = 0; i < n; i++) {
      let best = 0, bestD = Infinity;
      for (let j = 0; j < posterior.weights.length; j++) {
        let d = 0;
        for (let a = 0; a < k; a++) d += (z[i * model.dim + latent[a]] - posterior.means[j * k + a]) ** 2;
        if (d < bestD) [best, bestD] = [j, d];
      }
      if (best === major) count++;
    }
    return count / n;
  };

  const w = (x: number) => x.toFixed(3);
  io.stdout.write(
    `condiff demo: mixture of 2 Gaussians in R^3 (modes at -2 and +2, strongly correlated), z[2] = ${observed.values[0]} observed\n` +
      `exact posterior: ${w(posterior.weights[major])} of the mass on the mode near (${Array.from(posterior.means.subarray(major * k, major * k + k), (v) => v.toFixed(1)).join(', ')})\n` +
      `${samples} samples per method, ou schedule (T = 5), ${steps} steps, ${kernel} kernel, seed ${seed}, ${threads} thread${threads === 1 ? '' : 's'}\n` +
      `expected time: about ${Math.max(1, Math.round(demoSeconds(samples, steps, particles, threads)))} s on free cores\n\n`,
  );
  const begun = performance.now();

  const status = new Progress(io, 'noise floor');
  status.status('exact draws and the noise floor (50 replicates)...');
  const t0 = performance.now();
  const exact = await model.sampleExact(observed, samples, { seed, run: 1_000_000, threads });
  const floor = await noiseFloor(model, observed, samples, { coordinates: latent, replicates: 50, threads, exactSeed: seed });
  status.clear();
  const floorSeconds = (performance.now() - t0) / 1000;

  const base: SamplerSettings = {
    method: 'replacement',
    context: 'forward',
    schedule,
    steps,
    kernel,
    samples,
    seed,
    threads,
    particles,
    resampling: 'systematic',
    essThreshold: 1,
  };
  const rows: { label: string; settings: SamplerSettings }[] = [
    { label: 'replacement (fixed)', settings: { ...base, context: 'fixed' } },
    { label: 'replacement (forward)', settings: { ...base } },
    { label: 'langevin (L=5, g=0.3)', settings: { ...base, method: 'langevin', corrector: { kind: 'langevin', steps: 5, gamma: 0.3 } } },
    { label: 'repaint (U=5)', settings: { ...base, method: 'repaint', corrector: { kind: 'repaint', jumps: 5 } } },
    { label: `smc (N=${particles})`, settings: { ...base, method: 'smc' } },
  ];

  const header = `${pad('method', 24)}${pad('SW2 to exact', 14, true)}${pad('noise floor', 13, true)}${pad('major mode', 12, true)}${pad('seconds', 10, true)}`;
  io.stdout.write(header + '\n' + '-'.repeat(header.length) + '\n');
  io.stdout.write(
    `${pad('exact (reference)', 24)}${pad('-', 14, true)}${pad(floor.floor.toFixed(4), 13, true)}${pad(w(majorShare(exact)), 12, true)}${pad(floorSeconds.toFixed(2), 10, true)}\n`,
  );
  for (const row of rows) {
    const run = await runMethod(model, observed, row.settings, io, row.label);
    const sw = await slicedWasserstein(run.result.samples, exact, model.dim, { coordinates: latent });
    io.stdout.write(
      `${pad(row.label, 24)}${pad(sw.toFixed(4), 14, true)}${pad(floor.floor.toFixed(4), 13, true)}${pad(w(majorShare(run.result.samples)), 12, true)}${pad(run.result.seconds.toFixed(2), 10, true)}\n`,
    );
  }
  io.stdout.write(
    `\nSW2: sliced Wasserstein-2 over the latent coordinates (128 directions) to ${samples} exact draws;\n` +
      `noise floor: 95th percentile of 50 exact-vs-exact replicates; major mode: share of draws nearest\n` +
      `the heavier posterior mode (exact: ${w(posterior.weights[major])}). A method is consistent here when its SW2 is near the floor.\n` +
      `Took ${((performance.now() - begun) / 1000).toFixed(1)} s.\n`,
  );
  return 0;
}
