// Twisted SMC (tds, docs/MATH.md §10) against the exact answer of its own discretised chain
// (test/support/tds-cases.ts): a 5-D Gaussian prior observed on coordinates {1, 3}, noisy
// (σ_y = 0.3) and exact, on non-uniform 11-step grids of ou × euler, ddpm linear (respaced),
// vp × ddpm and vp × euler, with every gradient source (none, identity, exact, finite
// differences, a score model's vjp); and observed through a dense 2 x 5 A (σ_y = 0.3; as a
// matrix, and as an operator with its SVD callbacks) with σ_y = 0.3 and without noise, the
// twist then evaluated in A's basis. Per run r, R_r = Ẑ_r / p_θ(y); E[R] = 1, E[R e] = 0 and
// E[R (M − I)] = 0 (whitened weighted moments) hold exactly at any N, so each is a z-score over
// K = 400 runs; Var log Ẑ ≤ 1 keeps the z-scores meaningful and catches a proposal the weights
// do not match.
//
// The oracle never uses the library's coefficients (exact-schedules.ts), so a wrong proposal
// weight, twist bookkeeping or final weight shows (planted one at a time, each failed every
// case it touches: log K/q with the sign flipped, the twist not advanced, the initial weight
// dropped, the final weight without − log p̃_{t₁}, scores not resampled with their states;
// tools/mutants-list.ts). A wrong twist or gradient alone is not a bug: any twist and any g
// keep tds exact (§10), which the five gradient sources passing the same checks shows.
//
// False-failure rates: test/numerics/CALIBRATION.md (tools/calibrate.ts --only '^tds').
import { describe, expect, test } from '@jest/globals';
import { failures } from '../support/checks';
import { TDS_CASES, TDS_SPECS, runTds, tdsCaseName, maskLikelihood } from '../support/tds-cases';
import { tds } from '../../lib/tds';
import { GaussianMixture } from '../../lib/mixture';
import { schedules } from '../../lib/schedules';
import { PRIOR_JSON, OBSERVED, Y0 } from '../support/kalman-problems';

describe('tds matches the exact posterior and evidence of its discretised chain', () => {
  for (const c of TDS_CASES) {
    test(c.name, async () => {
      expect(failures(await c.run(c.seed))).toEqual([]);
    });
  }
});

