// Accuracy against score evaluations (docs/MATH.md §10): how close `tds` (each gradient
// source) and `smc` come to the exact posterior for the cost they pay. Problem: the
// 25-component identity-covariance mixture of bench/common.ts identityProblem (the MCGdiff
// benchmark's prior; variances form so the exact twist gradient costs O(J D)), D = 8 and 80,
// the first D/4 coordinates observed exactly, or y = A x₀ + σ_y ε with a random dense A
// (d_y = 2 at D = 8, 4 at D = 80; σ_y = 0.1); smc, mcgdiff and particle Gibbs (masks) beside
// tds; ou T = 5, 100 Euler steps, K independent runs
// with one draw each. The figure is SW₂ (128 directions, latent coordinates) between the K
// draws and K exact posterior draws, beside the exact-vs-exact noise floor at K (95% of 50
// replicates); the cost is score evaluations per draw: N × S for smc and mcgdiff (§9.1's grid
// for a dense A), N × the result's scoreEvaluations for tds. With a dense A the SW₂ is over all
// coordinates. Not a timing: the figures do not depend on the machine or its load.
//
//   node -r ./tools/register-ts.js bench/tds-efficiency.ts [--quick] [--dry-run]
//
// --quick: D = 8 only and K = 300. Also draws docs/tds-efficiency.svg (not with --dry-run).
import { GaussianMixture, mcgdiff, noiseFloor, particleGibbs, slicedWasserstein, schedules, smc, tds } from '../lib/index';
import type { TwistGradient } from '../lib/tds';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { identityProblem, machineLines, machineRecord, markdownTable, parseScriptArgs, seededUniform, writeSection, Verdict, ROOT } from './common';
import type { ObservationInput } from '../lib/observation';
import { lineChart, Series } from './svg-chart';

const STEPS = 100;
const GIBBS = { sweeps: 30, burnIn: 10, thin: 10 };

interface Row {
  dim: number;
  /** 'mask' or 'A d_y x D'. */
  observation: string;
  method: string;
  particles: number;
  evaluations: number;
  sw2: number;
  floor: number;
}

async function main(): Promise<void> {
  const args = parseScriptArgs();
  const runs = args.quick ? 300 : 1000;
  const dims = args.quick ? [8] : [8, 80];
  const machine = machineRecord();
  const rows: Row[] = [];
  for (const dim of dims) {
    const problem = identityProblem(dim, 25, 1, 'variances');
    const model = GaussianMixture.fromJSON(problem.model);
    for (const kind of ['mask', 'dense'] as const) {
      const dy = dim === 8 ? 2 : 4;
      const observed: ObservationInput = kind === 'mask' ? problem.observed : denseObservation(problem.model.means[0], dy, 0.1, 11 + dim);
      const observation = kind === 'mask' ? 'mask' : `A ${dy} x ${dim}`;
      const coordinates = kind === 'mask' ? Array.from({ length: dim }, (_, k) => k).filter((k) => !problem.observed.indices.includes(k)) : undefined;
      const exact = await model.sampleExact(observed, runs, { seed: 77 });
      const floor = (await noiseFloor(model, observed, runs, { coordinates })).floor;
      const sw = (x: Float32Array) => slicedWasserstein(x, exact, dim, { coordinates });
      const common = { score: model, schedule: schedules.ou({ T: 5 }), steps: STEPS, observed, samples: runs, seed: 5 };
      const add = (method: string, particles: number, evaluations: number, sw2: number) => {
        rows.push({ dim, observation, method, particles, evaluations, sw2, floor });
        process.stderr.write(`D=${dim} ${observation} ${method} N=${particles}: ${sw2.toFixed(3)} (floor ${floor.toFixed(3)})\n`);
      };
      for (const particles of [16, 64, 256]) {
        const r = await smc({ ...common, particles });
        add('smc', particles, particles * (r.grid.length - 1), await sw(r.samples));
      }
      for (const particles of [16, 64, 256]) {
        // mcgdiff (docs/MATH.md §9.2), κ = 1e-4, on the same grid construction as smc.
        const r = await mcgdiff({ ...common, particles });
        add('mcgdiff', particles, particles * (r.grid.length - 1), await sw(r.samples));
      }
      for (const gradient of ['exact', 'finite-difference', 'identity', 'none'] as TwistGradient[]) {
        for (const particles of [4, 16]) {
          const r = await tds({ ...common, particles, gradient });
          add(`tds ${gradient}`, particles, particles * r.scoreEvaluations, await sw(r.samples));
        }
      }
      if (kind === 'mask') {
        // Particle Gibbs (docs/MATH.md §11, exact masks only): K/2 chains of GIBBS.sweeps sweeps,
        // two draws each after the burn-in. Cost per draw: the first filter run (N S), then per
        // sweep a conditional SMC run (N S) and the MH refresh's path density (S), over the draws
        // a chain keeps.
        for (const particles of [4, 16, 64]) {
          const r = await particleGibbs({ ...common, samples: runs / 2, particles, ...GIBBS });
          const kept = Math.floor((GIBBS.sweeps - GIBBS.burnIn) / GIBBS.thin);
          add('particle Gibbs', particles, Math.round((particles * STEPS + GIBBS.sweeps * (particles + 1) * STEPS) / kept), await sw(r.samples));
        }
      }
    }
  }
  const cases = [...new Set(rows.map((r) => `${r.dim}|${r.observation}`))].map((k) => ({ dim: Number(k.split('|')[0]), observation: k.split('|')[1] }));
  const verdicts: Verdict[] = cases.map(({ dim, observation }) => {
    const at = rows.filter((r) => r.dim === dim && r.observation === observation);
    const target = at.find((r) => r.method === 'smc' && r.particles === 256)!;
    const best = at.filter((r) => r.method.startsWith('tds') && r.particles <= 16).sort((a, b) => a.sw2 - b.sw2)[0];
    return {
      target: `D = ${dim}, ${observation}: tds with N ≤ 16 reaches smc's SW₂ at N = 256`,
      measured: `tds ${best.method.slice(4)} N = ${best.particles}: ${best.sw2.toFixed(3)} vs smc N = 256: ${target.sw2.toFixed(3)} (floor ${target.floor.toFixed(3)})`,
      met: best.sw2 <= target.sw2 || best.sw2 <= target.floor,
    };
  });
  const table = markdownTable(
    ['D', 'observation', 'method', 'N', 'score evaluations per draw', 'SW₂', 'noise floor', 'SW₂ / floor'],
    rows.map((r) => [r.dim, r.observation, r.method, r.particles, r.evaluations, r.sw2.toFixed(3), r.floor.toFixed(3), (r.sw2 / r.floor).toFixed(2)]),
  );
  const markdown = [
    '## Twisted SMC: accuracy against score evaluations',
    '',
    machineLines(machine),
    '',
    `25-component identity mixture (bench/common.ts identityProblem, variances form); observed: the first D/4 coordinates exactly ("mask", SW₂ over the latent coordinates), or y = A x₀ + 0.1 ε with a random Gaussian A (entries N(0, 1/D), seeded) at x₀ = the first component's mean ("A d_y x D", SW₂ over all coordinates); ou T = 5, ${STEPS} Euler steps (smc with a dense A: the SVD filter's grid of ${STEPS} steps), ${runs} runs with one draw each, against ${runs} exact draws.`,
    '',
    table,
    '',
    ...verdicts.map((v) => `- ${v.met ? 'met' : 'NOT met'}: ${v.target}: ${v.measured}`),
    '',
    READING,
  ].join('\n');
  if (!args.dryRun) fs.writeFileSync(path.join(ROOT, 'docs', 'tds-efficiency.svg'), efficiencyChart(rows.filter((r) => r.observation === 'mask'), dims[dims.length - 1]));
  writeSection({ name: 'tds-efficiency', title: 'Twisted SMC efficiency', machine, verdicts, data: rows }, markdown, args);
}

