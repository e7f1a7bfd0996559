// Calibration of the statistical tests (opt-in, not part of `npm test`): reruns each test's
// statistics (test/support/*-cases.ts) over many seeds and reports, per test, the margin of
// its tightest check in standard deviations and the false-failure rate two fits give.
//
//   node -r ./tools/register-ts.js tools/calibrate.ts [--seeds 200] [--first 100000]
//        [--only REGEX] [--raw FILE.jsonl] [--report FILE.md]
//
// Raw values are appended to the --raw file (one JSON line per case and seed), and seeds
// already there are skipped, so a long run can be stopped and resumed; the report is
// rebuilt from everything in the file.
//
// Per check, over the seeds: mean m and sd s of its value. Margin: (bound − m)/s for an
// upper bound, (m − bound)/s for a lower one, and min((b − m)/s, (b + m)/s) for |value| ≤ b.
// Rates: (1) the normal fit, the tail of N(m, s²) beyond the bound(s); (2) an exponential
// tail fitted to the worst 10% of the seeds (badness over its 90th percentile u, mean
// excess e: P ≈ 0.1 exp(−(B − u)/e)), heavier than the normal for light-tailed statistics
// and so the conservative one. A test fails when any of its checks fails: its rate is the
// sum over its checks (a union bound), reported for both fits, with the seeds that failed.
import * as fs from 'node:fs';
import { Check, StatCase, passes, normalTail } from '../test/support/checks';
import { KALMAN_CASES } from '../test/support/kalman-cases';
import { TRANSITION_CASES } from '../test/support/transition-cases';
import { CORRECTOR_CASES } from '../test/support/corrector-cases';
import { CHOICE_CASE } from '../test/support/output-choice';
import { MIXTURE_CASES } from '../test/support/mixture-cases';
import { TDS_CASES } from '../test/support/tds-cases';
import { SVD_FILTER_CASES, MIXTURE_FLOOR_CASES, CONVERGENCE_CASE } from '../test/support/svd-filter-cases';
import { T1_CASES, T3_CASES, EVIDENCE_ONLY_CASE, GEWEKE_CASES } from '../test/support/gibbs-cases';
import { MIXTURE_CHAIN_CASE } from '../test/support/gibbs-mixture';
import { GUIDANCE_CASES } from '../test/support/guidance-cases';
import { DPS_CASES } from '../test/support/dps-cases';
import { FPS_MIXTURE_CASES } from '../test/support/fps-cases';
import { MCGDIFF_CASES, MCGDIFF_CONVERGENCE_CASES, MCGDIFF_MIXTURE_CASES } from '../test/support/mcgdiff-cases';

const ALL: StatCase[] = [
  ...KALMAN_CASES, ...TRANSITION_CASES, ...CORRECTOR_CASES, CHOICE_CASE, ...MIXTURE_CASES, ...SVD_FILTER_CASES, ...MIXTURE_FLOOR_CASES, CONVERGENCE_CASE,
  ...TDS_CASES, ...T1_CASES, ...T3_CASES, EVIDENCE_ONLY_CASE, ...GEWEKE_CASES, MIXTURE_CHAIN_CASE,
  ...GUIDANCE_CASES, ...DPS_CASES,
  ...MCGDIFF_CASES, ...MCGDIFF_CONVERGENCE_CASES, ...MCGDIFF_MIXTURE_CASES, ...FPS_MIXTURE_CASES,
];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

interface Row {
  name: string;
  seed: number;
  checks: Check[];
}

interface CheckStats {
  name: string;
  side: Check['side'];
  bound: number;
  n: number;
  mean: number;
  sd: number;
  margin: number;
  normalRate: number;
  tailRate: number;
  failed: number;
}

/** How bad a value is, oriented so that the check fails when badness > B (returned with B). */
function badness(c: Check, v: number): number {
  if (c.side === 'abs') return Math.abs(v);
  if (c.side === 'upper') return v;
  return -v;
}

