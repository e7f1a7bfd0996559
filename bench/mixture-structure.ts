// The mixture score at the speed of its structure (MATH.md §7): particle-steps per second of
// `smc` and `replacement` on the 25-component MCGdiff mixture with identity covariances given
// as full D x D matrices (bench/common.ts identityProblem), D = 8, 80, 800, on 2 threads:
//   after   condiff as it is: the structure detection picks the isotropic score path;
//   before  the same model with one off-diagonal entry of component 0 moved by 4 τ
//           (τ = 2⁻²⁴, the rules' tolerance), which makes the dense path run: the path every
//           full-matrix model took before the detection existed;
//   numpy   bench/peers/numpy_smc.py (OpenBLAS on 2 threads where it is installed);
//   torch   bench/peers/torch_smc.py (torch.set_num_threads(2)).
// All four in the same sitting, each cell the median over fresh processes; each trial warms
// up, picks its steps for about TARGET_SECONDS and times one sampler call. Then the score
// alone on every path against the FMA peak (bench/fma-probe.ts) on 2 threads and, where the
// CPU has AVX-512, the same calls with the kernels capped at AVX2 (CONDIFF_MAX_ISA=avx2: the
// build an AVX2-only CPU runs, timed here on this CPU's cores).
//
//   node -r ./tools/register-ts.js bench/mixture-structure.ts [--quick] [--dry-run] [--any-blas]
//
// --quick: 3 trials per cell instead of 5. Python: $PYTHON, else /usr/bin/python3 (Debian's
// python3-numpy and python3-torch, with libopenblas0-pthread: with the reference BLAS that
// python3-numpy alone pulls in, NumPy's products run on one thread and several times slower,
// which is not the peer the issue names, so the script stops unless given --any-blas). BENCH_SMOKE=1: tiny shapes, one trial, short calls, to
// check the script end to end (with --dry-run; its figures mean nothing).
import * as os from 'node:os';
import * as path from 'node:path';
import { GaussianMixture, GaussianMixtureSpec, replacement, schedules, smc } from '../lib/index';
import { nativeBuild } from '../lib/native';
import { measureBroadcastCeiling, measureFmaPeak } from './fma-probe';
import {
  ROOT,
  TRIALS,
  answerTrial,
  identityProblem,
  machineLines,
  machineRecord,
  markdownTable,
  median,
  parseScriptArgs,
  progress,
  runMeasured,
  runTrial,
  seededUniform,
  sharedFloat32,
  sig,
  writeSection,
  Verdict,
} from './common';

const THREADS = 2;
const COMPONENTS = 25;
const HORIZON = 5;
const SMOKE = process.env.BENCH_SMOKE === '1';
const TARGET_SECONDS = SMOKE ? 0.2 : 2;
const TAU = 2 ** -24;
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';
/** Particles x runs per D: the RESULTS.md §2 NumPy shape at D = 8, the issue's at D = 80. */
const SHAPES = SMOKE
  ? [
      { dim: 8, particles: 16, runs: 10 },
      { dim: 80, particles: 16, runs: 10 },
    ]
  : [
      { dim: 8, particles: 256, runs: 100 },
      { dim: 80, particles: 16, runs: 4000 },
      { dim: 800, particles: 16, runs: 400 },
    ];
const METHODS = ['smc', 'replacement'] as const;
type Method = (typeof METHODS)[number];
const IMPLS = ['after', 'before', 'numpy', 'torch'] as const;
type Impl = (typeof IMPLS)[number];
const GOALS = { numpy: 15, fastestPeerAtD8: 50 };

interface SamplerSpec {
  kind: 'sampler';
  impl: 'after' | 'before';
  method: Method;
  dim: number;
  particles: number;
  runs: number;
}
interface ScoreSpec {
  kind: 'score';
  structure: ScoreCase;
  dim: number;
  rows: number;
}
type TrialSpec = SamplerSpec | ScoreSpec;

interface Rate {
  rate: number;
  steps: number;
  path?: string;
}

