// A Gaussian prior p0 = N(m, Σ) as the tests' exact model (MATH.md §7 with one component):
// its score s_t(z) = −C_t⁻¹ (z − alpha_t m), C_t = alpha_t² Σ + sigma_t² I, written here from
// the definition (not the library's mixture), its conditionals, and a score callback that
// records every state a sampler hands it (the only way, through the public API, to see
// the state between a sampler's moves).
import { ExactSchedule } from './exact-schedules';
import { Matrix, spdInverse, matvec, block, matmul } from './matrix';

export interface GaussianPrior {
  mean: number[];
  cov: Matrix;
}

/** C_t⁻¹ and alpha_t of the noised prior p_t = N(alpha_t m, C_t). */
export function noisedPrecision(p0: GaussianPrior, q: ExactSchedule, t: number): { alpha: number; Cinv: Matrix } {
  const alpha = q.alpha(t), s2 = q.sigma2(t);
  const C = p0.cov.map((row, r) => row.map((x, c) => alpha * alpha * x + (r === c ? s2 : 0)));
  return { alpha, Cinv: spdInverse(C) };
}

/** The exact score of p_t in float64, as a rows x D callback for the samplers. */
export function gaussianScore(p0: GaussianPrior, q: ExactSchedule): (z: Float32Array, t: number) => Float32Array {
  const D = p0.mean.length;
  const cache = new Map<number, { alpha: number; Cinv: Matrix }>();
  return (z, t) => {
    let c = cache.get(t);
    if (c === undefined) cache.set(t, (c = noisedPrecision(p0, q, t)));
    const { alpha, Cinv } = c;
    const rows = z.length / D;
    const out = new Float32Array(z.length);
    const d = new Float64Array(D);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < D; k++) d[k] = z[r * D + k] - alpha * p0.mean[k];
      for (let k = 0; k < D; k++) {
        let acc = 0;
        for (let l = 0; l < D; l++) acc += Cinv[k][l] * d[l];
        out[r * D + k] = -acc;
      }
    }
    return out;
  };
}

export interface ScoreCall {
  t: number;
  /** The state the sampler passed (a copy), rows x D. */
  z: Float32Array;
  /** The score returned for it (what the sampler used). */
  score: Float32Array;
}

/** Wraps a score callback so that every call's state and result are kept, in call order. */
export function recordingScore(score: (z: Float32Array, t: number) => Float32Array): {
  score: (z: Float32Array, t: number) => Float32Array;
  calls: ScoreCall[];
} {
  const calls: ScoreCall[] = [];
  return {
    calls,
    score: (z, t) => {
      const s = score(z, t);
      calls.push({ t, z: z.slice(), score: s.slice() });
      return s;
    },
  };
}

/** p(X | Y = y) of a Gaussian N(mean, cov) on coordinates (latent | observed). */
export function conditionalGaussian(mean: number[], cov: Matrix, latent: number[], observed: number[], y: number[]): { mean: number[]; cov: Matrix } {
  const Sxy = block(cov, latent, observed), Syy = block(cov, observed, observed), Sxx = block(cov, latent, latent);
  const gain = matmul(Sxy, spdInverse(Syy));
  const innov = observed.map((k, j) => y[j] - mean[k]);
  const gi = matvec(gain, innov);
  const GSyx = matmul(gain, Sxy.length ? Sxy[0].map((_, j) => Sxy.map((row) => row[j])) : []);
  return {
    mean: latent.map((k, a) => mean[k] + gi[a]),
    cov: Sxx.map((row, a) => row.map((x, b) => x - GSyx[a][b])),
  };
}

/** Splits 0..D−1 into the latent coordinates (those not observed). */
export function latentOf(dim: number, observed: number[]): number[] {
  const out: number[] = [];
  for (let k = 0; k < dim; k++) if (!observed.includes(k)) out.push(k);
  return out;
}
