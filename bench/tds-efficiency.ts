// Accuracy against score evaluations (docs/MATH.md §10): how close `tds` (each gradient
// source) and `smc` come to the exact posterior for the cost they pay. Problem: the
// 25-component identity-covariance mixture of bench/common.ts identityProblem (the MCGdiff
// benchmark's prior; variances form so the exact twist gradient costs O(J D)), D = 8 and 80,
// the first D/4 coordinates observed exactly; ou T = 5, 100 Euler steps, K independent runs
// with one draw each. The figure is SW₂ (128 directions, latent coordinates) between the K
// draws and K exact posterior draws, beside the exact-vs-exact noise floor at K (95% of 50
// replicates); the cost is score evaluations per draw: N × S for smc, N × the result's
// scoreEvaluations for tds. Not a timing: the figures do not depend on the machine or its load.
//
//   node -r ./tools/register-ts.js bench/tds-efficiency.ts [--quick] [--dry-run]
//
// --quick: D = 8 only and K = 300. Also draws docs/tds-efficiency.svg (not with --dry-run).
import { GaussianMixture, noiseFloor, slicedWasserstein, schedules, smc, tds } from '../lib/index';
import type { TwistGradient } from '../lib/tds';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { identityProblem, machineLines, machineRecord, markdownTable, parseScriptArgs, writeSection, Verdict, ROOT } from './common';
import { lineChart, Series } from './svg-chart';

const STEPS = 100;

interface Row {
  dim: number;
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
    const observed = problem.observed;
    const latent = Array.from({ length: dim }, (_, k) => k).filter((k) => !observed.indices.includes(k));
    const exact = await model.sampleExact(observed, runs, { seed: 77 });
    const floor = (await noiseFloor(model, observed, runs, { coordinates: latent })).floor;
    const sw = (x: Float32Array) => slicedWasserstein(x, exact, dim, { coordinates: latent });
    const common = { score: model, schedule: schedules.ou({ T: 5 }), steps: STEPS, observed, samples: runs, seed: 5 };
    for (const particles of [16, 64, 256]) {
      const r = await smc({ ...common, particles });
      rows.push({ dim, method: 'smc', particles, evaluations: particles * STEPS, sw2: await sw(r.samples), floor });
      process.stderr.write(`D=${dim} smc N=${particles}: ${rows[rows.length - 1].sw2.toFixed(3)} (floor ${floor.toFixed(3)})\n`);
    }
    for (const gradient of ['exact', 'finite-difference', 'identity', 'none'] as TwistGradient[]) {
      for (const particles of [4, 16]) {
        const r = await tds({ ...common, particles, gradient });
        rows.push({ dim, method: `tds ${gradient}`, particles, evaluations: particles * r.scoreEvaluations, sw2: await sw(r.samples), floor });
        process.stderr.write(`D=${dim} tds ${gradient} N=${particles}: ${rows[rows.length - 1].sw2.toFixed(3)}\n`);
      }
    }
  }
  const verdicts: Verdict[] = dims.map((dim) => {
    const target = rows.find((r) => r.dim === dim && r.method === 'smc' && r.particles === 256)!;
    const best = rows.filter((r) => r.dim === dim && r.method.startsWith('tds') && r.particles <= 16).sort((a, b) => a.sw2 - b.sw2)[0];
    return {
      target: `D = ${dim}: tds with N ≤ 16 reaches smc's SW₂ at N = 256`,
      measured: `tds ${best.method.slice(4)} N = ${best.particles}: ${best.sw2.toFixed(3)} vs smc N = 256: ${target.sw2.toFixed(3)} (floor ${target.floor.toFixed(3)})`,
      met: best.sw2 <= target.sw2 || best.sw2 <= target.floor,
    };
  });
  const table = markdownTable(
    ['D', 'method', 'N', 'score evaluations per draw', 'SW₂', 'noise floor', 'SW₂ / floor'],
    rows.map((r) => [r.dim, r.method, r.particles, r.evaluations, r.sw2.toFixed(3), r.floor.toFixed(3), (r.sw2 / r.floor).toFixed(2)]),
  );
  const markdown = [
    '## Twisted SMC: accuracy against score evaluations',
    '',
    machineLines(machine),
    '',
    `25-component identity mixture (bench/common.ts identityProblem, variances form), first D/4 coordinates observed exactly, ou T = 5, ${STEPS} Euler steps, ${runs} runs with one draw each, SW₂ over the latent coordinates against ${runs} exact draws.`,
    '',
    table,
    '',
    ...verdicts.map((v) => `- ${v.met ? 'met' : 'NOT met'}: ${v.target}: ${v.measured}`),
  ].join('\n');
  if (!args.dryRun) fs.writeFileSync(path.join(ROOT, 'docs', 'tds-efficiency.svg'), efficiencyChart(rows, dims[dims.length - 1]));
  writeSection({ name: 'tds-efficiency', title: 'Twisted SMC efficiency', machine, verdicts, data: rows }, markdown, args);
}

const COLORS: Record<string, string> = { smc: '#444', 'tds exact': '#d62728', 'tds finite-difference': '#ff7f0e', 'tds identity': '#1f77b4', 'tds none': '#2ca02c' };

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
