// The one conversion of a network's prediction (noise, clean sample, v or the score itself)
// into the score of p_t, MATH.md §1. The addon converts score, epsilon and x0 outputs;
// what it does not know (v, and clipping the implied x0-hat) is reduced here to an
// equivalent epsilon first, so that every path ends in the same native conversion.
import { native } from './native';

/** What a network predicts (MATH.md §1): the score, noise, clean sample, or v = alpha eps - sigma x0. */
export type Prediction = 'score' | 'epsilon' | 'x0' | 'v';


export interface ConversionContext {
  alpha: number;
  sigma: number;
}

/**
 * Writes the score for `prediction` (same length as `z`) into `out`, in float64 per
 * element. With `clipX0` = [lo, hi], x0-hat = E[X_0 | z] implied by the prediction is
 * clipped to [lo, hi] first and the score is that of the clipped x0-hat. `out` must not
 * overlap `z`; a prediction that overlaps `out` is copied first. `owned`: the caller owns
 * every array until this settles (a run's step), so the addon uses them in place
 * (lib/native.ts DirectOps); otherwise it works on copies.
 */
export async function predictionToScore(
  z: Float32Array,
  prediction: Float32Array,
  kind: Prediction,
  context: ConversionContext,
  out: Float32Array,
  threads: number,
  clipX0: readonly [number, number] | null = null,
  owned = false,
): Promise<void> {
  const { alpha, sigma } = context;
  let p = overlaps(prediction, out) ? prediction.slice() : prediction;
  const codes = native.codes.parameterizations;
  let nativeKind: number;
  if (clipX0 !== null) {
    p = clippedAsEpsilon(z, p, kind, alpha, sigma, clipX0);
    nativeKind = codes.epsilon;
  } else if (kind === 'v') {
    p = vAsEpsilon(z, p, alpha, sigma);
    nativeKind = codes.epsilon;
  } else {
    nativeKind = codes[kind];
  }
  await (owned ? native.direct : native).predictionToScore(z, p, nativeKind, alpha, sigma ** 2, out, threads);
}

/**
 * v = alpha eps - sigma x0 with z = alpha x0 + sigma eps gives
 * eps = (sigma z + alpha v) / (alpha^2 + sigma^2). Reducing to epsilon rather than x0 keeps
 * the float32 rounding of the intermediate relative to the score (s = -eps / sigma); through
 * x0 it would be amplified by alpha / sigma^2 at small sigma.
 */
function vAsEpsilon(z: Float32Array, v: Float32Array, alpha: number, sigma: number): Float32Array {
  const r = alpha * alpha + sigma * sigma;
  const eps = new Float32Array(z.length);
  for (let i = 0; i < z.length; i++) eps[i] = (sigma * z[i] + alpha * v[i]) / r;
  return eps;
}

/**
 * x0-hat = c z + d y for the prediction y (MATH.md §1), clipped to [lo, hi], then returned as
 * the epsilon that implies it: eps = (z - alpha x0-hat) / sigma, whose score -eps / sigma is
 * (alpha x0-hat - z) / sigma^2.
 */
function clippedAsEpsilon(
  z: Float32Array,
  y: Float32Array,
  kind: Prediction,
  alpha: number,
  sigma: number,
  [lo, hi]: readonly [number, number],
): Float32Array {
  const sigma2 = sigma * sigma;
  let c: number, d: number;
  switch (kind) {
    case 'score': // x0 = (z + sigma^2 s) / alpha
      c = 1 / alpha; d = sigma2 / alpha;
      break;
    case 'epsilon': // x0 = (z - sigma eps) / alpha
      c = 1 / alpha; d = -sigma / alpha;
      break;
    case 'x0':
      c = 0; d = 1;
      break;
    case 'v': { // x0 = (alpha z - sigma v) / (alpha^2 + sigma^2)
      const r = alpha * alpha + sigma2;
      c = alpha / r; d = -sigma / r;
    }
  }
  const eps = new Float32Array(z.length);
  for (let i = 0; i < z.length; i++) {
    let x0 = c * z[i] + d * y[i];
    x0 = x0 < lo ? lo : x0 > hi ? hi : x0;
    eps[i] = (z[i] - alpha * x0) / sigma;
  }
  return eps;
}

/** Whether two arrays share any memory. */
export function overlaps(a: Float32Array, b: Float32Array): boolean {
  if (a.buffer !== b.buffer) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}
