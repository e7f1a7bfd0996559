// The built-in mixture's structured score paths (MATH.md §7): the structure each input is
// given, the rules' tolerance, and every path's score against a float64 reference from the
// definition and against the dense path on the same model nudged just past the tolerance
// (the only way to make the addon run the dense path on it).
import { describe, expect, test } from '@jest/globals';
import { GaussianMixture, GaussianMixtureSpec, STRUCTURE_TOLERANCE } from '../../lib/mixture';
import { replacement } from '../../lib/samplers';
import { schedules } from '../../lib/schedules';
import type { ScoreContext } from '../../lib/score';

const TAU = STRUCTURE_TOLERANCE;

/** Mulberry32 with Box–Muller: a fixed-seed source for test problems. */
function normals(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

type Kind = 'identity' | 'isotropic' | 'diagonal' | 'shared diagonal' | 'shared dense' | 'dense';

/** J components in D dimensions, means ~ N(3, 4 I) (off the origin), as full matrices. */
function problem(kind: Kind, D: number, J: number, seed = 1): GaussianMixtureSpec & { covariances: number[][][] } {
  const normal = normals(seed);
  const positive = () => 0.5 + Math.abs(normal());
  const dense = () => {
    const b = Array.from({ length: D * D }, normal);
    return Array.from({ length: D }, (_, i) =>
      Array.from({ length: D }, (_, k) => {
        let s = 0;
        for (let l = 0; l < D; l++) s += b[i * D + l] * b[k * D + l];
        return s / D + (i === k ? 0.5 : 0);
      }),
    );
  };
  const diag = (v: number[]) => v.map((x, i) => v.map((_, k) => (i === k ? x : 0)));
  const sharedDense = dense();
  const sharedVariances = Array.from({ length: D }, positive);
  const covariances = Array.from({ length: J }, () => {
    switch (kind) {
      case 'identity': return diag(new Array(D).fill(1));
      case 'isotropic': return diag(new Array(D).fill(positive()));
      case 'diagonal': return diag(Array.from({ length: D }, positive));
      case 'shared diagonal': return diag(sharedVariances);
      case 'shared dense': return sharedDense.map((row) => [...row]);
      default: return dense();
    }
  });
  return {
    weights: Array.from({ length: J }, positive),
    means: Array.from({ length: J }, () => Array.from({ length: D }, () => 3 + 2 * normal())),
    covariances,
  };
}

/** The same model with one off-diagonal pair of component 0 moved by 4 τ √(Σ_00 Σ_11): dense path. */
function nudged(spec: { covariances: number[][][] } & GaussianMixtureSpec): GaussianMixtureSpec {
  const covariances = spec.covariances.map((c) => c.map((row) => [...row]));
  const c = covariances[0];
  c[0][1] = c[1][0] = c[0][1] + 4 * TAU * Math.sqrt(c[0][0] * c[1][1]);
  return { ...spec, covariances };
}

/** Lower Cholesky factor of an n x n matrix (row-major). */
function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= l[j * n + k] ** 2;
    l[j * n + j] = Math.sqrt(d);
    for (let i = j + 1; i < n; i++) {
      let x = a[i * n + j];
      for (let k = 0; k < j; k++) x -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = x / l[j * n + j];
    }
  }
  return l;
}

/**
 * The float64 score of MATH.md §7 at every row, and each row's scale
 * S = Σ_j r_j (‖g_j‖_∞ + ‖C_j⁻¹‖_∞ (‖z‖_∞ + α ‖m_j‖_∞)), g_j = C_j⁻¹ (z − α m_j): what float32
 * inputs alone move the score by, in units of u = 2⁻²⁴ (as native/test/mixture_test.cc).
 */
