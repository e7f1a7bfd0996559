// The pure-TypeScript baseline: the bootstrap particle filter (SMCDiff,
// MATH.md §3, Algorithm 3) with the exact Gaussian-mixture score (MATH.md §7), written
// the way a competent Node engineer would: typed arrays allocated once, nothing
// allocated in the step loop, and the same algorithm as condiff's native filter.
//
//   schedule  OU, alpha_t = e^{-t}, sigma_t^2 = 1 - e^{-2t}, uniform grid of S steps on [0, T]
//   kernel    Euler–Maruyama: mu = z + h (z + 2 s_t(z)), v = 2h (MATH.md §2)
//   score     C_j = alpha^2 Sigma_j + sigma^2 I is factorised (Cholesky) and inverted once
//             per step; per particle s = -sum_j r_j C_j^{-1} (z - alpha m_j), with the
//             responsibilities r_j from log-sum-exp
//   weights   log N(Y_s; mu_Y, v I) in float64, normalised with the max trick; ESS and
//             log-evidence as MATH.md §3
//   resample  systematic, every step (tau = 1), float64 CDF and a merge sweep (MATH.md §5)
//   move      X_s = mu_X[ancestor] + sqrt(v) xi (no noise at the last step); Y_s from the
//             run's forward context path
//
// The random numbers are xoshiro128** with Box–Muller normals, not condiff's Philox: the
// draws differ from the library's, their distribution does not.

/** A Gaussian mixture with full covariances, as in GaussianMixture.fromJSON. */
export interface MixtureSpec {
  weights: number[];
  means: number[][];
  covariances: number[][][];
}

export interface BaselineOptions {
  model: MixtureSpec;
  observed: { indices: number[]; values: number[] };
  /** End time T of the OU schedule. */
  horizon: number;
  steps: number;
  /** Particles N per run. */
  particles: number;
  /** Independent runs K, stepped together. */
  runs: number;
  seed: number;
}

export interface BaselineResult {
  /** One particle per run, runs x D. */
  samples: Float32Array;
  /** log Ẑ per run. */
  logEvidence: Float64Array;
  /** Smallest ESS seen over every step and run. */
  minEss: number;
  seconds: number;
}

/** xoshiro128** (Blackman & Vigna 2018), seeded by splitmix32; Box–Muller normals. */
class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number) {
    let x = seed >>> 0;
    const splitmix32 = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = splitmix32();
    this.s1 = splitmix32();
    this.s2 = splitmix32();
    this.s3 = splitmix32();
  }

  nextUint32(): number {
    const s1 = this.s1;
    const x = Math.imul(s1, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return result;
  }

  /** Uniform on [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - this.uniform())); // 1 - u is in (0, 1]
    const angle = 2 * Math.PI * this.uniform();
    this.spare = radius * Math.sin(angle);
    this.hasSpare = true;
    return radius * Math.cos(angle);
  }
}

/**
 * In place: the lower Cholesky factor L of the symmetric positive definite `a` (n x n,
 * row-major); then writes a^{-1} to inv[at .. at + n^2) and returns log det a.
 */
function choleskyInverse(a: Float64Array, n: number, inv: Float64Array, at: number, column: Float64Array): number {
  let logDet = 0;
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) throw new RangeError('covariance is not positive definite');
    const ljj = Math.sqrt(d);
    a[j * n + j] = ljj;
    logDet += 2 * Math.log(ljj);
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / ljj;
    }
  }
  // Column c of the inverse solves L L^T x = e_c: forward, then back substitution.
  for (let c = 0; c < n; c++) {
    for (let i = 0; i < n; i++) {
      let s = i === c ? 1 : 0;
      for (let k = 0; k < i; k++) s -= a[i * n + k] * column[k];
      column[i] = s / a[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = column[i];
      for (let k = i + 1; k < n; k++) s -= a[k * n + i] * column[k];
      column[i] = s / a[i * n + i];
    }
    for (let i = 0; i < n; i++) inv[at + i * n + c] = column[i];
  }
  return logDet;
}

export class TsBootstrapFilter {
  private readonly dim: number;
  private readonly components: number;
  private readonly latent: Int32Array;
  private readonly observed: Int32Array;
  private readonly logPrior: Float64Array;
  private readonly means: Float64Array;
  private readonly covariances: Float64Array;
  // Per step: C_j^{-1}, alpha m_j and log pi_j - log det C_j / 2.
  private readonly precision: Float64Array;
  private readonly scaledMeans: Float64Array;
  private readonly logNorm: Float64Array;
  // Per particle scratch: z - alpha m_j, C_j^{-1} (z - alpha m_j), log responsibilities, the score.
  private readonly diff: Float64Array;
  private readonly projected: Float64Array;
  private readonly logResp: Float64Array;
  private readonly score: Float64Array;
  // Per step scratch for the factorisation.
  private readonly factor: Float64Array;
  private readonly column: Float64Array;
  // The particles of every run: rows = runs x particles, D floats each.
  private z: Float32Array;
  private zNext: Float32Array;
  private readonly mu: Float32Array;
  private readonly logWeights: Float64Array;
  private readonly cdf: Float64Array;
  private readonly ancestors: Int32Array;
  /** Y at every grid index for every run: (steps + 1) x runs x d_Y. */
  private readonly contextPath: Float64Array;
  private readonly random: Random;