/** The model: identity matrices, or (before) nudged past the tolerance onto the dense path. */
function model(dim: number, nudge: boolean): { model: GaussianMixture; observed: { indices: number[]; values: number[] } } {
  const problem = identityProblem(dim, COMPONENTS);
  const spec = problem.model as GaussianMixtureSpec & { covariances: number[][][] };
  if (nudge) {
    const c = spec.covariances[0].map((row) => [...row]);
    c[0][1] = c[1][0] = 4 * TAU; // a correlation of 4 τ: not diagonal, not shared
    spec.covariances = [c, ...spec.covariances.slice(1)];
  }
  return { model: GaussianMixture.fromJSON(spec), observed: problem.observed };
}

async function samplerTrial(spec: SamplerSpec): Promise<Rate> {
  const { model: m, observed } = model(spec.dim, spec.impl === 'before');
  const rows = spec.particles * spec.runs;
  const common = { score: m, schedule: schedules.ou({ T: HORIZON }), observed, threads: THREADS, seed: 1 };
  const run = (steps: number) =>
    spec.method === 'smc' ? smc({ ...common, steps, particles: spec.particles, samples: spec.runs }) : replacement({ ...common, steps, samples: rows });
  const warm = await run(2);
  const steps = Math.max(2, Math.min(2000, Math.round(TARGET_SECONDS / (warm.seconds / 2))));
  const timed = await run(steps);
  return { rate: (rows * steps) / timed.seconds, steps, path: m.scorePath };
}

// ---- The score alone against the FMA peak ----

type ScoreCase = 'identity' | 'diagonal' | 'shared diagonal' | 'shared dense' | 'dense';
const SCORE_CASES: { structure: ScoreCase; dims: number[] }[] = [
  { structure: 'identity', dims: SMOKE ? [8] : [8, 80, 800] },
  { structure: 'diagonal', dims: SMOKE ? [8] : [8, 80, 800] },
  { structure: 'shared diagonal', dims: SMOKE ? [8] : [8, 80, 800] },
  { structure: 'shared dense', dims: SMOKE ? [8] : [8, 80] },
  { structure: 'dense', dims: SMOKE ? [8] : [8, 80] },
];

/** J = 25 components of the given structure (means of identityProblem), as full matrices. */
function scoreModel(structure: ScoreCase, dim: number): GaussianMixture {
  const u = seededUniform(dim);
  const base = identityProblem(dim, COMPONENTS).model;
  const eye = (v: (i: number) => number) => Array.from({ length: dim }, (_, i) => Array.from({ length: dim }, (_, k) => (i === k ? v(i) : 0)));
  const dense = () => {
    const b = Array.from({ length: dim * dim }, () => 2 * u() - 1);
    return Array.from({ length: dim }, (_, i) =>
      Array.from({ length: dim }, (_, k) => {
        let s = 0;
        for (let l = 0; l < dim; l++) s += b[i * dim + l] * b[k * dim + l];
        return s / dim + (i === k ? 0.5 : 0);
      }),
    );
  };
  const shared = structure === 'shared dense' ? dense() : eye(() => 0.5 + u());
  const covariances = Array.from({ length: COMPONENTS }, () => {
    if (structure === 'identity') return eye(() => 1);
    if (structure === 'diagonal') return eye(() => 0.5 + u());
    if (structure === 'dense') return dense();
    return shared;
  });
  return GaussianMixture.fromJSON({ weights: base.weights, means: base.means, covariances });
}

/** Multiply-adds per row of each path (lib/mixture.ts ScorePath). */
function multiplyAdds(m: GaussianMixture): number {
  const d = m.dim, j = m.components;
  switch (m.scorePath) {
    case 'isotropic': return 2 * j * d;
    case 'diagonal': return 4 * j * d;
    case 'shared': return (m.structure === 'shared dense' ? d * d : d) + 2 * j * d;
    default: return j * d * d;
  }
}