function referenceScore(spec: GaussianMixtureSpec & { covariances: number[][][] }, z: Float32Array, alpha: number, sigma2: number): { score: Float64Array; scale: Float64Array } {
  const J = spec.weights.length, D = spec.means[0].length, rows = z.length / D;
  const wsum = spec.weights.reduce((a, b) => a + b, 0);
  const factors: Float64Array[] = [], logDet: number[] = [], invNorm: number[] = [];
  for (let j = 0; j < J; j++) {
    const c = new Float64Array(D * D);
    for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) c[a * D + b] = alpha * alpha * spec.covariances[j][a][b] + (a === b ? sigma2 : 0);
    const l = cholesky(c, D);
    factors.push(l);
    let s = 0;
    for (let a = 0; a < D; a++) s += 2 * Math.log(l[a * D + a]);
    logDet.push(s);
    const rowSums = new Float64Array(D);
    for (let k = 0; k < D; k++) {
      const e = new Float64Array(D);
      e[k] = 1;
      solve(l, D, e);
      for (let a = 0; a < D; a++) rowSums[a] += Math.abs(e[a]);
    }
    invNorm.push(Math.max(...rowSums));
  }
  const score = new Float64Array(rows * D), scale = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const zr = z.subarray(r * D, (r + 1) * D);
    const zmax = Math.max(...Array.from(zr, Math.abs));
    const lp = new Float64Array(J), g: Float64Array[] = [], term = new Float64Array(J);
    for (let j = 0; j < J; j++) {
      const d = Float64Array.from(zr, (x, k) => x - alpha * spec.means[j][k]);
      const x = Float64Array.from(d);
      solve(factors[j], D, x);
      let quad = 0;
      for (let k = 0; k < D; k++) quad += d[k] * x[k];
      lp[j] = Math.log(spec.weights[j] / wsum) - 0.5 * logDet[j] - 0.5 * quad;
      g.push(x);
      term[j] = Math.max(...Array.from(x, Math.abs)) + invNorm[j] * (zmax + alpha * Math.max(...spec.means[j].map(Math.abs)));
    }
    const mx = Math.max(...lp);
    let total = 0;
    for (let j = 0; j < J; j++) total += (lp[j] = Math.exp(lp[j] - mx));
    for (let j = 0; j < J; j++) {
      for (let k = 0; k < D; k++) score[r * D + k] -= (lp[j] / total) * g[j][k];
      scale[r] += (lp[j] / total) * term[j];
    }
  }
  return { score, scale };
}

/** Solves L Lᵀ x = b in place. */
function solve(l: Float64Array, n: number, b: Float64Array): void {
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * b[k];
    b[i] = s / l[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * b[k];
    b[i] = s / l[i * n + i];
  }
}

describe('structure detection', () => {
  const cases: [Kind, string, string][] = [
    ['identity', 'shared isotropic', 'isotropic'],
    ['isotropic', 'isotropic', 'isotropic'],
    ['diagonal', 'diagonal', 'diagonal'],
    ['shared diagonal', 'shared diagonal', 'shared'],
    ['shared dense', 'shared dense', 'shared'],
    ['dense', 'dense', 'dense'],
  ];
  test.each(cases)('%s covariances given as matrices: %s, the %s path', (kind, structure, path) => {
    const model = GaussianMixture.fromJSON(problem(kind, 5, 3));
    expect(model.structure).toBe(structure);
    expect(model.scorePath).toBe(path);
    expect(String(model)).toBe(`GaussianMixture(dim 5, 3 components, ${structure} covariances, ${path} score path)`);
  });

  test('variances are diagonal, isotropic when equal, shared when the same', () => {
    const v = (rows: number[][]) => GaussianMixture.fromJSON({ weights: rows.map(() => 1), means: rows.map((r) => r.map(() => 0)), variances: rows });
    expect(v([[1, 2], [3, 4]]).structure).toBe('diagonal');
    expect(v([[2, 2], [3, 3]]).structure).toBe('isotropic');
    expect(v([[1, 2], [1, 2]]).structure).toBe('shared diagonal');
    expect(v([[1, 1], [1, 1]]).scorePath).toBe('isotropic');
    expect(v([[1, 2]]).scorePath).toBe('shared'); // one component is shared by definition
  });

  test('the tolerance τ = 2^-24 holds from inside and is exceeded from outside', () => {
    const eye = (s: number) => [[s, 0, 0], [0, s, 0], [0, 0, s]];
    const model = (c0: number[][], c1: number[][]) => GaussianMixture.fromJSON({ weights: [1, 1], means: [[0, 0, 0], [1, 1, 1]], covariances: [c0, c1] });
    for (const [f, inside] of [[0.5, true], [2, false]] as const) {
      const off = eye(4);
      off[0][2] = off[2][0] = f * TAU * 4; // a correlation of f τ
      expect(model(eye(4), off).structure).toBe(inside ? 'shared isotropic' : 'dense');
      const spread = eye(4);
      spread[1][1] *= 1 + f * TAU;
      expect(model(spread, spread).structure).toBe(inside ? 'shared isotropic' : 'shared diagonal');
      expect(model(eye(4), eye(4 * (1 + f * TAU))).structure).toBe(inside ? 'shared isotropic' : 'isotropic');
    }
  });
});