describe('tds', () => {
  const model = GaussianMixture.fromJSON(PRIOR_JSON);
  const base = { score: model, schedule: schedules.ou({ T: 3 }), steps: 10, observed: { indices: OBSERVED, values: Y0, noiseStd: 0.3 }, particles: 16, samples: 4, seed: 1 };

  test('reports the gradient source that ran and the score evaluations per particle', async () => {
    const auto = await tds(base);
    expect(auto.gradient).toBe('exact');
    expect(auto.scoreEvaluations).toBe(10);
    expect(auto.method).toBe('tds');
    const fd = await tds({ ...base, gradient: 'finite-difference' });
    expect(fd.scoreEvaluations).toBe(10 + 2 * 9);
    const plain = await tds({ ...base, score: { dim: 5, score: (z: Float32Array) => new Float32Array(z.length).map((_, k) => -z[k]) } });
    expect(plain.gradient).toBe('identity');
  });

  test('the same seed gives the same bytes on any thread count', async () => {
    const spec = TDS_SPECS[2];
    const a = await runTds(spec, 9, { runs: 8, particles: 32 });
    const b = await tds({ ...base, score: model, grid: spec.config.grid, schedule: schedules.ou({ T: 3 }), steps: undefined, observed: { indices: OBSERVED, values: Y0, noiseStd: 0.3 }, particles: 32, samples: 8, gradient: 'exact', twistTau2: 4, seed: 9, output: 'all', threads: 1 });
    expect(Buffer.from(b.particles!.buffer).equals(Buffer.from(a.particles!.buffer))).toBe(true);
    expect(Array.from(b.logEvidence)).toEqual(Array.from(a.logEvidence));
  });

  test("a run's draws do not depend on the other runs of its batch, finite differences included", async () => {
    for (const gradient of ['finite-difference', 'exact', 'identity'] as const) {
      const one = await tds({ ...base, gradient, samples: 1, seed: 7 });
      const three = await tds({ ...base, gradient, samples: 3, seed: 7 });
      expect(Array.from(three.samples.subarray(0, 5))).toEqual(Array.from(one.samples));
      expect(three.logEvidence[0]).toBe(one.logEvidence[0]);
    }
  });

  test('a likelihood of -Infinity gives a particle weight 0, never NaN, with or without resampling', async () => {
    // Zero likelihood where x_0 < -0.3: such particles must drop out, whatever the ESS threshold.
    const likelihood = (x: Float32Array, ctx: { rows: number; dim: number }) => {
      const value = new Float64Array(ctx.rows), gradient = new Float32Array(x.length);
      for (let r = 0; r < ctx.rows; r++) value[r] = x[r * ctx.dim] < -0.3 ? -Infinity : -0.5 * (x[r * ctx.dim] - 1) ** 2;
      for (let r = 0; r < ctx.rows; r++) gradient[r * ctx.dim] = value[r] === -Infinity ? 0 : 1 - x[r * ctx.dim];
      return { value, gradient };
    };
    for (const essThreshold of [1, 0.3, 0]) {
      const r = await tds({ score: model, schedule: schedules.vp(), steps: 20, likelihood, particles: 64, samples: 4, seed: 3, essThreshold, gradient: 'identity', output: 'all' });
      expect(r.logEvidence.every(Number.isFinite)).toBe(true);
      expect(r.logWeights!.every((w) => !Number.isNaN(w))).toBe(true);
      // Every particle with positive final weight has x_0 >= -0.3.
      for (let k = 0; k < r.logWeights!.length; k++) if (r.logWeights![k] > -Infinity) expect(r.particles![k * 5]).toBeGreaterThanOrEqual(-0.3);
    }
  });

  test('a noisy mask of every coordinate is those rows of I: the same bytes as the matrix form', async () => {
    const gm = GaussianMixture.fromJSON({ weights: [0.5, 0.5], means: [[-2, 0], [2, 0]], variances: [[1, 1], [1, 1]] });
    const common = { score: gm, schedule: schedules.ou(), steps: 20, particles: 8, samples: 3, seed: 3 };
    const mask = await tds({ ...common, observed: { indices: [1, 0], values: [1, -1], noiseStd: 0.3 } });
    const rows = await tds({ ...common, observed: { A: [[0, 1], [1, 0]], y: [1, -1], noiseStd: 0.3 } });
    expect(Buffer.from(mask.samples.buffer).equals(Buffer.from(rows.samples.buffer))).toBe(true);
    expect(Array.from(mask.logEvidence)).toEqual(Array.from(rows.logEvidence));
  });

  test('bad options are named', async () => {
    await expect(tds({ ...base, gradient: 'vjp' })).rejects.toThrow(/gradient 'vjp' needs a score model with a vjp/);
    await expect(tds({ ...base, score: { dim: 5, score: (z: Float32Array) => z }, gradient: 'exact' })).rejects.toThrow(/gradient 'exact' needs a GaussianMixture/);
    await expect(tds({ ...base, gradient: 'newton' as never })).rejects.toThrow(/gradient must be one of/);
    await expect(tds({ ...base, twistTau2: 0 })).rejects.toThrow(/twistTau2 must be a positive number, got 0/);
    await expect(tds({ ...base, observed: { ...base.observed, noiseStd: -1 } })).rejects.toThrow(/observed.noiseStd must be a non-negative finite number, got -1/);
    await expect(tds({ ...base, observed: { ...base.observed, noiseStd: 1e-200 } })).rejects.toThrow(/^observed\.noiseStd must be 0, or a number whose square is a normal double/);
    await expect(tds({ ...base, finalNoise: true })).rejects.toThrow(/finalNoise must be false for tds/);
    await expect(tds({ ...base, twistTau: 1 } as never)).rejects.toThrow(/unknown option "twistTau" for tds \(did you mean "twistTau2"\?\)/);
    const badVjp = { dim: 5, score: (z: Float32Array) => new Float32Array(z.length), vjp: () => new Float32Array(3) };
    await expect(tds({ ...base, score: badVjp, gradient: 'vjp' })).rejects.toThrow(/vjp must return a Float32Array of 320 values \(rows x D\) at step 1 of 10/);
  });

  // With a N(0, τ² I) prior and twistTau2 = τ², the twist N(y; A x̂₀, σ_y² I + ρ_t AAᵀ) is the exact
  // p_t(y | x_t) (docs/MATH.md §10): the weights are constant up to the discretisation, so ESS/N → 1
  // as the steps shrink; a wrong τ² keeps them uneven. Over seeds (a loop over this test's setup;
  // dense A seeds 1–100, mask 1–40): mean ESS/N at 400 steps 0.991–0.992, at 25 steps at most
  // 0.965; no seed came near the bounds below.
  test('the exact twist: ESS/N → 1 as the step shrinks, a wrong τ² far from it', async () => {
    const t2 = 2;
    const prior = GaussianMixture.fromJSON({ weights: [1], means: [[0, 0, 0]], covariances: [[[t2, 0, 0], [0, t2, 0], [0, 0, t2]]] });
    const run = async (steps: number, twistTau2: number, observed: object) => {
      const r = await tds({ score: prior, schedule: schedules.ou({ T: 3 }), steps, observed: observed as never, particles: 64, samples: 20, seed: 1, twistTau2, gradient: 'exact', essThreshold: 0 });
      return Array.from(r.ess).reduce((a, b) => a + b, 0) / r.ess.length / 64;
    };
    for (const observed of [{ A: [[1, 0.5, 0], [0, 1, -1]], y: [1.5, -0.7], noiseStd: 0.5 }, { indices: [0, 2], values: [1.5, -0.7], noiseStd: 0.5 }]) {
      const coarse = await run(25, t2, observed), fine = await run(400, t2, observed), wrong = await run(400, 0.2, observed);
      expect(fine).toBeGreaterThan(0.98);
      expect(fine).toBeGreaterThan(coarse);
      expect(wrong).toBeLessThan(0.8);
    }
  });

  test('a matrix observation made of rows of I is the noisy mask (its twist in A\'s basis is the mask twist)', async () => {
    const common = { score: model, schedule: schedules.ou({ T: 3 }), steps: 40, particles: 8, samples: 3, seed: 4, twistTau2: 4 };
    const A = OBSERVED.map((k) => Array.from({ length: 5 }, (_, c) => (c === k ? 1 : 0)));
    for (const gradient of ['none', 'identity', 'exact'] as const) {
      const mask = await tds({ ...common, gradient, observed: { indices: OBSERVED, values: Y0, noiseStd: 0.5 } });
      const matrix = await tds({ ...common, gradient, observed: { A, y: Y0, noiseStd: 0.5 } });
      // The same arithmetic up to rounding (x̂₀ rounded to float32 on the matrix path).
      mask.logEvidence.forEach((l, r) => expect(Math.abs(matrix.logEvidence[r] - l)).toBeLessThan(1e-3));
    }
  });

  test('an operator with A and Aᵀ only runs as its dense matrix; a bad matrix is refused by name', async () => {
    const A = [[1, 0.5, 0, -0.3, 0], [0, 0.2, 1, 0, -1]];
    const apply = (x: Float64Array) => Float64Array.from(A, (row) => row.reduce((acc, a, k) => acc + a * x[k], 0));
    const applyT = (u: Float64Array) => Float64Array.from({ length: 5 }, (_, k) => A[0][k] * u[0] + A[1][k] * u[1]);
    for (const noiseStd of [0.2, 0]) {
      const y = noiseStd > 0 ? [0.3, -0.4] : [0.35, -0.1];
      const matrix = await tds({ ...base, gradient: 'exact', observed: { A, y, noiseStd } });
      const operator = await tds({ ...base, gradient: 'exact', observed: { operator: { apply, applyT }, y, noiseStd } });
      expect(Array.from(operator.samples)).toEqual(Array.from(matrix.samples));
      expect(Array.from(operator.logEvidence)).toEqual(Array.from(matrix.logEvidence));
    }
    // A noiseless y outside the range of a rank-1 operator: the dense path's check, by name.
    const rank1 = { apply: (x: Float64Array) => Float64Array.of(x[0], x[0]), applyT: (u: Float64Array) => Float64Array.of(u[0] + u[1], 0, 0, 0, 0) };
    await expect(tds({ ...base, observed: { operator: rank1, y: [0.3, -0.3], noiseStd: 0 } })).rejects.toThrow(/infeasible|range/);
    await expect(tds({ ...base, observed: { A: [[1, 2]], y: [0.3], noiseStd: 0.2 } })).rejects.toThrow(/A/);
  });

  test('a likelihood callback is the mask observation with the twist variance ρ_t → 0', async () => {
    const common = { score: model, schedule: schedules.ou({ T: 3 }), steps: 40, particles: 8, samples: 3, seed: 4 };
    for (const gradient of ['none', 'identity', 'exact'] as const) {
      const mask = await tds({ ...common, gradient, observed: { indices: OBSERVED, values: Y0, noiseStd: 0.5 }, twistTau2: 1e-12 });
      const lik = await tds({ ...common, gradient, twistTau2: 1e-12, likelihood: maskLikelihood(0.5) });
      // The same arithmetic up to rounding: the callback sees x̂₀ rounded to float32, the mask
      // twist keeps it in float64 (differences of ~1e-5 in log Ẑ; a wrong term moves it by > 0.1).
      mask.logEvidence.forEach((l, r) => expect(Math.abs(lik.logEvidence[r] - l)).toBeLessThan(1e-3));
    }
  });

  test('a bad likelihood callback is named', async () => {
    const like = { score: model, schedule: schedules.ou({ T: 3 }), steps: 5, particles: 4, samples: 2 };
    await expect(tds({ ...like, likelihood: () => ({ value: new Float64Array(3), gradient: new Float32Array(40) }) }))
      .rejects.toThrow(/the likelihood must return \{ value: Float64Array\(8\), gradient: Float32Array\(40\) \} \(rows, rows x D\) at the initial draw, got \{ value: a Float64Array, gradient: a Float32Array of 40 \}/);
    await expect(tds({ ...like, likelihood: (x: Float32Array) => ({ value: new Float64Array(8).fill(NaN), gradient: new Float32Array(x.length) }) }))
      .rejects.toThrow(/the likelihood's value must be finite or -Infinity at the initial draw, got NaN at row 0/);
    await expect(tds({ ...like, likelihood: maskLikelihood(1), observed: { indices: [0], values: [1] } })).rejects.toThrow(/observed or likelihood, not both/);
    await expect(tds({ ...like } as never)).rejects.toThrow(/observed must be an object/);
  });

  test('an aborted run rejects with an AbortError', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(tds({ ...base, signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});

test('case names are unique', () => {
  expect(new Set(TDS_SPECS.map(tdsCaseName)).size).toBe(TDS_SPECS.length);
});
