// How far RESULTS.md §7's goals are from the native core's own speed, with the peers measured
// in the same sitting: the fused steps alone (bench/fused-step-core.cc: `bootstrap_step` for
// `smc`, `move_step` for `replacement`, the built-in mixture scoring the rows, no Node, no setup,
// no context path, the median step of each process) on §7's problem and shapes, beside
// bench/peers/numpy_smc.py and torch_smc.py (whole runs of the same algorithms, 2 threads).
// Beside them, the whole calls as §7 times them. Each core shape runs twice: with the mixture's score, and with a score that writes zeros
// (the step as it would be if the score cost nothing: a bound on any faster score path).
// A core figure bounds what a whole call can reach, so a goal the core misses cannot be met
// by anything outside the core.
//
//   node -r ./tools/register-ts.js bench/core-ceiling.ts [--quick] [--dry-run]
//
// Builds the core (cmake, Release, in build-bench/) and the binary (g++) first. --quick: 3
// rounds instead of 5. Python as in bench/mixture-structure.ts: $PYTHON, else /usr/bin/python3.
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, TRIALS, machineLines, machineRecord, markdownTable, median, parseScriptArgs, progress, runMeasured, runTrial, sig, writeSection } from './common';

const THREADS = 2;
const COMPONENTS = 25;
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';
const PEER_SECONDS = 3;
const BINARY = path.join(ROOT, 'bench', 'out', 'fused-step-core');
/** §7's shapes, and core steps for about a second of stepping each. */
const SHAPES = [
  { dim: 8, particles: 256, runs: 100, coreSteps: 2000 },
  { dim: 80, particles: 16, runs: 4000, coreSteps: 120 },
  { dim: 800, particles: 16, runs: 400, coreSteps: 150 },
];
const METHODS = ['smc', 'replacement'] as const;
type Method = (typeof METHODS)[number];
const GOALS = { numpy: 15, fastestPeerAtD8: 50 };

type Impl = 'whole call' | 'core' | 'core, free score' | 'numpy' | 'torch';
type Shape = (typeof SHAPES)[number];

function build(): void {
  progress('building the core and bench/out/fused-step-core');
  const quiet = { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] as ('ignore' | 'inherit')[] };
  execFileSync('cmake', ['-S', '.', '-B', 'build-bench', '-DCMAKE_BUILD_TYPE=Release'], quiet);
  execFileSync('cmake', ['--build', 'build-bench', '--target', 'condiff_core', '-j', String(os.availableParallelism())], quiet);
  execFileSync('g++', ['-std=c++17', '-O2', '-Inative/core', 'bench/fused-step-core.cc', 'build-bench/libcondiff_core.a', '-lpthread', '-o', BINARY], quiet);
}

async function measure(impl: Impl, method: Method, shape: Shape): Promise<number> {
  if (impl === 'numpy' || impl === 'torch') {
    const script = path.join(ROOT, 'bench', 'peers', `${impl}_smc.py`);
    const argv = [script, '--method', method, '--dim', String(shape.dim), '--components', String(COMPONENTS), '--particles', String(shape.particles), '--runs', String(shape.runs), '--seconds', String(PEER_SECONDS), '--threads', String(THREADS)];
    return (await runMeasured<{ rate: number }>(PYTHON, argv)).result.rate;
  }
  if (impl === 'whole call') {
    const spec = { kind: 'sampler', impl: 'after', method, dim: shape.dim, particles: shape.particles, runs: shape.runs };
    return (await runTrial<{ rate: number }>(path.join(__dirname, 'mixture-structure.ts'), spec)).result.rate;
  }
  // The peers' problem: the first max(1, D/4) coordinates observed (bench/peers/problem.py).
  const argv = [String(shape.dim), String(shape.particles), String(shape.runs), String(shape.coreSteps), method === 'smc' ? 'smc' : 'move', String(Math.max(1, Math.floor(shape.dim / 4))), impl === 'core' ? 'mixture' : 'free'];
  return (await runMeasured<{ rate: number }>('env', ['JSON=1', `THREADS=${THREADS}`, BINARY, ...argv])).result.rate;
}