async function scoreTrial(spec: ScoreSpec): Promise<{ secondsPerCall: number; gflops: number; path: string }> {
  const m = scoreModel(spec.structure, spec.dim);
  const u = seededUniform(3);
  // On a SharedArrayBuffer: used in place, as the sampler's own arrays are (no copies timed).
  const z = sharedFloat32(spec.rows * spec.dim);
  for (let k = 0; k < z.length; k++) z[k] = 16 * u() - 8;
  const out = sharedFloat32(z.length);
  const t = 1;
  const context = { t, alpha: Math.exp(-t), sigma: Math.sqrt(1 - Math.exp(-2 * t)), rows: spec.rows, dim: spec.dim };
  await m.scoreInto(z, context, out, THREADS);
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 5 || (performance.now() - start < 1000 * TARGET_SECONDS && times.length < 200)) {
    const t0 = performance.now();
    await m.scoreInto(z, context, out, THREADS);
    times.push((performance.now() - t0) / 1000);
  }
  const secondsPerCall = median(times);
  return { secondsPerCall, gflops: (2 * spec.rows * multiplyAdds(m)) / secondsPerCall / 1e9, path: m.scorePath };
}

// ---- The sitting ----

interface Cell {
  rates: number[];
  steps: number[];
  loads: number[];
  path?: string;
}

async function peer(impl: 'numpy' | 'torch', method: Method, shape: (typeof SHAPES)[number], seconds: number): Promise<Rate> {
  const script = path.join(ROOT, 'bench', 'peers', `${impl}_smc.py`);
  const argv = [script, '--method', method, '--dim', String(shape.dim), '--components', String(COMPONENTS), '--particles', String(shape.particles), '--runs', String(shape.runs), '--seconds', String(seconds), '--threads', String(THREADS)];
  const r = await runMeasured<{ rate: number; steps: number }>(PYTHON, argv);
  return { rate: r.result.rate, steps: r.result.steps };
}

