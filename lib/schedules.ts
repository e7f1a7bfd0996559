// Noise schedules of MATH.md §1: the forward process Z_t | Z_0 ~ N(alpha_t Z_0, sigma_t^2 I)
// and its transitions, evaluated without cancellation (expm1), plus the time grid.
import { positiveInteger, positiveNumber, rangeError, typeError, oneOf } from './errors';

export type KernelName = 'euler' | 'ddpm';

export interface Schedule {
  /** 'ou', 'vp' or 'ddpm'. */
  readonly name: string;
  /** End time T (for 'ddpm': the number of training steps K). */
  readonly T: number;
  /** Whether the schedule has an SDE (f, g), so the Euler–Maruyama kernel applies. */
  readonly continuous: boolean;
  /** The kernel used when a sampler is not told: 'euler' for SDEs, 'ddpm' for discrete. */
  readonly defaultKernel: KernelName;
  /** Grid 0 = t_0 < t_1 < … < t_S = T. Uniform unless the schedule says otherwise. */
  grid(steps: number): Float64Array;
  /** log alpha_t. */
  logAlpha(t: number): number;
  /** sigma_t^2. */
  sigma2(t: number): number;
  /** alpha_{t|s} and sigma^2_{t|s} of MATH.md §1, s < t. */
  transition(s: number, t: number): { alpha: number; sigma2: number };
  /** f(t) of dZ = f(t) Z dt + g(t) dW (continuous schedules). */
  drift(t: number): number;
  /** g(t)^2 (continuous schedules). */
  diffusion2(t: number): number;
}

/** Variance-preserving family: sigma_t^2 = 1 - alpha_t^2, so sigma^2_{t|s} = 1 - alpha_{t|s}^2 (MATH.md §1). */
abstract class VariancePreserving implements Schedule {
  abstract readonly name: string;
  abstract readonly T: number;
  abstract readonly continuous: boolean;
  abstract readonly defaultKernel: KernelName;
  abstract grid(steps: number): Float64Array;
  /** log alpha_t^2 = log alphā_t. */
  protected abstract logAlphaBar(t: number): number;
  logAlpha(t: number): number {
    return 0.5 * this.logAlphaBar(t);
  }
  sigma2(t: number): number {
    return -Math.expm1(this.logAlphaBar(t));
  }
  transition(s: number, t: number): { alpha: number; sigma2: number } {
    const d = this.logAlphaBar(t) - this.logAlphaBar(s);
    return { alpha: Math.exp(0.5 * d), sigma2: -Math.expm1(d) };
  }
  drift(_t: number): number {
    throw new RangeError(`the '${this.name}' schedule has no SDE drift: use kernel 'ddpm'`);
  }
  diffusion2(_t: number): number {
    throw new RangeError(`the '${this.name}' schedule has no SDE diffusion: use kernel 'ddpm'`);
  }
}

function uniformGrid(T: number, steps: number): Float64Array {
  positiveInteger('steps', steps);
  const g = new Float64Array(steps + 1);
  for (let i = 0; i <= steps; i++) g[i] = (T * i) / steps;
  g[steps] = T;
  return g;
}

/** The seed's Ornstein–Uhlenbeck process dZ = -Z dt + sqrt(2) dW: alpha_t = e^{-t}. */
class OrnsteinUhlenbeck extends VariancePreserving {
  readonly name = 'ou';
  readonly continuous = true;
  readonly defaultKernel = 'euler' as const;
  constructor(readonly T: number) {
    super();
  }
  protected logAlphaBar(t: number): number {
    return -2 * t;
  }
  grid(steps: number): Float64Array {
    return uniformGrid(this.T, steps);
  }
  override drift(): number {
    return -1;
  }
  override diffusion2(): number {
    return 2;
  }
}