async function main(): Promise<void> {
  const args = parseScriptArgs();
  const trials = args.quick ? 3 : TRIALS;
  process.env.PYTHONDONTWRITEBYTECODE = '1';
  const machine = machineRecord();
  build();
  const impls = (dim: number): Impl[] => (dim === 8 ? ['whole call', 'core', 'core, free score', 'numpy', 'torch'] : ['whole call', 'core', 'core, free score', 'numpy']);
  const rates = new Map<string, number[]>();
  const key = (impl: Impl, method: Method, dim: number) => `${impl}|${method}|${dim}`;
  // Rounds rotate through every cell, so a busy spell of this shared VM hits all of them.
  for (let t = 0; t < trials; t++) {
    for (const shape of SHAPES) {
      for (const method of METHODS) {
        for (const impl of impls(shape.dim)) {
          progress(`round ${t + 1}/${trials}: ${impl} ${method} D=${shape.dim}`);
          const k = key(impl, method, shape.dim);
          rates.set(k, [...(rates.get(k) ?? []), await measure(impl, method, shape)]);
        }
      }
    }
  }
  progress('');
  const rate = (impl: Impl, method: Method, dim: number) => median(rates.get(key(impl, method, dim))!);
  const fmt = (x: number) => `${sig(3)(x / 1e6)}M`;
  const rows: string[][] = [];
  for (const shape of SHAPES) {
    for (const method of METHODS) {
      const whole = rate('whole call', method, shape.dim);
      const core = rate('core', method, shape.dim), free = rate('core, free score', method, shape.dim);
      const numpy = rate('numpy', method, shape.dim);
      const torch = shape.dim === 8 ? rate('torch', method, shape.dim) : NaN;
      const peer = shape.dim === 8 ? Math.max(numpy, torch) : numpy;
      const goal = shape.dim === 8 ? GOALS.fastestPeerAtD8 : GOALS.numpy;
      // Seconds a particle-step: the score's share is the core's step less the free-score one;
      // the goal's time less what is not the score says how fast the score would have to be.
      const [tWhole, tCore, tFree, tGoal] = [whole, core, free, goal * peer].map((r) => 1 / r);
      const needed = (others: number) => {
        if (tGoal >= others + tCore - tFree) return 'met as it is';
        return tGoal > others ? `${sig(2)((tCore - tFree) / (tGoal - others))}×` : 'none suffices';
      };
      rows.push([
        String(shape.dim),
        method,
        `${shape.particles} × ${shape.runs}`,
        fmt(whole),
        fmt(core),
        fmt(free),
        fmt(numpy),
        shape.dim === 8 ? fmt(torch) : '',
        `${sig(3)(whole / peer)}×`,
        `**${sig(3)(core / peer)}×**`,
        `${sig(3)(free / peer)}×`,
        needed(tFree + tWhole - tCore),
        needed(tFree),
        `${goal}× (${shape.dim === 8 ? 'faster peer' : 'NumPy'})`,
      ]);
    }
  }
  const markdown = `## 7b. The goals of §7 against the core's own speed

${machineLines(machine, os.loadavg())}
- Core: \`bench/fused-step-core.cc\` built by the script (Release core, g++ -O2): one fused step
  after another on §7's problem (J = 25 identity covariances, the first D/4 coordinates
  observed, OU levels from t = 5 to 0), \`smc\`'s \`bootstrap_step\` (resampling at every step) and
  \`replacement\`'s \`move_step\`, 2 threads; each process's median step. Not counted, unlike a
  whole call: Node, the setup, the forward context path (which the peers also draw), the
  results. "free score": the same with a score that writes zeros. "whole call": condiff's
  \`smc\` / \`replacement\` as §7 times them (bench/mixture-structure.ts's "after" trial: a
  fresh process, a warm-up call, one call of about 2 s).
- Peers: \`bench/peers/numpy_smc.py\` and \`torch_smc.py\` (PyTorch at D = 8 only, where the goal
  names the faster peer), ${PEER_SECONDS} s runs, 2 threads, with \`${PYTHON}\`.
- Each cell: the median of ${trials} processes, every cell once a round.

${markdownTable(['D', 'method', 'particles × runs', 'whole call', 'core', 'core, free score', 'NumPy', 'PyTorch', 'whole call ÷ peer', 'core ÷ peer', 'free score ÷ peer', 'score speed-up the goal needs: whole call', 'core alone', 'goal'], rows)}

A whole call adds to the core's step, so where "core ÷ peer" is under the goal no change
outside the core meets it; where "free score ÷ peer" is under it, no faster score does either.
"Score speed-up the goal needs": how many times faster the score would have to run for the
goal, with everything else as measured ("whole call": the rest of the core's step and what a
whole call adds to it; "core alone": the rest of the core's step only, as if Node, setup and
the context path cost nothing; "met as it is" where that is already under the goal's time);
"none suffices" where even a score that cost nothing would not reach it. The score's time is
the core's step less the free-score step.
`;
  writeSection({ name: 'core-ceiling', title: '7b', machine, verdicts: [], data: Object.fromEntries(rates) }, markdown, args);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