  constructor(private readonly options: BaselineOptions) {
    const { model, observed, particles, runs, steps } = options;
    const D = model.means[0].length, J = model.weights.length;
    this.dim = D;
    this.components = J;
    this.observed = Int32Array.from(observed.indices);
    this.latent = Int32Array.from({ length: D }, (_, i) => i).filter((i) => !observed.indices.includes(i));
    const total = model.weights.reduce((a, b) => a + b, 0);
    this.logPrior = Float64Array.from(model.weights, (w) => Math.log(w / total));
    this.means = Float64Array.from(model.means.flat());
    this.covariances = Float64Array.from(model.covariances.flat(2));
    this.precision = new Float64Array(J * D * D);
    this.scaledMeans = new Float64Array(J * D);
    this.logNorm = new Float64Array(J);
    this.diff = new Float64Array(J * D);
    this.projected = new Float64Array(J * D);
    this.logResp = new Float64Array(J);
    this.score = new Float64Array(D);
    this.factor = new Float64Array(D * D);
    this.column = new Float64Array(D);
    const rows = runs * particles;
    this.z = new Float32Array(rows * D);
    this.zNext = new Float32Array(rows * D);
    this.mu = new Float32Array(rows * D);
    this.logWeights = new Float64Array(rows);
    this.cdf = new Float64Array(particles);
    this.ancestors = new Int32Array(particles);
    this.contextPath = new Float64Array((steps + 1) * runs * this.observed.length);
    this.random = new Random(options.seed);
  }

  run(): BaselineResult {
    const started = performance.now();
    const { horizon, steps, particles: N, runs } = this.options;
    const D = this.dim, dY = this.observed.length;
    const h = horizon / steps;
    this.drawContextPath(h);
    this.initialState();
    const logEvidence = new Float64Array(runs);
    let minEss = Infinity;
    for (let i = steps; i >= 1; i--) {
      const t = i * h;
      const alpha = Math.exp(-t), sigma2 = 1 - Math.exp(-2 * t);
      this.prepareScore(alpha, sigma2);
      // Euler–Maruyama for the OU process: mu = z + h (z + 2 s), v = 2h (MATH.md §2).
      const a = 1 + h, b = 2 * h, v = 2 * h;
      const noise = i === 1 ? 0 : Math.sqrt(v);
      const logGaussConst = -0.5 * dY * Math.log(2 * Math.PI * v);
      for (let r = 0; r < runs; r++) {
        const ySource = (i - 1) * runs * dY + r * dY;
        let maxLw = -Infinity;
        for (let k = 0; k < N; k++) {
          const row = r * N + k;
          this.kernelMean(row, a, b);
          let sq = 0;
          for (let o = 0; o < dY; o++) {
            const e = this.contextPath[ySource + o] - this.mu[row * D + this.observed[o]];
            sq += e * e;
          }
          const lw = logGaussConst - sq / (2 * v);
          this.logWeights[row] = lw;
          if (lw > maxLw) maxLw = lw;
        }
        const ess = this.resampleRun(r, maxLw, logEvidence);
        if (ess < minEss) minEss = ess;
        this.propagate(r, noise, ySource);
      }
      const previous = this.z;
      this.z = this.zNext;
      this.zNext = previous;
    }
    // Every run was resampled at the last step, so its particles weigh the same: any one of
    // them is a draw; take one uniformly.
    const samples = new Float32Array(runs * D);
    for (let r = 0; r < runs; r++) {
      const k = Math.min(N - 1, Math.floor(this.random.uniform() * N));
      samples.set(this.z.subarray((r * N + k) * D, (r * N + k + 1) * D), r * D);
    }
    return { samples, logEvidence, minEss, seconds: (performance.now() - started) / 1000 };
  }

  /** Y_{t_i} = e^{-h} Y_{t_{i-1}} + sqrt(1 - e^{-2h}) xi from Y_0, one path per run (MATH.md §3). */
  private drawContextPath(h: number): void {
    const { runs } = this.options;
    const dY = this.observed.length;
    const retain = Math.exp(-h), spread = Math.sqrt(1 - Math.exp(-2 * h));
    for (let r = 0; r < runs; r++) {
      for (let o = 0; o < dY; o++) this.contextPath[r * dY + o] = this.options.observed.values[o];
    }
    for (let i = 1; i <= this.options.steps; i++) {
      for (let e = 0; e < runs * dY; e++) {
        const previous = this.contextPath[(i - 1) * runs * dY + e];
        this.contextPath[i * runs * dY + e] = retain * previous + spread * this.random.normal();
      }
    }
  }

