// Exact answers for linear-Gaussian observations (docs/MATH.md §7–§8) against an independent
// route: the joint Gaussian mixture of (x, y) (or of (x_t, y)) built in this file, conditioned
// on its y block by the native exact-mask posterior (native/core/mixture.cc), and log p(y)
// from test/support/matrix.ts. The library's gain form (lib/linear-gaussian.ts) shares no
// code with either.
import { describe, expect, test } from '@jest/globals';
import { GaussianMixture, GaussianMixtureSpec } from '../../lib/mixture';
import { ObservationInput, observations } from '../../lib/observation';
import { Matrix, matmul, transpose, matvec, logNormalDensity } from '../support/matrix';
import { randomMixture, randomA, exactMomentZ, EXACT_Z } from '../support/linear-cases';

/** The joint mixture of (scale x_0 + sd ε, A x_0 + σ_y η) and its exact-mask posterior given the y block. */
function jointOracle(spec: GaussianMixtureSpec, A: Matrix, y: number[], noiseStd: number, scale = 1, sd = 0) {
  const D = spec.means[0].length, dy = A.length;
  const means = spec.means.map((m) => [...m.map((v) => scale * v), ...matvec(A, m)]);
  const covariances = spec.covariances!.map((S) => {
    const AS = matmul(A, S), ASAt = matmul(AS, transpose(A));
    const out: Matrix = [];
    for (let a = 0; a < D; a++) out.push([...S[a].map((v, b) => scale * scale * v + (a === b ? sd * sd : 0)), ...AS.map((row) => scale * row[a])]);
    for (let i = 0; i < dy; i++) out.push([...AS[i].map((v) => scale * v), ...ASAt[i].map((v, k) => v + (i === k ? noiseStd * noiseStd : 0))]);
    return out;
  });
  const joint = GaussianMixture.fromJSON({ weights: spec.weights, means, covariances });
  const post = joint.posterior({ indices: Array.from({ length: dy }, (_, i) => D + i), values: y });
  // log p(y) = log Σ_j π_j N(y; A m_j, A Σ_j A^T + σ² I).
  const total = spec.weights.reduce((a, b) => a + b, 0);
  const terms = spec.weights.map((w, j) => Math.log(w / total) + logNormalDensity(y, matvec(A, spec.means[j]), covariances[j].slice(D).map((row) => row.slice(D))));
  const max = Math.max(...terms);
  return { post, logEvidence: max + Math.log(terms.reduce((a, t) => a + Math.exp(t - max), 0)) };
}

/**
 * σ_y = 0: rotate to an orthonormal basis Q = [Q_1, Q_2] whose first r columns span the rows
 * of A (Gram–Schmidt here), so A x = y pins z_1 = (A Q_1)⁻¹ y; the native exact-mask posterior
 * of the rotated mixture gives z_2, mapped back by x = Q_1 z_1 + Q_2 z_2; and
 * p(y) = p(z_1) / |det(A Q_1)|.
 */
function rotatedOracle(spec: GaussianMixtureSpec, A: Matrix, y: number[]) {
  const D = spec.means[0].length, r = A.length;
  const basis: number[][] = [];
  const candidates = [...A, ...Array.from({ length: D }, (_, k) => Array.from({ length: D }, (_, c) => (c === k ? 1 : 0)))];
  for (const v of candidates) {
    const w = [...v];
    for (const b of basis) {
      const d = b.reduce((acc, x, c) => acc + x * w[c], 0);
      for (let c = 0; c < D; c++) w[c] -= d * b[c];
    }
    const n = Math.hypot(...w);
    if (n > 1e-8 && basis.length < D) basis.push(w.map((x) => x / n));
  }
  const Qt = basis; // rows are the basis vectors: z = Qt x
  const Q = transpose(Qt);
  const AQ1 = A.map((row) => Qt.slice(0, r).map((b) => b.reduce((acc, x, c) => acc + x * row[c], 0)));
  // Solve AQ1 z1 = y (small r: Gauss–Jordan), and |det AQ1|.
  const M = AQ1.map((row, i) => [...row, y[i]]);
  let det = 1;
  for (let c = 0; c < r; c++) {
    let p = c;
    for (let i = c + 1; i < r; i++) if (Math.abs(M[i][c]) > Math.abs(M[p][c])) p = i;
    [M[c], M[p]] = [M[p], M[c]];
    if (p !== c) det = -det;
    det *= M[c][c];
    for (let i = 0; i < r; i++) {
      if (i === c) continue;
      const f = M[i][c] / M[c][c];
      for (let k = c; k <= r; k++) M[i][k] -= f * M[c][k];
    }
  }
  const z1 = M.map((row, i) => row[r] / row[i]);
  const rot = GaussianMixture.fromJSON({
    weights: spec.weights,
    means: spec.means.map((m) => matvec(Qt, m)),
    covariances: spec.covariances!.map((S) => matmul(matmul(Qt, S), Q)),
  });
  const post = rot.posterior({ indices: Array.from({ length: r }, (_, i) => i), values: z1 });
  const J = spec.weights.length, d2 = D - r;
  const means = new Float64Array(J * D), covariances = new Float64Array(J * D * D);
  for (let j = 0; j < J; j++) {
    const z = [...z1, ...Array.from(post.means.subarray(j * d2, (j + 1) * d2))];
    matvec(Q, z).forEach((v, a) => (means[j * D + a] = v));
    const C: Matrix = Array.from({ length: D }, (_, a) => Array.from({ length: D }, (_, b) => (a >= r && b >= r ? post.covariances[(j * d2 + a - r) * d2 + b - r] : 0)));
    matmul(matmul(Q, C), Qt).forEach((row, a) => row.forEach((v, b) => (covariances[(j * D + a) * D + b] = v)));
  }
  // p(z_1) with the Gaussian constant, from the rotated components.
  const total = spec.weights.reduce((a, b) => a + b, 0);
  const terms = spec.weights.map((w, j) => {
    const m = matvec(Qt, spec.means[j]).slice(0, r);
    const S = matmul(matmul(Qt, spec.covariances![j]), Q).slice(0, r).map((row) => row.slice(0, r));
    return Math.log(w / total) + logNormalDensity(z1, m, S);
  });
  const max = Math.max(...terms);
  const logEvidence = max + Math.log(terms.reduce((a, t) => a + Math.exp(t - max), 0)) - Math.log(Math.abs(det));
  return { post: { latent: Int32Array.from({ length: D }, (_, k) => k), weights: post.weights, means, covariances, logEvidence: 0 }, logEvidence };
}

