// The correctors of MATH.md §3 (Algorithm 2's Langevin steps, both step-size rules, and
// RePaint's re-noising) against exact laws on a Gaussian prior; the derivations are in
// test/support/corrector-cases.ts. Every sampler runs through the public API (replacement with
// a corrector); a recording score callback sees the state between moves.
//   - many fixed-step Langevin moves at one level reach N(m, Σ(I − δΣ⁻¹/2)⁻¹), which is not
//     the target N(m, Σ) (the checks reject the target too: they see the discretisation);
//   - each gamma-rule move has noise (X' − X − δ g)/√(2δ) ~ N(0, I), δ = γ σ_s²;
//   - each SNR-rule move, inverted with δ = 2α(r‖ξ‖/‖g‖)², gives back iid N(0, 1) noise;
//   - each RePaint re-noising has the forward law given the step's input, with the step's Y_t.
// 4000 samples; |z| ≤ 6 on every z-score. False-failure rates: CALIBRATION (tools/calibrate.ts).
import { describe, expect, test } from '@jest/globals';
import { failures, worstExcess } from '../support/checks';
import {
  STATIONARY,
  MOVES,
  CORRECTOR_SEED,
  stationaryLaw,
  runStationary,
  stationaryChecks,
  gammaMoveChecks,
  snrMoveChecks,
  repaintChecks,
  snrDelta,
} from '../support/corrector-cases';
import { spdInverse, matmul } from '../support/matrix';

describe.each(STATIONARY.map((p) => [p.name, p] as const))('Langevin with a fixed step, many steps at one level: %s', (_name, p) => {
  test('the closed-form stationary covariance solves P = (I − δA) P (I − δA) + 2δ I', () => {
    const law = stationaryLaw(p);
    const A = spdInverse(law.target);
    const F = A.map((row, i) => row.map((x, j) => (i === j ? 1 : 0) - law.delta * x));
    let P = law.target.map((r) => r.map(() => 0));
    for (let k = 0; k < 2000; k++) P = matmul(matmul(F, P), F).map((r, i) => r.map((x, j) => x + (i === j ? 2 * law.delta : 0)));
    P.forEach((r, i) => r.forEach((x, j) => expect(x).toBeCloseTo(law.stationary[i][j], 10)));
    expect(law.contraction ** p.steps).toBeLessThan(1e-4); // L steps forget the start
  });

  test('reaches N(m, Σ(I − δΣ⁻¹/2)⁻¹) in mean and covariance, and the same checks reject the target N(m, Σ)', async () => {
    const draws = await runStationary(p, CORRECTOR_SEED);
    expect(failures(stationaryChecks(p, draws))).toEqual([]);
    // power: the discretisation's inflation (up to 1/(1 − γ/2) in the stiffest direction) is seen
    expect(worstExcess(stationaryChecks(p, draws, 'target'))).toBeGreaterThan(1.5);
  });
});

describe.each(MOVES.map((p) => [p.name, p] as const))('one corrector move at a time: %s', (_name, p) => {
  test('gamma rule: (X′ − X − δ g)/√(2δ) ~ N(0, I) with δ = γ σ_s², at s > 0 and at s = 0; Y untouched', async () => {
    expect(failures(await gammaMoveChecks(p, CORRECTOR_SEED))).toEqual([]);
  });

  test('SNR rule: inverting δ = 2α(r‖ξ‖/‖g_X‖)², α = α²_{t|s}, gives back iid N(0, 1) noise', async () => {
    expect(failures(await snrMoveChecks(p, CORRECTOR_SEED))).toEqual([]);
  });

  test("RePaint: each re-noised X has the forward law given the step's input, with the step's own Y_t", async () => {
    expect(failures(await repaintChecks(p, CORRECTOR_SEED))).toEqual([]);
  });
});

test('power: a noise of √δ, or an SNR step without its factor 2, fails the move checks', async () => {
  const p = MOVES[0];
  expect(worstExcess(await gammaMoveChecks(p, CORRECTOR_SEED, 0.3, 1))).toBeGreaterThan(1.5);
  expect(worstExcess(await snrMoveChecks(p, CORRECTOR_SEED, 0.16, 1))).toBeGreaterThan(1.5);
});

test('snrDelta inverts the SNR move exactly', () => {
  // a made-up move: g, ξ, alpha, r → u; the inversion returns delta
  const g = [0.7, -1.3, 0.4], xi = [0.2, 1.1, -0.8], alpha = 0.6, r = 0.16;
  const A = g.reduce((a, v) => a + v * v, 0), nxi = xi.reduce((a, v) => a + v * v, 0);
  const delta = (2 * alpha * r * r * nxi) / A;
  const u = g.map((v, j) => delta * v + Math.sqrt(2 * delta) * xi[j]);
  const B = u.reduce((a, v, j) => a + v * g[j], 0), C = u.reduce((a, v) => a + v * v, 0);
  expect(snrDelta(A, B, C, 1 / (alpha * r * r))).toBeCloseTo(delta, 14);
});
