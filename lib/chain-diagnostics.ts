// Diagnostics of K Markov chains of one scalar (docs/MATH.md §11): the integrated
// autocorrelation time with Sokal's automatic window and the effective sample size.

/** Sokal's window constant: the smallest W with W ≥ c · τ(W). */
const SOKAL_C = 5;

/**
 * τ = 1 + 2 Σ_{k=1}^{W} ρ_k of K chains of n draws each (x: K × n, chain-major), with the
 * autocorrelations ρ_k pooled over the chains around the pooled mean, and W Sokal's window.
 * NaN when the draws do not vary (or n < 2).
 */
export function integratedAutocorrelation(x: ArrayLike<number>, chains: number, n: number): number {
  if (n < 2 || chains < 1) return NaN;
  let mean = 0;
  for (let i = 0; i < chains * n; i++) mean += x[i];
  mean /= chains * n;
  const gamma = (lag: number) => {
    let s = 0;
    for (let r = 0; r < chains; r++) {
      const o = r * n;
      for (let t = 0; t + lag < n; t++) s += (x[o + t] - mean) * (x[o + t + lag] - mean);
    }
    return s / (chains * n);
  };
  const g0 = gamma(0);
  if (!(g0 > 0)) return NaN;
  let tau = 1;
  for (let w = 1; w < n; w++) {
    tau += (2 * gamma(w)) / g0;
    if (w >= SOKAL_C * tau) return tau;
  }
  return tau;
}

export interface ChainDiagnostics {
  /** Integrated autocorrelation time per coordinate, in sweeps. */
  iat: Float64Array;
  /** Effective sample size per coordinate: chains × draws / iat. */
  ess: Float64Array;
}

/**
 * τ and ESS of each listed coordinate of draws laid out chains × sweeps × dim, over the
 * sweeps [from, sweeps).
 */
export function chainDiagnostics(draws: Float32Array, chains: number, sweeps: number, dim: number, coordinates: ArrayLike<number>, from: number): ChainDiagnostics {
  const n = sweeps - from;
  const iat = new Float64Array(coordinates.length), ess = new Float64Array(coordinates.length);
  const x = new Float64Array(chains * Math.max(n, 0));
  for (let j = 0; j < coordinates.length; j++) {
    for (let r = 0; r < chains; r++) for (let m = 0; m < n; m++) x[r * n + m] = draws[(r * sweeps + from + m) * dim + coordinates[j]];
    iat[j] = integratedAutocorrelation(x, chains, n);
    ess[j] = (chains * n) / iat[j];
  }
  return { iat, ess };
}
