// The schedules of MATH.md §1 and the backward kernels of MATH.md §2, written from their
// definitions for the tests, in float64 and independently of lib/: nothing here imports
// the library, so a wrong formula in lib/schedules.ts, lib/driver.ts or
// native/core/kernels.h is not repeated on the oracle's side.
//
// A schedule is described by a plain spec; `libSchedule` (in the tests) builds the
// library's object from the same spec, and these functions build the oracle's answer.

export type ScheduleSpec =
  | { kind: 'ou'; T: number }
  | { kind: 'vp'; T: number; betaMin: number; betaMax: number }
  | { kind: 'ddpm'; K: number; betas: 'linear' | 'cosine' };

export type KernelKind = 'euler' | 'ddpm';

export interface ExactSchedule {
  readonly spec: ScheduleSpec;
  /** alpha_t of Z_t | Z_0 ~ N(alpha_t Z_0, sigma_t^2 I). */
  alpha(t: number): number;
  /** sigma_t^2. */
  sigma2(t: number): number;
  /** f(t) and g(t)^2 of dZ = f(t) Z dt + g(t) dW (continuous schedules only). */
  drift(t: number): number;
  diffusion2(t: number): number;
}

/** The forward transition Z_t | Z_s (s < t): alpha_{t|s} = alpha_t / alpha_s, sigma^2_{t|s} = sigma_t^2 − alpha_{t|s}^2 sigma_s^2. */
export function transition(q: ExactSchedule, s: number, t: number): { alpha: number; sigma2: number } {
  const alpha = q.alpha(t) / q.alpha(s);
  return { alpha, sigma2: q.sigma2(t) - alpha * alpha * q.sigma2(s) };
}

export function exactSchedule(spec: ScheduleSpec): ExactSchedule {
  switch (spec.kind) {
    case 'ou':
      // dZ = −Z dt + √2 dW: alpha_t = e^{−t}, sigma_t^2 = 1 − e^{−2t}.
      return {
        spec,
        alpha: (t) => Math.exp(-t),
        sigma2: (t) => 1 - Math.exp(-2 * t),
        drift: () => -1,
        diffusion2: () => 2,
      };
    case 'vp': {
      // beta(t) linear from betaMin at 0 to betaMax at 1; alphā_t = exp(−∫_0^t beta).
      const beta = (t: number) => spec.betaMin + (spec.betaMax - spec.betaMin) * t;
      const integral = (t: number) => spec.betaMin * t + ((spec.betaMax - spec.betaMin) * t * t) / 2;
      return {
        spec,
        alpha: (t) => Math.sqrt(Math.exp(-integral(t))),
        sigma2: (t) => 1 - Math.exp(-integral(t)),
        drift: (t) => -beta(t) / 2,
        diffusion2: (t) => beta(t),
      };
    }
    case 'ddpm': {
      // alphā_k = Π_{i ≤ k} (1 − beta_i), multiplied out directly.
      const K = spec.K;
      const alphaBar = [1];
      for (let k = 1; k <= K; k++) {
        let beta: number;
        if (spec.betas === 'linear') {
          beta = 1e-4 + ((0.02 - 1e-4) * (k - 1)) / (K - 1); // Ho et al. 2020
        } else {
          // Nichol & Dhariwal 2021: alphā(k) = f(k)/f(0), f(k) = cos^2(π/2 · (k/K + s)/(1 + s)), s = 0.008, beta ≤ 0.999.
          const f = (u: number) => Math.cos((Math.PI / 2) * ((u / K + 0.008) / 1.008)) ** 2;
          beta = Math.min(1 - f(k) / f(k - 1), 0.999);
        }
        alphaBar.push(alphaBar[k - 1] * (1 - beta));
      }
      const at = (t: number) => {
        if (!Number.isInteger(t) || t < 0 || t > K) throw new RangeError(`ddpm level must be an integer in [0, ${K}], got ${t}`);
        return alphaBar[t];
      };
      return {
        spec,
        alpha: (t) => Math.sqrt(at(t)),
        sigma2: (t) => 1 - at(t),
        drift: () => {
          throw new RangeError('a discrete schedule has no SDE');
        },
        diffusion2: () => {
          throw new RangeError('a discrete schedule has no SDE');
        },
      };
    }
  }
}

/**
 * One backward step t → s < t of MATH.md §2 as a map of (z, score): μ = cz z + cs s_t(z),
 * with variance v. Written as the definitions read, not as the library's (a, b):
 *   Euler:  μ = z + h (−f(t) z + g(t)^2 s),            v = g(t)^2 h
 *   DDPM:   μ = c0 x̂0 + c1 z,  x̂0 = (z + sigma_t^2 s) / alpha_t,
 *           c0 = alpha_s sigma^2_{t|s} / sigma_t^2,  c1 = alpha_{t|s} sigma_s^2 / sigma_t^2,
 *           v = sigma^2_{t|s} sigma_s^2 / sigma_t^2.
 */
export interface ExactStep {
  t: number;
  s: number;
  /** μ(z) = cz z + cs score(z). */
  cz: number;
  cs: number;
  v: number;
  /** The forward transition s → t (RePaint's re-noising, the context path). */
  alphaTs: number;
  sigma2Ts: number;
}

export function exactStep(q: ExactSchedule, kernel: KernelKind, s: number, t: number): ExactStep {
  const tr = transition(q, s, t);
  if (kernel === 'euler') {
    const h = t - s, f = q.drift(t), g2 = q.diffusion2(t);
    return { t, s, cz: 1 - h * f, cs: h * g2, v: g2 * h, alphaTs: tr.alpha, sigma2Ts: tr.sigma2 };
  }
  const at = q.alpha(t), s2t = q.sigma2(t), as = q.alpha(s), s2s = q.sigma2(s);
  const c0 = (as * tr.sigma2) / s2t;
  const c1 = (tr.alpha * s2s) / s2t;
  // c0 x̂0 + c1 z = c0 (z + sigma_t^2 s)/alpha_t + c1 z
  return { t, s, cz: c0 / at + c1, cs: (c0 * s2t) / at, v: (tr.sigma2 * s2s) / s2t, alphaTs: tr.alpha, sigma2Ts: tr.sigma2 };
}

/** Every step of a grid, steps[i − 1] for step i (t_i → t_{i−1}). */
export function exactSteps(q: ExactSchedule, kernel: KernelKind, grid: ArrayLike<number>): ExactStep[] {
  const out: ExactStep[] = [];
  for (let i = 1; i < grid.length; i++) out.push(exactStep(q, kernel, grid[i - 1], grid[i]));
  return out;
}

/**
 * The variance a filter's weight at step i uses (MATH.md §2, "the last step"): the step's v,
 * except where v vanishes (DDPM at s = 0): there the previous step's v (the one at t_2 → t_1).
 */
export function weightVariance(steps: ExactStep[], i: number): number {
  const v = steps[i - 1].v;
  if (v > 0) return v;
  if (i < steps.length) return weightVariance(steps, i + 1);
  throw new RangeError('no positive kernel variance for the weight');
}