function expectPosteriorsEqual(got: ReturnType<GaussianMixture['posterior']>, want: ReturnType<GaussianMixture['posterior']>, tol: number) {
  expect(got.weights.length).toBe(want.weights.length);
  got.weights.forEach((w, j) => expect(Math.abs(w - want.weights[j])).toBeLessThan(tol));
  got.means.forEach((m, k) => expect(Math.abs(m - want.means[k])).toBeLessThan(tol * 10));
  got.covariances.forEach((c, k) => expect(Math.abs(c - want.covariances[k])).toBeLessThan(tol * 10));
}

const D = 5;
const cases: Array<[string, number, number]> = [
  ['1 x D, σ_y = 0.3', 1, 0.3],
  ['2 x D, σ_y = 0.3', 2, 0.3],
  ['2 x D, σ_y = 0.01', 2, 0.01],
  ['1 x D, σ_y = 0', 1, 0],
  ['3 x D, σ_y = 0', 3, 0],
];

describe('GaussianMixture.posterior for y = A x + σ_y ε (gain form) vs joint conditioning', () => {
  test.each(cases)('%s', (_name, rows, noiseStd) => {
    const spec = randomMixture(D, 3, 11 + rows);
    const model = GaussianMixture.fromJSON(spec);
    const A = randomA(rows, D, 5 + rows);
    const y = matvec(A, spec.means[1]).map((v, i) => v + 0.3 * (i + 1));
    const got = model.posterior({ A, y, noiseStd });
    // The native exact-mask posterior agrees with test-side Gaussian algebra to about 1e-8
    // (its eigen-based conditioning); the library's gain form to rounding.
    const want = noiseStd > 0 ? jointOracle(spec, A, y, noiseStd) : rotatedOracle(spec, A, y);
    expect(Array.from(got.latent)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(want.post.latent)).toEqual([0, 1, 2, 3, 4]);
    expectPosteriorsEqual(got, { ...want.post, logEvidence: 0 }, 1e-7);
    expect(got.logEvidence).toBeCloseTo(want.logEvidence, 9);
    // The same observation as an operator with no SVD, and as a flat Float64Array.
    const flat = Float64Array.from(A.flat());
    const op: ObservationInput = {
      operator: {
        apply: (x) => matvec(A, x),
        applyT: (v) => Array.from({ length: D }, (_, c) => A.reduce((acc, row, i) => acc + row[c] * v[i], 0)),
      },
      y, noiseStd,
    };
    expectPosteriorsEqual(model.posterior(op), got, 1e-10);
    expectPosteriorsEqual(model.posterior({ A: flat, rows, y, noiseStd }), got, 1e-12);
  });

  test('a noisy mask equals the same rows of I as a matrix; an exact mask keeps the latent-block answer', () => {
    const spec = randomMixture(D, 2, 3);
    const model = GaussianMixture.fromJSON(spec);
    const mask = model.posterior({ indices: [1, 3], values: [0.5, -1], noiseStd: 0.2 });
    const rows = model.posterior({ A: [[0, 1, 0, 0, 0], [0, 0, 0, 1, 0]], y: [0.5, -1], noiseStd: 0.2 });
    expectPosteriorsEqual(mask, rows, 1e-12);
    expect(mask.logEvidence).toBeCloseTo(rows.logEvidence, 12);
    const exact = model.posterior({ indices: [1, 3], values: [0.5, -1] });
    expect(Array.from(exact.latent)).toEqual([0, 2, 4]);
    expect(exact.logEvidence).toBeCloseTo(model.posterior({ A: [[0, 1, 0, 0, 0], [0, 0, 0, 1, 0]], y: [0.5, -1] }).logEvidence, 10);
  });

  test('an exact mask far from every mean: the weights stay normalised', () => {
    // The components differ only in the latent coordinate and have the same observed variance,
    // so p(j | y) = π_j for every y, however far: the log-weights are −y²/2 + O(1) (−5e17 at
    // y = 1e9), where a log-sum-exp that adds log Σ back to the max loses it.
    const model = GaussianMixture.fromJSON({ weights: [0.3, 0.7], means: [[-2, 0], [2, 0]], variances: [[1, 1], [1, 1]] });
    for (const y of [0, 1e3, 1e6, 1e8, 1e9]) {
      const w = Array.from(model.posterior({ indices: [1], values: [y] }).weights);
      expect(w[0]).toBeCloseTo(0.3, 12);
      expect(w[1]).toBeCloseTo(0.7, 12);
    }
  });

  test('redundant rows: y_⊥ enters only p(y), as −‖y_⊥‖²/(2σ²) − ((d_y − r)/2) log(2πσ²)', () => {
    const spec = randomMixture(D, 2, 4);
    const model = GaussianMixture.fromJSON(spec);
    const a = [1, 0.5, 0, -1, 0.2];
    const one = model.posterior({ A: [a.map((v) => v * Math.SQRT2)], y: [0.7 * Math.SQRT2], noiseStd: 0.4 });
    // Two copies of a with y = (0.5, 0.9): ȳ = (0.5 + 0.9)/√2 along (1,1)/√2, y_⊥ = 0.4/√2·(−1, 1)/... ‖y_⊥‖² = 0.08.
    const two = model.posterior({ A: [a, a], y: [0.5, 0.9], noiseStd: 0.4 });
    expectPosteriorsEqual(two, one, 1e-12);
    expect(two.logEvidence).toBeCloseTo(one.logEvidence - 0.08 / (2 * 0.16) - 0.5 * Math.log(2 * Math.PI * 0.16), 10);
    const want = jointOracle(spec, [a, a], [0.5, 0.9], 0.4);
    expect(two.logEvidence).toBeCloseTo(want.logEvidence, 9);
  });

  test('averagePool: the closed-form SVD gives the dense answer', () => {
    const spec = randomMixture(8, 2, 9);
    const model = GaussianMixture.fromJSON(spec);
    const pool = observations.averagePool({ height: 2, width: 4, channels: 1, factor: 2 }, [0.3, -0.4], 0.05);
    const A = [[0.25, 0.25, 0, 0, 0.25, 0.25, 0, 0], [0, 0, 0.25, 0.25, 0, 0, 0.25, 0.25]];
    expectPosteriorsEqual(model.posterior(pool), model.posterior({ A, y: [0.3, -0.4], noiseStd: 0.05 }), 1e-12);
  });

  test('the noised posterior p_t(x | y) vs conditioning the joint of (α x_0 + σ ε, y)', () => {
    const spec = randomMixture(D, 3, 21);
    const model = GaussianMixture.fromJSON(spec);
    const A = randomA(2, D, 8);
    const y = [0.4, -0.2];
    const alpha = Math.exp(-0.7), sigma2 = 1 - alpha * alpha;
    const got = model.noisedPosterior({ A, y, noiseStd: 0.25 }, alpha, sigma2);
    const want = jointOracle(spec, A, y, 0.25, alpha, Math.sqrt(sigma2));
    expectPosteriorsEqual(got, { ...want.post, logEvidence: 0 }, 1e-7);
  });

  test('a noiseless operator with dependent rows and no SVD is named', () => {
    const model = GaussianMixture.fromJSON({ weights: [1], means: [[0, 0]], covariances: [[[1, 0], [0, 1]]] });
    const operator = { apply: (x: Float64Array) => [x[0], x[0]], applyT: (u: Float64Array) => [u[0] + u[1], 0] };
    expect(() => model.posterior({ operator, y: [0.5, 0.5] })).toThrow(/A Σ_0 A\^T \+ noiseStd² I of component 0 is singular/);
  });
});

describe('sampleExact for linear observations', () => {
  // Mean and second moments of 20000 draws against the posterior mixture's (test/support/
  // linear-cases.ts): |z| ≤ 5.5 over 5 + 15 checks per case. Calibrated over 200 seeds
  // (test/numerics/CALIBRATION.md, "Linear observations"): no seed failed; the z's are N(0, 1)
  // to their sampling error, so the normal tail gives about 20 · 3.8e-8 ≈ 8e-7 per case.
  test.each([
    [0.3, 'dense'],
    [0, 'dense'],
    [0.3, 'diagonal'],
    [0, 'diagonal'],
    [0.3, 'redundant'],
    [3, 'dense'],
    [3, 'redundant'],
  ] as const)('σ_y = %f, %s', async (noiseStd, variant) => {
    const { z, constraintError } = await exactMomentZ(noiseStd, 7, variant);
    expect(Math.max(...z.map(Math.abs))).toBeLessThan(EXACT_Z);
    // Without noise every draw satisfies A x = y to float32 rounding.
    if (noiseStd === 0) expect(constraintError).toBeLessThan(1e-4);
  });
});
