// Parity of the CUDA backend with the CPU backend, shared by the jest suite
// (test/native/backend.test.ts, run when a device answers) and the one-shot GPU script
// (bench/gpu/run.sh, which has no node_modules). Each check runs both backends on the
// same inputs and says what it compared:
//   - building blocks, bit for bit: Philox normals (MATH.md §6), ancestors of every
//     resampling scheme from the same log-weights (§5, the fixed-point CDF of §5b),
//     gathered rows;
//   - a short whole run: replacement with a JS score callback, bit for bit (every
//     operation of the state path is exact); the filter with the built-in mixture, to
//     float32 rounding (the device score uses fused multiply-adds, the reductions of the
//     reweighting another order);
//   - a long run in distribution: the filter on the device against the exact posterior,
//     with the CPU suite's own criterion (SW2 < 1.5 x the 95% noise floor).
import { selectBackend } from '../../lib/backend';

/** The backend compared with 'cpu': 'cuda'; 'cpu' checks the checks themselves (no device needed). */
export type Candidate = 'cuda' | 'cpu';
import { native } from '../../lib/native';
import { resample, gatherRows } from '../../lib/blocks';
import { GaussianMixture } from '../../lib/mixture';
import { schedules } from '../../lib/schedules';
import { replacement, smc } from '../../lib/samplers';
import { slicedWasserstein, noiseFloor } from '../../lib/metrics';
import { RESAMPLING_SCHEMES } from '../../lib/driver';

export interface ParityResult {
  name: string;
  ok: boolean;
  detail: string;
}

/** Units in the last place between two float32 values. */
function ulps(a: number, b: number): number {
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat32(0, a);
  buf.setFloat32(4, b);
  const x = buf.getInt32(0), y = buf.getInt32(4);
  const ox = x < 0 ? -2147483648 - x : x, oy = y < 0 ? -2147483648 - y : y;
  return Math.abs(ox - oy);
}

/** Log-weights of one kind (MATH.md §5b's traps): mild, peaked, -inf inside, trailing zeros, equal, NaN. */
export function logWeights(kind: number, n: number, seed: number): Float64Array {
  let s = seed >>> 0 || 1;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const g = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const lw = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    if (kind === 0) lw[k] = 0.5 * g();
    else if (kind === 1) lw[k] = 40 * g();
    else if (kind === 2) lw[k] = k % 5 === 2 ? -Infinity : 2 * g();
    else if (kind === 3) lw[k] = k >= n / 2 && n > 1 ? -Infinity : g();
    else if (kind === 4) lw[k] = -3.7;
    else lw[k] = k % 11 === 4 ? -Infinity : g();  // NaN is refused on both backends
  }
  return lw;
}

export async function normalsParity(candidate: Candidate = 'cuda'): Promise<ParityResult> {
  const cuda = selectBackend(candidate).ops;
  let worst = 0, differing = 0, total = 0;
  for (const [first, count] of [[0, 1 << 20], [3, 100003], [2 ** 33 + 1, 65536]] as const) {
    const stream = { seed: 20240601 + first, run: 7, step: 3, purpose: native.purposes.kernelNoise };
    const cpu = new Float32Array(count), gpu = new Float32Array(count);
    await native.normals(cpu, stream, first, 2);
    await cuda.normals(gpu, stream, first, 1);
    for (let i = 0; i < count; i++) {
      const d = ulps(cpu[i], gpu[i]);
      if (d > 0) differing++;
      if (d > worst) worst = d;
    }
    total += count;
  }
  return { name: 'Philox normals', ok: differing === 0, detail: `${total} normals at 3 offsets: ${differing} differ, worst ${worst} ulp` };
}

export async function resampleParity(
  sizes: readonly number[] = [1, 7, 49, 1000, 100_000, 1_000_000],
  candidate: Candidate = 'cuda',
): Promise<ParityResult> {
  let compared = 0;
  const problems: string[] = [];
  for (const n of sizes) {
    for (let kind = 0; kind < 6; kind++) {
      const lw = logWeights(kind, n, 1000 * kind + n);
      for (const scheme of RESAMPLING_SCHEMES) {
        for (const counter of [0, 1]) {
          const rng = { seed: 99, counter, run: kind };
          const cpu = resample(lw, scheme, rng, undefined, { backend: 'cpu' });
          const gpu = resample(lw, scheme, rng, undefined, { backend: candidate });
          compared += n;
          let first = -1;
          for (let i = 0; i < n && first < 0; i++) if (cpu[i] !== gpu[i]) first = i;
          if (first >= 0) problems.push(`${scheme} N=${n} kind ${kind} counter ${counter}: first difference at ${first} (cpu ${cpu[first]}, cuda ${gpu[first]})`);
        }
      }
    }
  }
  return {
    name: 'ancestors (4 schemes)',
    ok: problems.length === 0,
    detail: problems.length ? problems.slice(0, 5).join('; ') : `${compared} ancestors over N = ${sizes.join(', ')}, 6 weight kinds: identical`,
  };
}

export async function gatherParity(candidate: Candidate = 'cuda'): Promise<ParityResult> {
  const problems: string[] = [];
  for (const dim of [3, 64]) {
    const rows = 100_000;
    const data = new Float32Array(rows * dim);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37) * 100;
    const anc = resample(logWeights(0, rows, dim), 'systematic', { seed: 1, counter: dim }, undefined, { backend: 'cpu' });
    const cpu = gatherRows(data, dim, anc, undefined, { backend: 'cpu' });
    const gpu = gatherRows(data, dim, anc, undefined, { backend: candidate });
    if (!Buffer.from(cpu.buffer).equals(Buffer.from(gpu.buffer))) problems.push(`D=${dim} differs`);
  }
  return { name: 'gathered rows', ok: problems.length === 0, detail: problems.join('; ') || '100000 rows at D = 3 and 64: identical bytes' };
}