describe('every structured path scores as the dense path and the float64 definition', () => {
  const kinds: Kind[] = ['identity', 'isotropic', 'diagonal', 'shared diagonal', 'shared dense'];
  const u = 2 ** -24;
  for (const kind of kinds) {
    for (const [D, J] of [[2, 3], [8, 25], [17, 5], [40, 25]] as const) {
      test(`${kind}, D = ${D}, J = ${J}`, async () => {
        const spec = problem(kind, D, J, D * 31 + J);
        const fast = GaussianMixture.fromJSON(spec);
        const dense = GaussianMixture.fromJSON(nudged(spec));
        expect(fast.scorePath).not.toBe('dense');
        expect(dense.scorePath).toBe('dense');
        const normal = normals(D + J);
        const rows = 37; // two blocks of 16 and a partial one
        for (const t of [0.01, 0.3, 3]) {
          const alpha = Math.exp(-t), sigma = Math.sqrt(1 - Math.exp(-2 * t));
          const z = new Float32Array(rows * D);
          for (let r = 0; r < rows; r++) {
            const j = r % J, spread = Math.sqrt(alpha * alpha + sigma * sigma) * (r % 5 === 0 ? 3 : 1);
            for (let k = 0; k < D; k++) z[r * D + k] = alpha * spec.means[j][k] + spread * normal();
          }
          const context: ScoreContext = { alpha, sigma, t, rows, dim: D };
          const a = await fast.score(z, t, context);
          const b = await dense.score(z, t, context);
          const ref = referenceScore(spec, z, alpha, sigma * sigma);
          // Float32 rounding of sums of D terms, with a margin (the C++ test prints how much).
          const bound = 64 * u * Math.sqrt(D + 1);
          let fastErr = 0, between = 0;
          for (let r = 0; r < rows; r++) {
            for (let k = 0; k < D; k++) {
              fastErr = Math.max(fastErr, Math.abs(a[r * D + k] - ref.score[r * D + k]) / ref.scale[r]);
              // The nudge moves the dense model's score by about 4 τ relative: inside 2 bounds.
              between = Math.max(between, Math.abs(a[r * D + k] - b[r * D + k]) / ref.scale[r]);
            }
          }
          expect(fastErr).toBeLessThan(bound);
          expect(between).toBeLessThan(2 * bound);
        }
      });
    }
  }
});

describe('end to end', () => {
  test('replacement with identity covariances as matrices follows the dense path to float32 rounding', async () => {
    const spec = problem('identity', 12, 6, 5);
    const observed = { indices: [0, 1, 2], values: spec.means[0].slice(0, 3) };
    const run = (model: GaussianMixture) => replacement({ score: model, schedule: schedules.ou({ T: 5 }), steps: 60, observed, samples: 64, seed: 3, threads: 1 });
    const fast = await run(GaussianMixture.fromJSON(spec));
    const dense = await run(GaussianMixture.fromJSON(nudged(spec)));
    let worst = 0;
    for (let i = 0; i < fast.samples.length; i++) worst = Math.max(worst, Math.abs(fast.samples[i] - dense.samples[i]));
    // 60 steps of float32 rounding differences, each contracted by the reverse dynamics.
    expect(worst).toBeLessThan(1e-3);
  });
});