/** VP SDE with linear beta (Song et al. 2021): log alphā_t = -(beta_min t + (beta_max - beta_min) t^2 / 2). */
class LinearVp extends VariancePreserving {
  readonly name = 'vp';
  readonly continuous = true;
  readonly defaultKernel = 'euler' as const;
  constructor(
    readonly T: number,
    readonly betaMin: number,
    readonly betaMax: number,
  ) {
    super();
  }
  protected logAlphaBar(t: number): number {
    return -(this.betaMin * t + 0.5 * (this.betaMax - this.betaMin) * t * t);
  }
  private beta(t: number): number {
    return this.betaMin + t * (this.betaMax - this.betaMin);
  }
  grid(steps: number): Float64Array {
    return uniformGrid(this.T, steps);
  }
  override drift(t: number): number {
    return -0.5 * this.beta(t);
  }
  override diffusion2(t: number): number {
    return this.beta(t);
  }
}

/** Discrete DDPM: alphā_k = prod_{i<=k} (1 - beta_i), k = 0..K (alphā_0 = 1, the data). */
class DiscreteDdpm extends VariancePreserving {
  readonly name = 'ddpm';
  readonly continuous = false;
  readonly defaultKernel = 'ddpm' as const;
  readonly T: number;
  private readonly cumLogAlphaBar: Float64Array;
  constructor(
    readonly K: number,
    readonly betas: 'linear' | 'cosine',
  ) {
    super();
    this.T = K;
    this.cumLogAlphaBar = new Float64Array(K + 1);
    for (let k = 1; k <= K; k++) {
      let beta: number;
      if (betas === 'linear') {
        // Ho et al. 2020: beta linear from 1e-4 to 0.02 over K steps.
        beta = K === 1 ? 1e-4 : 1e-4 + ((0.02 - 1e-4) * (k - 1)) / (K - 1);
      } else {
        // Nichol & Dhariwal 2021, eq. 17: alphā(t) = f(t)/f(0), f(t) = cos^2(((t/K + s)/(1 + s)) pi/2),
        // s = 0.008, beta clipped at 0.999.
        const f = (t: number) => Math.cos(((t / K + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
        beta = Math.min(1 - f(k) / f(k - 1), 0.999);
      }
      this.cumLogAlphaBar[k] = this.cumLogAlphaBar[k - 1] + Math.log1p(-beta);
    }
  }
  protected logAlphaBar(t: number): number {
    if (!Number.isInteger(t) || t < 0 || t > this.K) throw rangeError('t', `an integer step in [0, ${this.K}]`, t);
    return this.cumLogAlphaBar[t];
  }
  /** S steps respaced over 0..K: t_i = round(i K / S). */
  grid(steps: number): Float64Array {
    positiveInteger('steps', steps);
    if (steps > this.K) throw rangeError('steps', `at most the schedule's K = ${this.K}`, steps);
    const g = new Float64Array(steps + 1);
    for (let i = 0; i <= steps; i++) g[i] = Math.round((i * this.K) / steps);
    return g;
  }
}

export interface OuOptions {
  /** End time T (default 5). */
  T?: number;
}
export interface VpOptions {
  /** End time T (default 1). */
  T?: number;
  betaMin?: number;
  betaMax?: number;
}
export interface DdpmOptions {
  /** Training steps K (default 1000). */
  K?: number;
  /** beta schedule (default 'linear'). */
  betas?: 'linear' | 'cosine';
}

// The most noise a schedule may reach: log alphā_T >= -1400, i.e. alpha_T >= e^-700. Past
// about e^-745 alpha_T is 0 in float64 and the kernels divide by it (MATH.md §1–§2); long
// before that p_T is N(0, I) to every digit, so a larger horizon buys nothing.
const MIN_LOG_ALPHA_BAR = -1400;

export const schedules = {
  /** Ornstein–Uhlenbeck, the seed's schedule (MATH.md §1). */
  ou(options: OuOptions = {}): Schedule {
    const T = positiveNumber('T', options.T ?? 5);
    if (-2 * T < MIN_LOG_ALPHA_BAR) {
      throw rangeError('schedules.ou: T', `at most ${-MIN_LOG_ALPHA_BAR / 2} (alpha_T = e^-T underflows to 0 in float64 past about 745; T = 5 to 10 already gives p_T = N(0, I) for data of unit scale)`, T);
    }
    return new OrnsteinUhlenbeck(T);
  },
  /** Continuous VP SDE with linear beta from betaMin = 0.1 to betaMax = 20 (MATH.md §1). */
  vp(options: VpOptions = {}): Schedule {
    const betaMin = positiveNumber('betaMin', options.betaMin ?? 0.1);
    const betaMax = positiveNumber('betaMax', options.betaMax ?? 20);
    if (betaMax < betaMin) throw rangeError('betaMax', `at least betaMin = ${betaMin}`, betaMax);
    const T = positiveNumber('T', options.T ?? 1);
    const logAlphaBarT = -(betaMin * T + 0.5 * (betaMax - betaMin) * T * T);
    if (!(logAlphaBarT >= MIN_LOG_ALPHA_BAR)) {
      // The largest T with betaMin T + (betaMax - betaMin) T^2 / 2 <= 1400.
      const d = betaMax - betaMin;
      const tMax = d > 0 ? (-betaMin + Math.sqrt(betaMin * betaMin - 2 * d * MIN_LOG_ALPHA_BAR)) / d : -MIN_LOG_ALPHA_BAR / betaMin;
      throw new RangeError(
        `schedules.vp: betaMin T + (betaMax - betaMin) T^2 / 2 must be at most ${-MIN_LOG_ALPHA_BAR} (alpha_T underflows to 0 in float64 past about 1490), got ${-logAlphaBarT} for T = ${T}, betaMin = ${betaMin}, betaMax = ${betaMax}: with these betas T must be at most ${Math.floor(tMax * 1000) / 1000}`,
      );
    }
    return new LinearVp(T, betaMin, betaMax);
  },
  /** Discrete DDPM (linear or cosine betas over K steps); sampled with the DDPM kernel (MATH.md §1, §2). */
  ddpm(options: DdpmOptions = {}): Schedule {
    return new DiscreteDdpm(positiveInteger('K', options.K ?? 1000, 100000), oneOf('betas', options.betas ?? 'linear', ['linear', 'cosine'] as const));
  },
};

/**
 * A caller's time grid for `schedule`: 0 = t_0 < t_1 < … < t_S <= T, finite (MATH.md §1); on a
 * discrete schedule every t_i is an integer step. Returned as a fresh Float64Array.
 */
export function customGrid(schedule: Schedule, grid: unknown): Float64Array {
  if (!(Array.isArray(grid) || grid instanceof Float64Array || grid instanceof Float32Array)) {
    throw typeError('grid', 'an array of times 0 = t_0 < t_1 < … < t_S', grid);
  }
  if (grid.length < 2) throw rangeError('grid.length', 'at least 2 (t_0 = 0 and one more time)', grid.length);
  if (grid.length > 1_000_001) throw rangeError('grid.length', 'at most 1000001', grid.length);
  const g = Float64Array.from(grid as ArrayLike<number>);
  for (let i = 0; i < g.length; i++) {
    const t = g[i];
    if (typeof (grid as ArrayLike<unknown>)[i] !== 'number' || !Number.isFinite(t)) throw typeError(`grid[${i}]`, 'a finite number', (grid as ArrayLike<unknown>)[i]);
    if (i === 0 && t !== 0) throw rangeError('grid[0]', '0 (the data time)', t);
    if (i > 0 && !(t > g[i - 1])) throw rangeError(`grid[${i}]`, `greater than grid[${i - 1}] = ${g[i - 1]} (strictly increasing)`, t);
    if (t > schedule.T) throw rangeError(`grid[${i}]`, `at most the schedule's T = ${schedule.T}`, t);
    if (!schedule.continuous && !Number.isInteger(t)) throw rangeError(`grid[${i}]`, `an integer step of the discrete '${schedule.name}' schedule`, t);
  }
  return g;
}

export function isSchedule(value: unknown): value is Schedule {
  return typeof value === 'object' && value !== null && typeof (value as Schedule).grid === 'function' && typeof (value as Schedule).transition === 'function';
}
