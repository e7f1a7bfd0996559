// Particle Gibbs on a Gaussian mixture (docs/MATH.md §11): thinned chain draws at the
// exact-vs-exact noise floor of p(X | y) and batch-means z-scores of its mean and variance
// (test/support/gibbs-mixture.ts; calibration: test/numerics/CALIBRATION.md).
import { expect, test } from '@jest/globals';
import { failures } from '../support/checks';
import { MIXTURE_CHAIN_CASE } from '../support/gibbs-mixture';

test(MIXTURE_CHAIN_CASE.name, async () => {
  expect(failures(await MIXTURE_CHAIN_CASE.run(MIXTURE_CHAIN_CASE.seed))).toEqual([]);
});