export function checkStats(name: string, values: number[], proto: Check): CheckStats {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(n - 1, 1));
  const b = proto.bound;
  const failed = values.filter((v) => !passes({ ...proto, value: v })).length;
  let margin: number, normalRate: number;
  if (!(sd > 0)) {
    const ok = failed === 0;
    margin = ok ? Infinity : -Infinity;
    normalRate = ok ? 0 : 1;
  } else if (proto.side === 'abs') {
    const hi = (b - mean) / sd, lo = (b + mean) / sd;
    margin = Math.min(hi, lo);
    normalRate = normalTail(hi) + normalTail(lo);
  } else if (proto.side === 'upper') {
    margin = (b - mean) / sd;
    normalRate = normalTail(margin);
  } else {
    margin = (mean - b) / sd;
    normalRate = normalTail(margin);
  }
  // exponential tail over the worst 10% of the seeds
  const bad = values.map((v) => badness(proto, v)).sort((x, y) => x - y);
  const B = proto.side === 'lower' ? -b : b;
  const k = Math.max(Math.floor(0.9 * n), 1);
  const u = bad[k - 1];
  const excess = bad.slice(k).map((x) => x - u);
  const e = excess.length ? excess.reduce((a, x) => a + x, 0) / excess.length : 0;
  let tailRate: number;
  if (!(e > 0)) tailRate = failed > 0 ? failed / n : 0;
  else tailRate = B <= u ? Math.max((n - k) / n, failed / n) : ((n - k) / n) * Math.exp(-(B - u) / e);
  return { name, side: proto.side, bound: b, n, mean, sd, margin, normalRate, tailRate, failed };
}

function fmtRate(r: number): string {
  if (r === 0) return '0';
  if (r < 1e-15) return '< 1e-15';
  return r.toExponential(1);
}

/** The report; `protos` (one fresh run per case) give the current bounds, matched by check name. */
export function report(rows: Row[], protos: Map<string, Check[]>): string {
  const byCase = new Map<string, Row[]>();
  for (const r of rows) {
    let list = byCase.get(r.name);
    if (!list) byCase.set(r.name, (list = []));
    list.push(r);
  }
  const lines = [
    '| test | seeds | tightest check | margin (sd) | rate, normal fit | rate, exp. tail fit | seeds failed |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: |',
  ];
  const details: string[] = [];
  for (let [name, list] of byCase) {
    const stats: CheckStats[] = [];
    const current = protos.get(name) ?? list[0].checks;
    for (const proto of current) {
      const values = list.map((r) => r.checks.find((c) => c.name === proto.name)?.value).filter((v): v is number => typeof v === 'number');
      stats.push(checkStats(proto.name, values, proto));
    }
    list = list.map((r) => ({ ...r, checks: r.checks.map((c) => ({ ...c, bound: current.find((p) => p.name === c.name)?.bound ?? c.bound })) }));
    const tight = stats.reduce((a, s) => (s.margin < a.margin ? s : a), stats[0]);
    const normal = stats.reduce((a, s) => a + s.normalRate, 0), tail = stats.reduce((a, s) => a + s.tailRate, 0);
    const failedSeeds = list.filter((r) => r.checks.some((c) => !passes(c))).length;
    lines.push(`| ${name} | ${list.length} | ${tight.name} | ${tight.margin.toFixed(1)} | ${fmtRate(normal)} | ${fmtRate(tail)} | ${failedSeeds} |`);
    details.push(`\n### ${name}\n\n| check | mean | sd | bound | margin (sd) | normal | exp. tail | failed |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
    for (const s of stats) {
      if (!(s.sd > 0) && s.failed === 0) continue; // deterministic and passing
      details.push(`| ${s.name} | ${s.mean.toPrecision(3)} | ${s.sd.toPrecision(2)} | ${s.side === 'abs' ? '±' : s.side === 'upper' ? '≤ ' : '≥ '}${s.bound} | ${s.margin.toFixed(1)} | ${fmtRate(s.normalRate)} | ${fmtRate(s.tailRate)} | ${s.failed} |`);
    }
  }
  return lines.join('\n') + '\n' + details.join('\n') + '\n';
}

async function main() {
  const seeds = Number(arg('seeds', '200'));
  const first = Number(arg('first', '100000'));
  const only = new RegExp(arg('only', '.'));
  const rawFile = arg('raw', 'calibration.jsonl');
  const reportFile = arg('report', '');
  const rows: Row[] = fs.existsSync(rawFile)
    ? fs.readFileSync(rawFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row)
    : [];
  const done = new Set(rows.map((r) => `${r.name}\u0000${r.seed}`));
  for (const c of ALL.filter((c) => only.test(c.name))) {
    const started = Date.now();
    let ran = 0;
    for (let s = first; s < first + seeds; s++) {
      if (done.has(`${c.name}\u0000${s}`)) continue;
      const checks = await c.run(s);
      const row: Row = { name: c.name, seed: s, checks };
      fs.appendFileSync(rawFile, JSON.stringify(row) + '\n');
      rows.push(row);
      ran++;
    }
    if (ran) process.stderr.write(`${c.name}: ${ran} seeds in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  }
  // current bounds: one run of each case at its test seed
  const protos = new Map<string, Check[]>();
  for (const c of ALL.filter((c) => only.test(c.name))) protos.set(c.name, await c.run(c.seed));
  const text = report(rows.filter((r) => only.test(r.name)), protos);
  if (reportFile) fs.writeFileSync(reportFile, text);
  process.stdout.write(text);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