function pythonVersions(): string {
  try {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    const code = 'import numpy, torch, sys; sys.path.insert(0, "bench/peers"); from problem import blas_library; import numpy as np; np.ones(4) @ np.ones(4); print(f"NumPy {numpy.__version__} ({blas_library()}), PyTorch {torch.__version__}, Python {sys.version.split()[0]}")';
    return execFileSync(PYTHON, ['-c', code], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch (e) {
    return `not available (${(e as Error).message.split('\n')[0]})`;
  }
}

async function main(): Promise<void> {
  const args = parseScriptArgs();
  if (args.trial !== undefined) {
    const spec = args.trial as TrialSpec;
    await answerTrial(() => (spec.kind === 'sampler' ? samplerTrial(spec) : scoreTrial(spec)));
    return;
  }
  const trials = SMOKE ? 1 : args.quick ? 3 : TRIALS;
  process.env.PYTHONDONTWRITEBYTECODE = '1'; // no __pycache__ in bench/peers
  const machine = machineRecord();
  const versions = pythonVersions();
  if (!SMOKE && !process.argv.includes('--any-blas') && !/openblas|mkl|blis/i.test(versions)) {
    throw new Error(`NumPy does not run on an optimised BLAS (${versions}): install Debian's libopenblas0-pthread, or pass --any-blas to measure this peer anyway`);
  }
  const cells = new Map<string, Cell>();
  const key = (impl: Impl, method: Method, dim: number) => `${impl} ${method} ${dim}`;
  // Rotate the implementations within each trial round, so a busy spell hits all of them.
  for (let t = 0; t < trials; t++) {
    for (const shape of SHAPES) {
      for (const method of METHODS) {
        for (const impl of IMPLS) {
          progress(`trial ${t + 1}/${trials}: ${impl} ${method} D=${shape.dim}`);
          const load = os.loadavg()[0];
          const r =
            impl === 'numpy' || impl === 'torch'
              ? await peer(impl, method, shape, TARGET_SECONDS + 1)
              : (await runTrial<Rate>(__filename, { kind: 'sampler', impl, method, ...shape } satisfies SamplerSpec)).result;
          const cell = cells.get(key(impl, method, shape.dim)) ?? { rates: [], steps: [], loads: [] };
          cell.rates.push(r.rate);
          cell.steps.push(r.steps);
          cell.loads.push(load);
          cell.path = r.path ?? cell.path;
          cells.set(key(impl, method, shape.dim), cell);
        }
      }
    }
  }
  const peak = await measureFmaPeak([THREADS], { seconds: 0.5 });
  const ceiling = await measureBroadcastCeiling([THREADS]);
  const scoreRows: (string | number)[][] = [];
  const capAvx2 = nativeBuild.instructionSet === 'avx512';
  for (const c of SCORE_CASES) {
    for (const dim of c.dims) {
      const rows = SMOKE ? 256 : dim === 800 ? 6400 : 64000;
      const runs: { secondsPerCall: number; gflops: number; path: string }[] = [];
      const loads: number[] = [];
      for (let t = 0; t < trials; t++) {
        progress(`score ${c.structure} D=${dim} (${t + 1}/${trials})`);
        loads.push(os.loadavg()[0]);
        runs.push((await runTrial<{ secondsPerCall: number; gflops: number; path: string }>(__filename, { kind: 'score', structure: c.structure, dim, rows } satisfies ScoreSpec)).result);
      }
      const g = median(runs.map((r) => r.gflops));
      const perCall = median(runs.map((r) => r.secondsPerCall));
      // The AVX2 build of the same kernels, in processes of their own (the cap is read once).
      const avx2: number[] = [];
      for (let t = 0; t < (capAvx2 ? trials : 0); t++) {
        progress(`score ${c.structure} D=${dim}, AVX2 build (${t + 1}/${trials})`);
        const spec = { kind: 'score', structure: c.structure, dim, rows } satisfies ScoreSpec;
        avx2.push((await runTrial<{ secondsPerCall: number }>(__filename, spec, ['env', 'CONDIFF_MAX_ISA=avx2'])).result.secondsPerCall);
      }
      scoreRows.push([
        c.structure,
        runs[0].path,
        dim,
        rows,
        `${sig(3)(perCall * 1e3)} ms`,
        sig(3)(g),
        `**${Math.round((100 * g) / peak.gflops[THREADS])}%**`,
        // The dense kernel's products take vector operands; only the structured paths are
        // bounded by the broadcast loop.
        ceiling === null || runs[0].path === 'dense' ? '' : `${Math.round((100 * g) / ceiling[THREADS])}%`,
        ...(capAvx2 ? [`${sig(3)(median(avx2) * 1e3)} ms`, `${sig(3)(median(avx2) / perCall)}×`] : []),
        sig(2)(median(loads)),
      ]);
    }
  }
  progress('');
  const fmt = (x: number) => `${sig(3)(x / 1e6)}M`;
  const rate = (impl: Impl, method: Method, dim: number) => median(cells.get(key(impl, method, dim))!.rates);
  const verdicts: Verdict[] = [];
  const tableRows: (string | number)[][] = [];
  for (const shape of SHAPES) {
    for (const method of METHODS) {
      const [after, before, numpy, torch] = IMPLS.map((i) => rate(i, method, shape.dim));
      const load = median(IMPLS.flatMap((i) => cells.get(key(i, method, shape.dim))!.loads));
      const fastest = Math.max(numpy, torch);
      tableRows.push([
        shape.dim,
        method,
        `${shape.particles} × ${shape.runs}`,
        fmt(after),
        fmt(before),
        fmt(numpy),
        fmt(torch),
        `${sig(3)(after / before)}×`,
        `**${sig(3)(after / numpy)}×**`,
        `${sig(3)(after / torch)}×`,
        sig(2)(load),
        IMPLS.map((i) => median(cells.get(key(i, method, shape.dim))!.steps)).join(' / '),
      ]);
      if (shape.dim === 8) {
        verdicts.push({ target: `${method}, D=8, J=25: ≥ ${GOALS.fastestPeerAtD8}× the faster of NumPy and PyTorch, 2 threads`, measured: `${sig(3)(after / fastest)}× (${fmt(after)} vs ${fmt(fastest)})`, met: after / fastest >= GOALS.fastestPeerAtD8 });
      } else {
        verdicts.push({ target: `${method}, D=${shape.dim}, J=25: ≥ ${GOALS.numpy}× NumPy, 2 threads`, measured: `${sig(3)(after / numpy)}× (${fmt(after)} vs ${fmt(numpy)})`, met: after / numpy >= GOALS.numpy });
      }
    }
  }
  const pathNote = [...new Set(SHAPES.map((s) => cells.get(key('after', 'smc', s.dim))!.path))].join(', ');
  const markdown = `## 7. The mixture score at the speed of its structure

${machineLines(machine, os.loadavg())}
- Peers: ${versions}; \`bench/peers/numpy_smc.py\` and \`bench/peers/torch_smc.py\`, run with \`${PYTHON}\`.
- Problem: bench/common.ts \`identityProblem\`: the 25-component mixture of the MCGdiff benchmark
  (means 8 (i, j, i, j, …), i, j ∈ {−2, …, 2}), identity covariances given as full D × D
  matrices, the first D/4 coordinates observed; OU schedule T = ${HORIZON}, Euler kernel; \`smc\`
  resamples (systematic) at every step; \`replacement\` with \`samples\` = particles × runs.
- after: condiff as built (the structure detection picks the ${pathNote} path). before: the
  same model with one off-diagonal pair of component 0 moved by 4τ (τ = 2⁻²⁴), which the
  rules call dense: the dense path, which every full-matrix model ran before.
- Each cell: particle-steps/s of one timed call after a warm-up, steps picked for about
  ${TARGET_SECONDS} s (${TARGET_SECONDS + 1} s for the peers), median of ${trials} fresh processes, the four
  implementations rotating within each round; all on ${THREADS} threads (NumPy: OpenBLAS's
  threads, its elementwise work is single-threaded). "load": the median 1-minute load average
  when the cell's trials started (the machine has ${os.availableParallelism()} CPUs; other agents share it).

| D | method | particles × runs | after | before | NumPy | PyTorch | after ÷ before | after ÷ NumPy | after ÷ PyTorch | load | steps (after / before / NumPy / PyTorch) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${tableRows.map((r) => `| ${r.join(' | ')} |`).join('\n')}

Goals: ≥ ${GOALS.numpy}× NumPy at D = 80 and 800, ≥ ${GOALS.fastestPeerAtD8}× the faster peer at D = 8.

### The score alone against the FMA peak (${THREADS} threads)

\`GaussianMixture.scoreInto\` at t = 1, J = ${COMPONENTS}, z uniform on [−8, 8]; the median call of a
fresh process, median of ${trials} processes. FLOPs: 2 × each path's multiply-adds per row
(isotropic 2JD, diagonal 4JD, shared D² + 2JD or D + 2JD, dense JD²); the exponentials,
transposes and the per-call preparation are not counted. Peak: bench/fma-probe.cc
(${peak.best}) on ${THREADS} threads, ${sig(4)(peak.gflops[THREADS])} GFLOP/s, measured in this sitting.
${
  ceiling === null
    ? 'The broadcast loop (`fma-probe --operand broadcast`) has no path for this instruction set; its column is empty.'
    : `Broadcast loop: the structured paths' matrix products multiply each vector by a float broadcast
from memory, and those loads share the load ports; the same probe running that inner loop
(\`--operand broadcast\`: one vector load and eight broadcast multiply-adds per iteration, in L1)
reaches ${sig(4)(ceiling[THREADS])} GFLOP/s on ${THREADS} threads here, ${Math.round((100 * ceiling[THREADS]) / peak.gflops[THREADS])}% of the peak: the ceiling of those products.`
}

${
  capAvx2
    ? `AVX2 build: the same calls in processes run with \`CONDIFF_MAX_ISA=avx2\`, the kernels an AVX2-only CPU
runs (two 8-lane registers for each 16-lane vector, mixture_simd_avx2.h), on this CPU; "÷ AVX-512": its
time per call over the column before it. The bytes are the same (test/native/instruction-sets.test.ts).`
    : `The kernels run ${nativeBuild.instructionSet} here: no AVX2 column.`
}

${markdownTable(['covariances (as matrices)', 'path', 'D', 'rows', 'time per call', 'GFLOP/s', 'share of peak', 'share of broadcast loop', ...(capAvx2 ? ['AVX2 build', '÷ AVX-512'] : []), 'load'], scoreRows)}
`;
  writeSection({ name: 'mixture-structure', title: 'Mixture structure', machine, verdicts, data: { cells: Object.fromEntries(cells), scoreRows, peak, ceiling, versions } }, markdown, args);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
