// Particle Gibbs with the exact MH path refresh and PMMH (docs/MATH.md §11, T3) against the
// discretised joint's exact answer for a Gaussian prior: the chains' X_0 against
// p_θ(X_0 | y) (batch means over independent chains), and their final Y paths against
// p_θ(Y_{1:S} | y) through the mean squared forward innovation; the same statistic rejects PMMH
// with the ratio of Ẑs alone (test/support/gibbs-cases.ts); and T3′, the Geweke-style joint test
// (sweeps alternating with fresh paths given X_0 keep X_0's marginal). Mutants: tools/mutants-list.ts (§11).
import { expect, test } from '@jest/globals';
import { failures } from '../support/checks';
import { T3_CASES, EVIDENCE_ONLY_CASE, GEWEKE_CASES } from '../support/gibbs-cases';

for (const c of [...T3_CASES, EVIDENCE_ONLY_CASE, ...GEWEKE_CASES]) {
  test(c.name, async () => {
    expect(failures(await c.run(c.seed))).toEqual([]);
  });
}
