// Statistical checks as data: each test computes named statistics with their bounds, the
// jest file asserts them for one fixed seed, and tools/calibrate.ts reruns the same
// computation over many seeds to measure each bound's margin and false-failure rate.

/** One statistic and its bound: 'abs' passes when |value| ≤ bound, 'upper' value ≤ bound, 'lower' value ≥ bound. NaN fails. */
export interface Check {
  name: string;
  value: number;
  bound: number;
  side: 'abs' | 'upper' | 'lower';
}

/** A statistical test: `run(seed)` computes its checks; the jest file uses `seed`. */
export interface StatCase {
  /** Unique name (the calibration table's row). */
  name: string;
  /** The seed the jest file runs. */
  seed: number;
  run(seed: number): Promise<Check[]>;
}

export function passes(c: Check): boolean {
  if (c.side === 'abs') return Math.abs(c.value) <= c.bound;
  if (c.side === 'upper') return c.value <= c.bound;
  return c.value >= c.bound;
}

/** The failing checks (NaN fails) as readable lines. */
export function failures(checks: Check[]): string[] {
  return checks.filter((c) => !passes(c)).map((c) => `${c.name}: ${Number.isNaN(c.value) ? 'NaN' : c.value.toPrecision(4)} (${c.side} bound ${c.bound})`);
}

/** How far the worst check is towards (≤ 1) or past (> 1) its bound, for 'abs' and 'upper' checks. */
export function worstExcess(checks: Check[]): number {
  let worst = 0;
  for (const c of checks) {
    if (Number.isNaN(c.value)) return Infinity;
    if (c.side === 'abs') worst = Math.max(worst, Math.abs(c.value) / c.bound);
    else if (c.side === 'upper') worst = Math.max(worst, c.value / c.bound);
    else worst = Math.max(worst, c.value >= c.bound ? 0 : Infinity);
  }
  return worst;
}

export const abs = (name: string, value: number, bound: number): Check => ({ name, value, bound, side: 'abs' });
export const upper = (name: string, value: number, bound: number): Check => ({ name, value, bound, side: 'upper' });
export const lower = (name: string, value: number, bound: number): Check => ({ name, value, bound, side: 'lower' });
/** A deterministic condition as a check (value 1 when true; bound 1 from below). */
export const holds = (name: string, ok: boolean): Check => ({ name, value: ok ? 1 : 0, bound: 1, side: 'lower' });

/**
 * Residuals that must be iid N(0, 1), given as residuals[coordinate][sample]: one z per
 * coordinate for the mean (Σ r / √n) and one for the pooled variance ((Σ r² − n) / √(2n),
 * n all residuals: chi-square with n degrees of freedom).
 */
export function standardNormalChecks(name: string, residuals: number[][], bound: number): Check[] {
  const out: Check[] = [];
  let sq = 0, n = 0;
  residuals.forEach((r, j) => {
    let s = 0;
    for (const x of r) {
      s += x;
      sq += x * x;
    }
    n += r.length;
    out.push(abs(`${name}: mean z, coordinate ${j}`, s / Math.sqrt(r.length), bound));
  });
  out.push(abs(`${name}: variance z`, (sq - n) / Math.sqrt(2 * n), bound));
  return out;
}

/**
 * Whitened mean and second moment of iid draws against N(mean, cov): z of each whitened
 * mean (sd 1/√n) and of each second-moment entry E[w_j w_l] = δ_jl (Var(w_j w_l) = 1 + δ_jl
 * under the normal law).
 */
export function gaussianMomentChecks(name: string, draws: number[][], mean: number[], L: number[][], bound: number): Check[] {
  const d = mean.length, n = draws.length;
  const s1 = new Array<number>(d).fill(0);
  const s2 = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  const w = new Array<number>(d);
  for (const x of draws) {
    for (let i = 0; i < d; i++) {
      let s = x[i] - mean[i];
      for (let k = 0; k < i; k++) s -= L[i][k] * w[k];
      w[i] = s / L[i][i];
    }
    for (let i = 0; i < d; i++) {
      s1[i] += w[i];
      for (let j = 0; j <= i; j++) s2[i][j] += w[i] * w[j];
    }
  }
  const out: Check[] = [];
  for (let i = 0; i < d; i++) out.push(abs(`${name}: whitened mean z ${i}`, s1[i] / Math.sqrt(n), bound));
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      const delta = i === j ? 1 : 0;
      out.push(abs(`${name}: second moment z ${i}${j}`, (s2[i][j] / n - delta) / Math.sqrt((1 + delta) / n), bound));
    }
  }
  return out;
}

/** Standard normal upper tail P(Z > x) (Abramowitz–Stegun 7.1.26 is too coarse in the tail: continued fraction). */
export function normalTail(x: number): number {
  if (x < 0) return 1 - normalTail(-x);
  if (x < 3) {
    // erfc by its series-free Chebyshev fit (Numerical Recipes erfcc), relative error < 1.2e-7
    const z = x / Math.SQRT2, t = 1 / (1 + 0.5 * z);
    const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
    return r / 2;
  }
  // Laplace continued fraction for the Mills ratio.
  let f = x;
  for (let k = 60; k >= 1; k--) f = x + k / f;
  return Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI) / f;
}
