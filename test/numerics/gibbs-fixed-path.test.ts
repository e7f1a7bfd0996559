// Particle Gibbs (docs/MATH.md §11) against exact answers. T1: every chain's Y path held
// fixed, a Gaussian prior: the chains' X_0 against the Kalman filter's p_θ(X_0 | Y path)
// (test/support/gibbs-cases.ts), batch-means z-scores over independent chains. The cases
// cover ancestry tracing and backward sampling, the final index by weight and the forced
// move, the Euler and DDPM kernels (v_nom at the last step) and the 2-D problem whose Y
// increments are informative (where backward sampling with the weight after the increment
// fails by z = 6–13 with four paths pooled). T3 (the refreshes and PMMH): gibbs-joint.test.ts.
// Mutants: tools/mutants-list.ts (§11).
import { expect, test } from '@jest/globals';
import { failures } from '../support/checks';
import { T1_CASES } from '../support/gibbs-cases';

for (const c of T1_CASES) {
  test(c.name, async () => {
    expect(failures(await c.run(c.seed))).toEqual([]);
  });
}