/** The reading of the recorded run (2026-12-06); the figures are seeded, so a rerun gives them again. */
const READING = [
  'Reading (the run recorded on 2026-12-06). The bootstrap filter `smc` needs N = 256 to come within 3.1–3.7x the noise floor on the masks and on A 2 x 8, and is still 14x above it with A 4 x 80. ' +
    'mcgdiff at the same N and evaluations is better than smc from N = 64 on the D = 8 problems (2.5x and 3.2x the floor at N = 64) and with A 4 x 80 at N = 256 (8.3x against 14x), ' +
    'but worse on the D = 80 mask (13x at N = 64, 3.5x against 3.1x at N = 256), plausibly because 60 of its coordinates are free and its twists steer only the 20 observed ones. ' +
    '`tds` is at 1.4–2.5x the floor from N = 4 on every problem, with 1/64 of smc\'s evaluations at N = 256; its residual does not shrink with N because it is the 100-step discretisation, not Monte Carlo error ' +
    '(tds targets the discretised chain\'s posterior; at D = 8 on the mask with 400 steps, exact gradient and N = 16, its SW₂ was 0.083, below the floor of 0.094, in an earlier run). ' +
    'The exact and finite-difference gradients are the most accurate (finite differences at three times the evaluations); the Jacobian-free `identity` is no better than no gradient here, ' +
    'whose components (variance 1) are far narrower than the spread of the means that the twist\'s τ² = 1 assumes. ' +
    'Particle Gibbs (masks) at N = 64 reaches 2.5x the floor on both D at about 100,000 evaluations per kept draw (30 sweeps, 2 kept per chain): correct but the most expensive here; with N = 4 its chains do not mix in 30 sweeps (32x and 51x).',
].join('');

/** y = A x + σ ε for a seeded Gaussian A (d_y x D, entries N(0, 1/D)) and noise. */
function denseObservation(x: number[], dy: number, noiseStd: number, seed: number): ObservationInput {
  const u = seededUniform(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  const D = x.length;
  const A = Array.from({ length: dy }, () => Array.from({ length: D }, () => normal() / Math.sqrt(D)));
  const y = A.map((row) => row.reduce((a, v, k) => a + v * x[k], 0) + noiseStd * normal());
  return { A, y, noiseStd };
}

const COLORS: Record<string, string> = { smc: '#444', mcgdiff: '#8c564b', 'particle Gibbs': '#9467bd', 'tds exact': '#d62728', 'tds finite-difference': '#ff7f0e', 'tds identity': '#1f77b4', 'tds none': '#2ca02c' };

/** SW₂ / floor against score evaluations per draw at dimension `dim`, one line per method. */
export function efficiencyChart(rows: Row[], dim: number): string {
  const at = rows.filter((r) => r.dim === dim);
  const methods = [...new Set(at.map((r) => r.method))];
  const series: Series[] = methods.map((m) => ({
    label: m === 'smc' ? 'smc (bootstrap)' : m,
    color: COLORS[m] ?? '#999',
    dashed: m === 'smc',
    points: at.filter((r) => r.method === m).map((r) => [r.evaluations, r.sw2 / r.floor] as [number, number]),
  }));
  return lineChart(series, {
    title: `Accuracy per score evaluation, D = ${dim} (25-component mixture)`,
    xLabel: 'score evaluations per draw',
    yLabel: 'SW₂ / noise floor',
    reference: { y: 1, label: 'noise floor' },
  });
}

if (require.main === module) main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
