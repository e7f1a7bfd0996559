// The built-in mixture's score alone, one thread, in checkouts side by side: the median of
// 15 calls (after 5 warm-up calls) of GaussianMixture.scoreInto on 10^5 rows, per checkout
// and structure, each checkout in a fresh process, alternating. For A/Bs of the score kernels.
//
//   node -r ./tools/register-ts.js bench/score-alone.ts <checkout> [<checkout> ...] [--rounds 2]
//
// Structures: 'dense' (random full covariances, D = 8), 'isotropic' (identity covariances
// given as matrices, D = 80) and 'diagonal' (D = 80); J = 25 components.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { median, randomMixtureSource } from './common';

const SCRIPT = (D: number, structure: string) => `
  const c = require('./lib/index');
  const D = ${D}, N = 100000;
  ${randomMixtureSource(D, 25)}
  if ('${structure}' === 'isotropic') spec.covariances = spec.covariances.map((C) => C.map((r, a) => r.map((x, b) => (a === b ? 1 : 0))));
  if ('${structure}' === 'diagonal') spec.covariances = spec.covariances.map((C) => C.map((r, a) => r.map((x, b) => (a === b ? x : 0))));
  const model = c.GaussianMixture.fromJSON(spec);
  // On a SharedArrayBuffer: used in place by scoreInto, as a sampler's own arrays are.
  const shared = (n) => new Float32Array(new SharedArrayBuffer(4 * n));
  const z = shared(N * D), out = shared(N * D);
  for (let k = 0; k < z.length; k++) z[k] = 4 * u() - 2;
  (async () => {
    const ctx = { t: 1, alpha: 0.6, sigma: 0.8, rows: N, dim: D, rowOffset: 0 };
    for (let k = 0; k < 5; k++) await model.scoreInto(z, ctx, out, 1);
    const ts = [];
    for (let k = 0; k < 15; k++) { const t0 = performance.now(); await model.scoreInto(z, ctx, out, 1); ts.push(performance.now() - t0); }
    ts.sort((a, b) => a - b);
    console.log(ts[7]);
  })();`;

const args = process.argv.slice(2);
const r = args.indexOf('--rounds');
const rounds = r >= 0 ? Number(args[r + 1]) : 2;
const roots = args.filter((_, i) => i !== r && i !== r + 1).map((x) => path.resolve(x));
if (roots.length === 0) throw new Error('usage: bench/score-alone.ts <checkout> [<checkout> ...] [--rounds 2]');
console.log('| structure | D | ' + roots.map((x) => `${path.basename(x)} (ms per call, median of rounds)`).join(' | ') + ' |');
console.log('| --- | --- | ' + roots.map(() => '---').join(' | ') + ' |');
for (const [structure, D] of [['dense', 8], ['isotropic', 80], ['diagonal', 80]] as const) {
  const times: number[][] = roots.map(() => []);
  for (let k = 0; k < rounds; k++) {
    roots.forEach((root, i) => {
      const out = execFileSync(process.execPath, ['-r', path.join(root, 'tools/register-ts.js'), '-e', SCRIPT(D, structure)], { cwd: root, encoding: 'utf8' });
      times[i].push(Number(out.trim()));
    });
  }
  console.log(`| ${structure} | ${D} | ${times.map((t) => median(t).toFixed(2)).join(' | ')} |`);
}
