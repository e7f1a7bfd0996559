// The cost of a dense observation operator (docs/MATH.md §8, §9.1): particle-steps per second
// of `smc` with y = A x + σ ε for a random dense A (d_y = 4 and 16, σ = 0.1) against the
// exact-mask filter on the same mixture (D = 64, J = 10 full covariances, bench/common.ts
// mixtureProblem), 2 threads. The configurations alternate trial by trial in one process and
// each cell is the median of the trials, so a busy machine slows them alike. Goal: the dense
// observation costs at most 25% more per particle-step than the mask.
//
//   node -r ./tools/register-ts.js bench/observation-speed.ts [--quick] [--dry-run]
import { GaussianMixture, schedules, smc } from '../lib/index';
import { machineLines, machineRecord, markdownTable, median, mixtureProblem, parseScriptArgs, seededUniform, writeSection, Verdict } from './common';

async function main(): Promise<void> {
  const args = parseScriptArgs();
  const trials = args.quick ? 3 : 7;
  const machine = machineRecord();
  const D = 64, particles = 1000, samples = 10, steps = 40;
  const problem = mixtureProblem(D, 10);
  const model = GaussianMixture.fromJSON(problem.model);
  const u = seededUniform(7);
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  const dense = (dy: number) => {
    const A = Array.from({ length: dy }, () => Array.from({ length: D }, () => normal() / Math.sqrt(D)));
    const x0 = problem.model.means[0];
    const y = A.map((row) => row.reduce((a, v, k) => a + v * x0[k], 0));
    return { A, y, noiseStd: 0.1 };
  };
  const configs: Array<{ name: string; observed: object }> = [
    { name: `exact mask (${problem.observed.indices.length} coordinates)`, observed: problem.observed },
    { name: 'dense A, d_y = 4, σ = 0.1', observed: dense(4) },
    { name: 'dense A, d_y = 16, σ = 0.1', observed: dense(16) },
  ];
  const times: number[][] = configs.map(() => []);
  // Warm up once each, then alternate.
  for (const c of configs) await smc({ score: model, schedule: schedules.ou(), observed: c.observed as never, particles, samples, threads: 2, seed: 1, steps: 30 } as never);
  for (let t = 0; t < trials; t++) {
    for (const [i, c] of configs.entries()) {
      const r = await smc({ score: model, schedule: schedules.ou(), steps, observed: c.observed as never, particles, samples, threads: 2, seed: 1 + t });
      // The SVD filter builds its own grid (docs/MATH.md §9.1): count the steps it ran.
      times[i].push((particles * samples * (r.grid.length - 1)) / r.seconds);
      process.stderr.write(`${c.name}: ${(times[i][t] / 1e6).toFixed(3)}M particle-steps/s (${r.grid.length - 1} steps)\n`);
    }
  }
  const rates = times.map(median);
  const verdicts: Verdict[] = configs.slice(1).map((c, i) => ({
    target: `${c.name}: at most 25% more time per particle-step than the exact mask`,
    measured: `${((rates[0] / rates[i + 1] - 1) * 100).toFixed(1)}% more`,
    met: rates[0] / rates[i + 1] <= 1.25,
  }));
  const markdown = [
    '## Dense observation operators: smc throughput against the exact mask',
    '',
    machineLines(machine),
    '',
    `D = 64, J = 10 full-covariance mixture (bench/common.ts mixtureProblem), smc with ${particles} particles x ${samples} runs, ${steps} steps (the SVD filter's own grid for the dense A), 2 threads; median of ${trials} alternating trials.`,
    '',
    markdownTable(['observation', 'particle-steps/s', 'time per particle-step vs the mask'], configs.map((c, i) => [c.name, `${(rates[i] / 1e6).toFixed(3)}M`, i === 0 ? '1' : `${(rates[0] / rates[i]).toFixed(3)}x`])),
    '',
    ...verdicts.map((v) => `- ${v.met ? 'met' : 'NOT met'}: ${v.target}: ${v.measured}`),
  ].join('\n');
  writeSection({ name: 'observation-speed', title: 'Dense observation operators', machine, verdicts, data: { configs: configs.map((c) => c.name), rates } }, markdown, args);
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