  /** X_T ~ N(0, I), Y_T from the context path. */
  private initialState(): void {
    const { runs, particles: N, steps } = this.options;
    const D = this.dim, dY = this.observed.length;
    for (let r = 0; r < runs; r++) {
      for (let k = 0; k < N; k++) {
        const row = (r * N + k) * D;
        for (let l = 0; l < this.latent.length; l++) this.z[row + this.latent[l]] = this.random.normal();
        for (let o = 0; o < dY; o++) this.z[row + this.observed[o]] = this.contextPath[(steps * runs + r) * dY + o];
      }
    }
  }

  /** C_j^{-1}, alpha m_j and the log normalisers at this step (MATH.md §7). */
  private prepareScore(alpha: number, sigma2: number): void {
    const D = this.dim, J = this.components;
    for (let j = 0; j < J; j++) {
      const cov = j * D * D;
      for (let e = 0; e < D * D; e++) this.factor[e] = alpha * alpha * this.covariances[cov + e];
      for (let i = 0; i < D; i++) this.factor[i * D + i] += sigma2;
      const logDet = choleskyInverse(this.factor, D, this.precision, cov, this.column);
      this.logNorm[j] = this.logPrior[j] - 0.5 * logDet;
      for (let i = 0; i < D; i++) this.scaledMeans[j * D + i] = alpha * this.means[j * D + i];
    }
  }

  /** mu = a z + b s(z) for one row, with the mixture score s of MATH.md §7. */
  private kernelMean(row: number, a: number, b: number): void {
    const D = this.dim, J = this.components;
    const { z, diff, projected, precision, scaledMeans, logResp, score } = this;
    const base = row * D;
    let maxLogResp = -Infinity;
    for (let j = 0; j < J; j++) {
      const m = j * D, p = j * D * D;
      for (let i = 0; i < D; i++) diff[m + i] = z[base + i] - scaledMeans[m + i];
      let quad = 0;
      for (let k = 0; k < D; k++) {
        let acc = 0;
        const pk = p + k * D;
        for (let i = 0; i < D; i++) acc += precision[pk + i] * diff[m + i];
        projected[m + k] = acc;
        quad += diff[m + k] * acc;
      }
      const lr = this.logNorm[j] - 0.5 * quad;
      logResp[j] = lr;
      if (lr > maxLogResp) maxLogResp = lr;
    }
    let total = 0;
    for (let j = 0; j < J; j++) {
      logResp[j] = Math.exp(logResp[j] - maxLogResp);
      total += logResp[j];
    }
    score.fill(0);
    for (let j = 0; j < J; j++) {
      const r = logResp[j] / total, m = j * D;
      for (let k = 0; k < D; k++) score[k] -= r * projected[m + k];
    }
    for (let i = 0; i < D; i++) this.mu[base + i] = a * z[base + i] + b * score[i];
  }

  /**
   * Systematic resampling of run r (MATH.md §5): float64 CDF of exp(lw - max), one uniform,
   * positions (u + m) / N swept against the CDF; a position that reaches the total by
   * rounding goes to the last particle of positive weight. Adds log((1/N) sum w) to the
   * run's log-evidence (the weights before this step were equal) and returns the ESS.
   */
  private resampleRun(r: number, maxLw: number, logEvidence: Float64Array): number {
    const N = this.options.particles;
    let sum = 0, sumSq = 0, lastPositive = -1;
    for (let k = 0; k < N; k++) {
      const w = Math.exp(this.logWeights[r * N + k] - maxLw);
      if (w > 0) lastPositive = k;
      sum += w;
      sumSq += w * w;
      this.cdf[k] = sum;
    }
    const u = this.random.uniform();
    let k = 0;
    for (let m = 0; m < N; m++) {
      const target = ((u + m) / N) * sum;
      while (k < lastPositive && this.cdf[k] <= target) k++;
      this.ancestors[m] = k;
    }
    logEvidence[r] += maxLw + Math.log(sum / N);
    return (sum * sum) / sumSq;
  }

  /** X_s = mu_X[ancestor] + noise xi; Y_s from the context path. */
  private propagate(r: number, noise: number, ySource: number): void {
    const N = this.options.particles, D = this.dim;
    for (let m = 0; m < N; m++) {
      const to = (r * N + m) * D, from = (r * N + this.ancestors[m]) * D;
      for (let l = 0; l < this.latent.length; l++) {
        const i = this.latent[l];
        this.zNext[to + i] = this.mu[from + i] + (noise > 0 ? noise * this.random.normal() : 0);
      }
      for (let o = 0; o < this.observed.length; o++) this.zNext[to + this.observed[o]] = this.contextPath[ySource + o];
    }
  }
}
