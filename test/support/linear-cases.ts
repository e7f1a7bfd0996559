// Random problems for the exact linear-Gaussian answers (test/numerics/linear-posterior.test.ts)
// and the moment check of sampleExact, a function of its seed so that tools can recalibrate it.
import { GaussianMixture, GaussianMixtureSpec } from '../../lib/mixture';
import { matmul, transpose, matvec } from './matrix';

export function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    x ^= x >>> 13;
    return (x >>> 0) / 4294967296;
  };
}
export function gauss(u: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** A random mixture in R^D (positive definite covariances). */
export function randomMixture(D: number, J: number, seed: number): GaussianMixtureSpec {
  const u = rng(seed);
  const covariances = Array.from({ length: J }, () => {
    const B = Array.from({ length: D }, () => Array.from({ length: D }, () => gauss(u) * 0.6));
    const S = matmul(B, transpose(B));
    for (let a = 0; a < D; a++) S[a][a] += 0.05;
    return S;
  });
  return { weights: Array.from({ length: J }, () => 0.2 + u()), means: Array.from({ length: J }, () => Array.from({ length: D }, () => 2 * gauss(u))), covariances };
}

export function randomA(rows: number, D: number, seed: number): number[][] {
  const u = rng(seed);
  return Array.from({ length: rows }, () => Array.from({ length: D }, () => gauss(u)));
}

export const EXACT_Z = 5.5;

/**
 * z-scores of 20000 sampleExact draws (D = 5, three components, 2 x 5 A, y = (0.5, 1.5)) against
 * the posterior mixture: each mean (sd from the mixture variance) and each second moment E[x_a x_b]
 * (sd from the draws' fourth moments); and, for σ_y = 0, the largest |A x − y| of 100 draws.
 */
/**
 * z's of sampleExact's moments against the posterior's: 'dense' covariances and A with two rows;
 * 'diagonal' covariances (the diagonals of the dense ones: the square-root path); 'redundant'
 * adds a copy of A's first row with its own y (rank 2 < d_y = 3: the SVD basis, needs σ_y > 0).
 */
export async function exactMomentZ(noiseStd: number, seed: number, variant: 'dense' | 'diagonal' | 'redundant' = 'dense'): Promise<{ z: number[]; constraintError: number }> {
  const D = 5;
  const spec = randomMixture(D, 3, 31);
  const model = GaussianMixture.fromJSON(
    variant === 'diagonal' ? { weights: spec.weights, means: spec.means, variances: spec.covariances!.map((c) => c.map((row, a) => row[a])) } : spec,
  );
  const A = randomA(2, D, 12);
  const y = [0.5, 1.5];
  if (variant === 'redundant') {
    A.push(A[0].slice());
    y.push(0.1);
  }
  const post = model.posterior({ A, y, noiseStd });
  const n = 20000;
  const x = await model.sampleExact({ A, y, noiseStd }, n, { seed });
  const mean = new Array<number>(D).fill(0), m2 = Array.from({ length: D }, () => new Array<number>(D).fill(0));
  post.weights.forEach((w, j) => {
    for (let a = 0; a < D; a++) {
      mean[a] += w * post.means[j * D + a];
      for (let b = 0; b < D; b++) m2[a][b] += w * (post.covariances[(j * D + a) * D + b] + post.means[j * D + a] * post.means[j * D + b]);
    }
  });
  const z: number[] = [];
  for (let a = 0; a < D; a++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += x[k * D + a];
    z.push((s / n - mean[a]) / Math.sqrt((m2[a][a] - mean[a] * mean[a]) / n));
    for (let b = a; b < D; b++) {
      let s1 = 0, s2 = 0;
      for (let k = 0; k < n; k++) {
        const p = x[k * D + a] * x[k * D + b];
        s1 += p;
        s2 += p * p;
      }
      z.push((s1 / n - m2[a][b]) / Math.sqrt((s2 / n - (s1 / n) ** 2) / n));
    }
  }
  let constraintError = 0;
  for (let k = 0; k < 100; k++) {
    const ax = matvec(A, x.subarray(k * D, (k + 1) * D));
    ax.forEach((v, i) => (constraintError = Math.max(constraintError, Math.abs(v - y[i]))));
  }
  return { z, constraintError };
}
