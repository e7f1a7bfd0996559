// The README's guidance table (docs/MATH.md §12): every guidance setting on the class-conditional
// mixture of test/support/guidance-cases.ts (class 0, K = 1000 draws, 200 Euler steps on OU, T = 5)
// and DPS on the mixture of test/support/dps-cases.ts, measured against the exact laws: SW₂ to
// exact draws and the mode weights (mean responsibilities), mean over seeds.
//
//   node -r ./tools/register-ts.js tools/guidance-table.ts [--seeds 10]
import * as g from '../test/support/guidance-cases';
import * as d from '../test/support/dps-cases';
import { replacement, smc } from '../lib/samplers';
import { schedules } from '../lib/schedules';
import type { ScoreContext } from '../lib/score';

const seeds = Number(process.argv[process.argv.indexOf('--seeds') + 1] || 10);

/** The clean classifier of the mixture: ∇ log p(c | x) = s_c(x) − s_∅(x) at t = 0 (α = 1, σ = 0). */
function cleanClassifier(x0: Float32Array, c: Int32Array, ctx: ScoreContext): Float32Array {
  const out = new Float32Array(x0.length);
  for (let r = 0; r < ctx.rows; r++) {
    const x = x0.subarray(2 * r, 2 * r + 2);
    const sc = g.mixtureScore(c[r], x, 1, 0), s0 = g.mixtureScore(null, x, 1, 0);
    for (let k = 0; k < 2; k++) out[2 * r + k] = sc[k] - s0[k];
  }
  return out;
}

type Run = (seed: number) => Promise<Float32Array>;
const common = (seed: number) => ({ score: g.model(), schedule: schedules.ou(), steps: g.STEPS, observed: g.ROOT, samples: g.K, seed, condition: g.CLASS });
const rows: [string, string, Run, number | null][] = [
  ['conditional model (no guidance)', '—', (s) => replacement(common(s)).then((r) => r.samples), g.CLASS],
  ['CFG', 'w = 0 (vs p₀(x))', (s) => g.cfg(0, s), null],
  ['CFG', 'w = 1', (s) => g.cfg(1, s), g.CLASS],
  ['CFG', 'w = 2', (s) => g.cfg(2, s), g.CLASS],
  ['CFG', 'w = 4', (s) => g.cfg(4, s), g.CLASS],
  ['CFG', 'w = 4, rescale φ = 0.7', (s) => g.cfg(4, s, 0.7), g.CLASS],
  ['CFG, weighted (`smc`, N = 64)', 'w = 4', (s) => g.weightedCfg(4, s), g.CLASS],
  ['classifier, exact noisy p_t(c | x)', 'scale 1', (s) => g.classifier(1, s), g.CLASS],
  ['classifier, exact noisy p_t(c | x)', 'scale 2', (s) => g.classifier(2, s), g.CLASS],
  ['classifier p(c | x̂₀), identity J', 'scale 1', (s) => replacement({ ...common(s), guidance: { kind: 'classifier', scale: 1, classifier: cleanClassifier, jacobian: 'identity' } }).then((r) => r.samples), g.CLASS],
  ['classifier p(c | x̂₀), finite-difference J', 'scale 1', (s) => replacement({ ...common(s), guidance: { kind: 'classifier', scale: 1, classifier: cleanClassifier, jacobian: 'finite-difference' } }).then((r) => r.samples), g.CLASS],
];

(async () => {
  let floor = 0;
  for (let s = 1; s <= seeds; s++) floor += (await g.floor(g.CLASS, s)) / seeds;
  console.log(`class 0: p(x | c) weights ${Array.from(g.exactLaw(g.CLASS).weights).map((w) => w.toFixed(3)).join(' / ')}; SW noise floor (95th pct of 50 exact-vs-exact, K = 1000) ${floor.toFixed(3)}; ${seeds} seeds`);
  console.log('| method | setting | SW₂ to exact | mode weights (exact 0.600 / 0.400) |');
  console.log('| --- | --- | ---: | --- |');
  for (const [name, setting, run, cls] of rows) {
    let sw = 0;
    const w = [0, 0, 0, 0];
    for (let s = 1; s <= seeds; s++) {
      const m = await g.measure(await run(s), s, cls);
      sw += m.sw / seeds;
      m.modes.forEach((x, j) => (w[j] += x.mean / seeds));
    }
    const weights = cls === null ? `${w.map((x) => x.toFixed(3)).join(' / ')} (exact 0.3 / 0.2 / 0.3 / 0.2)` : `${w[0].toFixed(3)} / ${w[1].toFixed(3)}`;
    console.log(`| ${name} | ${setting} | ${sw.toFixed(3)} | ${weights} |`);
  }
  let dfloor = 0;
  for (let s = 1; s <= seeds; s++) dfloor += (await d.floor(s)) / seeds;
  const post = d.exactPosterior().weights;
  console.log(`\nDPS: 3-D mixture, random 2 x 3 A, sigma_y = ${d.NOISE}; posterior weights ${post.map((w) => w.toFixed(3)).join(' / ')}; floor ${dfloor.toFixed(3)}`);
  console.log(`| ζ | J | SW₂ to exact | mode weights (exact ${post.map((w) => w.toFixed(3)).join(' / ')}) |`);
  console.log('| --- | --- | ---: | --- |');
  for (const zeta of [0, 0.03, 0.1, 0.3, 1, 3]) {
    for (const jac of ['exact', 'identity'] as const) {
      if (zeta === 0 && jac === 'identity') continue;
      let sw = 0;
      const w = [0, 0, 0];
      for (let s = 1; s <= seeds; s++) {
        const m = await d.runDps(zeta, s, jac);
        sw += m.sw / seeds;
        m.modes.forEach((x, j) => (w[j] += x.mean / seeds));
      }
      console.log(`| ${zeta} | ${zeta === 0 ? '—' : jac} | ${sw.toFixed(3)} | ${w.map((x) => x.toFixed(3)).join(' / ')} |`);
    }
  }
})();
