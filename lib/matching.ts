// Matching times, the grid, the pinned noised path and the evidence conversion of the SVD
// bootstrap filter (docs/MATH.md §8, §9.1). λ_t = σ_t²/α_t² is the noise-to-signal ratio;
// rotated coordinate i is pinned from the first grid time with λ ≥ σ_y²/s_i².
import type { Schedule } from './schedules';
import type { ObservationSvd } from './observation';
import type { BackendOps } from './backend';
import { rangeError } from './errors';
import { native } from './native';

/** λ comparisons at a node inserted as τ_i must not fail by one ulp (docs/MATH.md §8). */
export const LAMBDA_TOLERANCE = 1e-9;

export function lambdaAt(schedule: Schedule, t: number): number {
  // σ_t²/α_t² = e^{−log ᾱ_t} − 1 for the variance-preserving schedules, without cancellation.
  return schedule.sigma2(t) * Math.exp(-2 * schedule.logAlpha(t));
}

/**
 * The time with λ_t = lambda on a continuous schedule: closed form for 'ou' (t = ln(1 + λ)/2)
 * and the linear-β 'vp' (root of β_min t + (β_max − β_min) t²/2 = ln(1 + λ)); bisection otherwise.
 */
export function timeOfLambda(schedule: Schedule, lambda: number): number {
  const L = Math.log1p(lambda);
  if (schedule.name === 'ou') return L / 2;
  const vp = schedule as Schedule & { betaMin?: number; betaMax?: number };
  if (schedule.name === 'vp' && vp.betaMin !== undefined && vp.betaMax !== undefined) {
    const d = vp.betaMax - vp.betaMin;
    return d > 0 ? (-vp.betaMin + Math.sqrt(vp.betaMin * vp.betaMin + 2 * d * L)) / d : L / vp.betaMin;
  }
  let lo = 0, hi = schedule.T;
  for (let it = 0; it < 200 && hi - lo > 0; it++) {
    const mid = (lo + hi) / 2;
    if (mid === lo || mid === hi) break;
    if (lambdaAt(schedule, mid) < lambda) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * The matching level of each rotated coordinate, λ_τ = σ_y²/s_i²: a time in (0, T] on a
 * continuous schedule, the smallest level with λ ≥ σ_y²/s_i² on a discrete one; Infinity when
 * λ_T falls short (never pinned); 0 when σ_y = 0.
 */
export function matchingTimes(schedule: Schedule, svd: ObservationSvd, noiseStd: number): Float64Array {
  const out = new Float64Array(svd.rank);
  if (noiseStd === 0) return out;
  const lambdaT = lambdaAt(schedule, schedule.T);
  for (let i = 0; i < svd.rank; i++) {
    const target = (noiseStd / svd.s[i]) ** 2;
    if (lambdaT < target * (1 - LAMBDA_TOLERANCE)) {
      out[i] = Infinity;
    } else if (schedule.continuous) {
      out[i] = Math.min(timeOfLambda(schedule, target), schedule.T);
    } else {
      let k = 1;
      while (k < schedule.T && lambdaAt(schedule, k) < target * (1 - LAMBDA_TOLERANCE)) k++;
      out[i] = k;
    }
  }
  return out;
}

/**
 * The grid of docs/MATH.md §9.1 for S steps in all: every τ_i in (0, T) a node; ⌈S/4⌉ steps
 * geometric in λ on (0, τ_min] (from λ_{τ_min}·10⁻³ up, then the last step to 0) and the rest
 * uniform on [τ_min, T] with the other τ_i snapped onto the nearest nodes. On a discrete schedule
 * the nodes are levels: see discreteObservationGrid.
 */
export function observationGrid(schedule: Schedule, steps: number, taus: Float64Array): Float64Array {
  const T = schedule.T;
  const inside = [...new Set(Array.from(taus).filter((t) => t > 0 && t < T))].sort((a, b) => a - b);
  if (inside.length === 0) return schedule.grid(steps);
  if (!schedule.continuous) return discreteObservationGrid(schedule, steps, inside);
  const tauMin = inside[0];
  const upperSteps = (S: number) => S - Math.ceil(S / 4);
  const n1 = Math.ceil(steps / 4), n2 = upperSteps(steps);
  requireUpperSteps(upperSteps, inside.length, steps);
  const lower = [0];
  const lambdaMin = lambdaAt(schedule, tauMin);
  for (let j = 1; j < n1; j++) lower.push(timeOfLambda(schedule, lambdaMin * 10 ** ((-3 * (n1 - j)) / (n1 - 1))));
  lower.push(tauMin);
  const upper = Array.from({ length: n2 + 1 }, (_, i) => (i === n2 ? T : tauMin + ((T - tauMin) * i) / n2));
  const grid = Float64Array.from([...lower, ...snap(Float64Array.from(upper), inside.slice(1), n2).subarray(1)]);
  for (let i = 1; i < grid.length; i++) {
    if (!(grid[i] > grid[i - 1])) throw rangeError('steps', 'enough to keep the grid strictly increasing around the matching times', steps);
  }
  return grid;
}

/**
 * §9.1's grid on a discrete schedule (levels 0..K, S ≤ K): the matching levels are nodes; below
 * k_min, m = min(k_min, max(⌈S/4⌉, S − (K − k_min))) steps whose levels follow the geometric λ
 * targets λ_{k_min}·10^{−3(m−j)/(m−1)}, j = 1 … m − 1 (each the smallest level with λ ≥ its target, pushed down
 * or up just enough to stay distinct: there may be fewer levels than targets near 0); the other
 * S − m steps respaced uniformly over [k_min, K] with the other matching levels snapped in.
 */
function discreteObservationGrid(schedule: Schedule, steps: number, inside: number[]): Float64Array {
  const K = schedule.T;
  if (!Number.isInteger(steps) || steps < 1 || steps > K) return schedule.grid(steps);
  const kMin = inside[0];
  const lowerSteps = (S: number) => Math.min(kMin, Math.max(Math.ceil(S / 4), S - (K - kMin)));
  const m = lowerSteps(steps), n2 = steps - m;
  requireUpperSteps((S) => S - lowerSteps(S), inside.length, steps);
  const lambda = Array.from({ length: kMin + 1 }, (_, k) => lambdaAt(schedule, k));
  const levelOf = (target: number) => {
    let k = 1;
    while (k < kMin && lambda[k] < target * (1 - LAMBDA_TOLERANCE)) k++;
    return k;
  };
  // Interior lower nodes j = m − 1 … 1, from the top: below the previous node and above the j − 1 still to come.
  const lower = new Array<number>(m + 1);
  lower[0] = 0;
  lower[m] = kMin;
  for (let j = m - 1; j >= 1; j--) {
    const ideal = levelOf(lambda[kMin] * 10 ** ((-3 * (m - j)) / (m - 1)));
    lower[j] = Math.max(Math.min(ideal, lower[j + 1] - 1), j);
  }
  const upper = Float64Array.from({ length: n2 + 1 }, (_, i) => Math.round(kMin + ((K - kMin) * i) / n2));
  // A matching level the respacing already hit stays; the others take the nearest other nodes.
  const hit = inside.slice(1).filter((t) => upper.includes(t));
  const rest = inside.slice(1).filter((t) => !upper.includes(t));
  const grid = Float64Array.from([...lower, ...snap(upper, rest, n2, hit).subarray(1)]);
  for (let i = 1; i < grid.length; i++) {
    if (!(grid[i] > grid[i - 1])) throw rangeError('steps', 'enough to keep the grid strictly increasing around the matching levels', steps);
  }
  return grid;
}

/** The uniform part needs a node for every matching time past τ_min (docs/MATH.md §9.1). */
function requireUpperSteps(upperSteps: (S: number) => number, matching: number, steps: number): void {
  if (upperSteps(steps) >= matching) return;
  let least = steps + 1;
  while (upperSteps(least) < matching) least++;
  throw rangeError('steps', `at least ${least} to put the ${matching} matching times on the grid (docs/MATH.md §9.1)`, steps);
}

/**
 * Replaces the interior node nearest each time (ascending) with it, never a node whose value is
 * in `keep`; nodes stay strictly increasing.
 */
function snap(grid: Float64Array, times: number[], steps: number, keep: number[] = []): Float64Array {
  const g = Array.from(grid);
  const used = new Set<number>();
  g.forEach((t, i) => keep.includes(t) && used.add(i));
  for (const t of times) {
    let best = -1;
    for (let i = 1; i < g.length - 1; i++) if (!used.has(i) && (best < 0 || Math.abs(g[i] - t) < Math.abs(g[best] - t))) best = i;
    if (best < 0) throw rangeError('steps', `more than the ${times.length} matching times (docs/MATH.md §9.1)`, steps);
    g[best] = t;
    used.add(best);
  }
  g.sort((a, b) => a - b);
  for (let i = 1; i < g.length; i++) if (!(g[i] > g[i - 1])) throw rangeError('steps', 'enough to give every matching time its own node (docs/MATH.md §9.1)', steps);
  return Float64Array.from(g);
}

/** k*_i: the first grid index with λ ≥ σ_y²/s_i² (relative tolerance), S + 1 when none; 0 when σ_y = 0. */
export function pinStarts(schedule: Schedule, grid: Float64Array, svd: ObservationSvd, noiseStd: number): Int32Array {
  const S = grid.length - 1;
  const lambda = Array.from(grid, (t) => lambdaAt(schedule, t));
  return Int32Array.from({ length: svd.rank }, (_, i) => {
    if (noiseStd === 0) return 0;
    const target = (noiseStd / svd.s[i]) ** 2;
    for (let k = 1; k <= S; k++) if (lambda[k] >= target * (1 - LAMBDA_TOLERANCE)) return k;
    return S + 1;
  });
}

/**
 * The pinned noised path of every run (docs/MATH.md §9.1), (S + 1) x runs x r float32:
 * Ỹ_{t*_i} = α ȳ_i/s_i + (σ² − α² σ_y²/s_i²)^{1/2} ζ (at t* = 0: ȳ_i/s_i), then the forward
 * transitions. The normals are the context path's (purpose contextPath, step word k, element
 * i): drawn by the forward-path operation with α = 0, σ² = 1, and each transition is rounded to
 * float32 as that operation rounds it.
 */
export async function pinnedPath(
  ops: BackendOps, schedule: Schedule, grid: Float64Array, svd: ObservationSvd, noiseStd: number, starts: Int32Array,
  runs: number, seed: number, threads: number, runOffset = 0,
): Promise<Float32Array> {
  const S = grid.length - 1, r = svd.rank;
  const xi = new Float32Array((S + 1) * runs * r);
  await ops.forwardContextPath(new Float32Array(r), runs, runOffset, new Float64Array(S), new Float64Array(S).fill(1), { seed, step: 0, purpose: ops.purposes.contextPath }, xi, threads);
  const out = new Float32Array((S + 1) * runs * r);
  const s2 = noiseStd * noiseStd;
  for (let i = 0; i < r; i++) {
    const k0 = starts[i];
    if (k0 > S) continue;
    const y = svd.ybar[i] / svd.s[i];
    const alpha0 = Math.exp(schedule.logAlpha(grid[k0]));
    const sd0 = k0 === 0 ? 0 : Math.sqrt(Math.max(schedule.sigma2(grid[k0]) - alpha0 * alpha0 * s2 / (svd.s[i] * svd.s[i]), 0));
    for (let q = 0; q < runs; q++) {
      const at = (k: number) => (k * runs + q) * r + i;
      out[at(k0)] = Math.fround(alpha0 * y + sd0 * xi[at(k0)]);
      for (let k = k0 + 1; k <= S; k++) {
        const tr = schedule.transition(grid[k - 1], grid[k]);
        out[at(k)] = Math.fround(tr.alpha * out[at(k - 1)] + Math.sqrt(tr.sigma2) * xi[at(k)]);
      }
    }
  }
  return out;
}

/**
 * log p̂(y) − log Ẑ per run (docs/MATH.md §9.1): under the exact reverse model the pinned path is
 * the forward process, so Σ_i [log N(Ỹ_{T,i}; 0, 1) − Σ_{t_k > t*_i} log N(Ỹ_{t_k,i}; α Ỹ_{t_{k−1},i}, σ²)],
 * − Σ_i log s_i when σ_y = 0, and the y_⊥ term of §8 when σ_y > 0. The path's sum is native
 * (svdPathCorrection, off the event loop: runs x rank x S terms, 5M for 4000 runs of 65 steps);
 * the transitions' tables and logs are computed here, so each term is the same double
 * expression whichever machine sums it.
 */
export async function evidenceCorrection(
  schedule: Schedule, grid: Float64Array, svd: ObservationSvd, noiseStd: number, rows: number, starts: Int32Array, path: Float32Array, runs: number,
  threads = 1,
): Promise<Float64Array> {
  const S = grid.length - 1, r = svd.rank;
  const alpha = new Float64Array(S + 1), sigma2 = new Float64Array(S + 1), log2piSigma2 = new Float64Array(S + 1);
  for (let k = 1; k <= S; k++) {
    const tr = schedule.transition(grid[k - 1], grid[k]);
    alpha[k] = tr.alpha;
    sigma2[k] = tr.sigma2;
    log2piSigma2[k] = Math.log(2 * Math.PI * tr.sigma2);
  }
  if (starts.length !== r) throw new RangeError(`starts must hold one grid index per direction (${r}), got ${starts.length}`);
  const out = new Float64Array(runs);
  await native.direct.svdPathCorrection(path, starts, alpha, sigma2, log2piSigma2, Math.log(2 * Math.PI * 1), out, threads);
  if (noiseStd === 0) {
    const logS = Array.from(svd.s.subarray(0, r), Math.log);
    for (let q = 0; q < runs; q++) for (let i = 0; i < r; i++) out[q] -= logS[i];
    return out;
  }
  const constant = -svd.yPerpNorm2 / (2 * noiseStd * noiseStd) - ((rows - r) / 2) * Math.log(2 * Math.PI * noiseStd * noiseStd);
  for (let q = 0; q < runs; q++) out[q] += constant;
  return out;
}