const EIGHT_D = (() => {
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
  const D = 8, J = 3;
  const means = Array.from({ length: J }, () => Array.from({ length: D }, () => 4 * rnd()));
  const covariances = Array.from({ length: J }, () => {
    const b = Array.from({ length: D * D }, rnd);
    return Array.from({ length: D }, (_, i) => Array.from({ length: D }, (_, j) => {
      let acc = 0;
      for (let k = 0; k < D; k++) acc += b[i * D + k] * b[j * D + k];
      return acc + (i === j ? 0.3 : 0);
    }));
  });
  return { weights: [0.2, 0.3, 0.5], means, covariances };
})();
const EIGHT_D_OBSERVED = { indices: [0, 3, 5], values: [0.5, -1, 0.25] };

export async function shortRunParity(candidate: Candidate = 'cuda'): Promise<ParityResult[]> {
  const model = GaussianMixture.fromJSON(EIGHT_D);
  const out: ParityResult[] = [];
  // Replacement with a JS callback: the state crosses to the host each step, and every
  // operation on it is exact on both backends, so the samples are the same bits.
  const callback = async (z: Float32Array, _t: number, ctx: { alpha: number; sigma: number }) => {
    const s = new Float32Array(z.length);
    await model.scoreInto(z, { t: 0, alpha: ctx.alpha, sigma: ctx.sigma, rows: z.length / 8, dim: 8 }, s, 2);
    return s;
  };
  const common = { score: callback, dim: 8, schedule: schedules.ou(), steps: 5, observed: EIGHT_D_OBSERVED, samples: 500, seed: 5 };
  const a = await replacement({ ...common, backend: 'cpu' });
  const b = await replacement({ ...common, backend: candidate });
  out.push({
    name: 'replacement, JS score callback, 5 steps',
    ok: b.backend === candidate && Buffer.from(a.samples.buffer).equals(Buffer.from(b.samples.buffer)),
    detail: `500 samples of D = 8: ${Buffer.from(a.samples.buffer).equals(Buffer.from(b.samples.buffer)) ? 'identical bytes' : 'differ'} (backend ${b.backend})`,
  });
  // The filter with the built-in mixture (its score on the device): float32 rounding.
  const filter = { score: model, schedule: schedules.ou(), steps: 5, observed: EIGHT_D_OBSERVED, particles: 1000, samples: 4, seed: 6, output: 'all' as const };
  const c = await smc({ ...filter, backend: 'cpu' });
  const d = await smc({ ...filter, backend: candidate });
  let worst = 0, scale = 0;
  for (let i = 0; i < c.particles!.length; i++) {
    worst = Math.max(worst, Math.abs(c.particles![i] - d.particles![i]));
    scale = Math.max(scale, Math.abs(c.particles![i]));
  }
  let evidence = 0;
  for (let r = 0; r < 4; r++) evidence = Math.max(evidence, Math.abs(c.logEvidence[r] - d.logEvidence[r]) / Math.max(1, Math.abs(c.logEvidence[r])));
  const sameResampling = Buffer.from(c.resampled).equals(Buffer.from(d.resampled));
  // float32 rounding of the score, carried through 5 steps: well inside 1e-4 of the scale.
  const ok = d.backend === candidate && sameResampling && worst <= 1e-4 * Math.max(1, scale) && evidence <= 1e-5;
  out.push({
    name: 'smc, built-in mixture, 5 steps',
    ok,
    detail: `4 runs x 1000 particles, D = 8: largest |cpu - cuda| ${worst.toExponential(2)} (scale ${scale.toFixed(2)}), log-evidence relative ${evidence.toExponential(2)}, resampling ${sameResampling ? 'same' : 'differs'}`,
  });
  return out;
}

export async function longRunInDistribution(candidate: Candidate = 'cuda'): Promise<ParityResult> {
  // The CPU suite's criterion (test/samplers.test.ts): the filter at 128 particles, 100
  // steps, 1000 runs lands within 1.5 x the 95% noise floor of the exact posterior.
  const model = GaussianMixture.fromJSON({ weights: [0.5, 0.5], means: [[-2, -2], [2, 2]], covariances: [[[1, 0.9], [0.9, 1]], [[1, 0.9], [0.9, 1]]] });
  const observed = { indices: [1], values: [1] };
  const K = 1000;
  const exact = await model.sampleExact(observed, K, { seed: 777 });
  const floor = await noiseFloor(model, observed, K, { coordinates: [0], replicates: 50, seed: 3 });
  const r = await smc({ score: model, schedule: schedules.ou(), steps: 100, observed, particles: 128, samples: K, seed: 1, backend: candidate });
  const cpu = await smc({ score: model, schedule: schedules.ou(), steps: 100, observed, particles: 128, samples: K, seed: 1, backend: 'cpu' });
  const sw = await slicedWasserstein(r.samples, exact, 2, { coordinates: [0], seed: 3 });
  const swCpu = await slicedWasserstein(cpu.samples, exact, 2, { coordinates: [0], seed: 3 });
  return {
    name: 'smc, 100 steps, in distribution',
    ok: r.backend === candidate && sw < 1.5 * floor.floor,
    detail: `SW2 to the exact posterior: ${candidate} ${sw.toFixed(4)}, cpu ${swCpu.toFixed(4)}, noise floor ${floor.floor.toFixed(4)} (pass: ${candidate} < 1.5 x floor)`,
  };
}
