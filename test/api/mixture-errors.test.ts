// GaussianMixture errors: every malformed spec is named by the field at fault (the input is
// never written to), and a loaded mixture's methods validate their arguments.
import { describe, expect, test } from '@jest/globals';
import { GaussianMixture, noiseFloor, slicedWasserstein } from '../../lib/index';
import { rejectsWith, throwsWith, ErrorName } from '../support/errors';
import { mixtureSpec } from '../support/problems';

describe('GaussianMixture.fromJSON', () => {
  const cases: [string, unknown, ErrorName, RegExp][] = [
    ['not an object', null, 'TypeError', /^model must be an object with weights, means and covariances or variances, got null$/],
    ['an array', [1], 'TypeError', /^model must be an object .*got an Array of length 1$/],
    ['a JSON string', '{"weights":[1]}', 'TypeError', /^model must be an object .*got "/],
    ['missing weights', { means: [[0]], variances: [[1]] }, 'TypeError', /^weights must be an array of numbers, got undefined$/],
    ['empty weights', { weights: [], means: [], variances: [] }, 'RangeError', /^weights must be a non-empty array, got an Array of length 0$/],
    ['missing means', { weights: [1], variances: [[1]] }, 'TypeError', /^means must be an array of arrays, got undefined$/],
    ['missing covariances and variances', { weights: [1], means: [[0, 0]] }, 'TypeError', /^model must have exactly one of "covariances" or "variances", got neither$/],
    ['both covariances and variances', { weights: [1], means: [[0]], variances: [[1]], covariances: [[[1]]] }, 'TypeError', /got both$/],
    ['means not nested', { weights: [0.5, 0.5], means: [0, 1], variances: [[1], [1]] }, 'TypeError', /^means\[0\] must be an array of numbers, got 0$/],
    ['one mean too few', { weights: [0.5, 0.5], means: [[0, 1]], variances: [[1, 1]] }, 'RangeError', /^means must be an array of 2 means \(one per weight\), got an Array of length 1$/],
    ['ragged means', { weights: [0.5, 0.5], means: [[0, 1], [0, 1, 2]], variances: [[1, 1], [1, 1]] }, 'RangeError', /^means\[1\] must be an array of length 2, got an Array of length 3$/],
    ['empty mean', { weights: [1], means: [[]], variances: [[]] }, 'RangeError', /^means\[0\] must be a non-empty array, got an Array of length 0$/],
    ['covariance missing a level', { weights: [1], means: [[0, 0]], covariances: [[1, 0], [0, 1]] }, 'TypeError', /^covariances must be an array of 1 matrices, got an Array of length 2$/],
    ['covariance row not an array', { weights: [0.5, 0.5], means: [[0, 0], [1, 1]], covariances: [[1, 0], [0, 1]] }, 'TypeError', /^covariances\[0\]\[0\] must be an array of numbers, got 1$/],
    ['covariance wrong size', { weights: [1], means: [[0, 0]], covariances: [[[1]]] }, 'TypeError', /^covariances\[0\] must be a 2 x 2 matrix, got an Array of length 1$/],
    ['variances wrong count', { weights: [1], means: [[0, 0]], variances: [[1, 1], [1, 1]] }, 'TypeError', /^variances must be an array of 1 arrays, got an Array of length 2$/],
    ['variance row wrong length', { weights: [1], means: [[0, 0]], variances: [[1]] }, 'RangeError', /^variances\[0\] must be an array of length 2, got an Array of length 1$/],
    ['weight a string', { weights: ['1'], means: [[0]], variances: [[1]] }, 'TypeError', /^weights\[0\] must be a finite number, got "1"$/],
    ['weight NaN', { weights: [NaN], means: [[0]], variances: [[1]] }, 'TypeError', /^weights\[0\] must be a finite number, got NaN$/],
    ['weights whose sum overflows', { weights: [1e308, 1e308], means: [[0], [1]], variances: [[1], [1]] }, 'RangeError', /^weights must be numbers with a finite sum, got an Array of length 2$/],
    ['mean null', { weights: [1], means: [[0, null]], variances: [[1, 1]] }, 'TypeError', /^means\[0\]\[1\] must be a finite number, got null$/],
    ['mean Infinity', { weights: [1], means: [[Infinity]], variances: [[1]] }, 'TypeError', /^means\[0\]\[0\] must be a finite number, got Infinity$/],
    ['covariance NaN', { weights: [1], means: [[0, 0]], covariances: [[[1, NaN], [NaN, 1]]] }, 'TypeError', /^covariances\[0\]\[0\]\[1\] must be a finite number, got NaN$/],
    ['negative weight', { weights: [-0.5, 1], means: [[0], [1]], variances: [[1], [1]] }, 'RangeError', /^weights\[0\] must be a positive finite number, got -0\.5/],
    ['zero weight', { weights: [1, 0], means: [[0], [1]], variances: [[1], [1]] }, 'RangeError', /^weights\[1\] must be a positive finite number, got 0/],
    ['not symmetric', { weights: [1], means: [[0, 0]], covariances: [[[1, 0.5], [0, 1]]] }, 'RangeError', /^covariances\[0\] must be symmetric, got entry \[0\]\[1\] = 0\.5 but \[1\]\[0\] = 0$/],
    ['not positive definite', { weights: [1], means: [[0, 0]], covariances: [[[1, 2], [2, 1]]] }, 'RangeError', /^covariances\[0\] must be positive definite, got smallest eigenvalue -(1|0\.99999999999999\d*)$/],
    ['singular', { weights: [0.5, 0.5], means: [[0, 0], [0, 0]], covariances: [[[1, 0], [0, 1]], [[1, 1], [1, 1]]] }, 'RangeError', /^covariances\[1\] must be positive definite/],
    ['zero variance', { weights: [1], means: [[0, 0]], variances: [[1, 0]] }, 'RangeError', /^variances\[0\]\[1\] must be positive and finite .*got 0/],
    ['negative variance', { weights: [1], means: [[0, 0]], variances: [[-1, 1]] }, 'RangeError', /^variances\[0\]\[0\] must be positive and finite .*got -1/],
  ];
  test.each(cases)('%s', (_label, spec, name, message) => {
    const before = JSON.stringify(spec);
    throwsWith(() => GaussianMixture.fromJSON(spec), name, message);
    expect(JSON.stringify(spec)).toBe(before); // the input is never written to
  });

  test('a valid spec still loads, and its methods validate their arguments', async () => {
    const gm = GaussianMixture.fromJSON(JSON.parse(JSON.stringify(mixtureSpec())));
    expect(gm.dim).toBe(3);
    expect(gm.components).toBe(2);
    throwsWith(() => gm.posterior({ indices: [3], values: [0] }), 'RangeError', /^observed\.indices\[0\] must be an integer in \[0, 3\), got 3$/);
    await rejectsWith(gm.sampleExact({ indices: [0], values: [0] }, 0), 'RangeError', /^n must be a positive integer .*got 0$/);
    await rejectsWith(gm.sampleExact({ indices: [0], values: [0] }, 4, { seed: -2 }), 'RangeError', /^seed must be a non-negative integer .*got -2$/);
    // A misspelt option was left at its default, and a null one read as a property of null.
    await rejectsWith(gm.sampleExact({ indices: [0], values: [0] }, 4, { seeds: 5 } as never), 'TypeError', /^unknown option "seeds" for sampleExact \(did you mean "seed"\?\)$/);
    await rejectsWith(gm.sampleExact({ indices: [0], values: [0] }, 4, null as never), 'TypeError', /^the options of sampleExact must be an object, got null$/);
    await rejectsWith(slicedWasserstein(new Float32Array(6), new Float32Array(6), 3, { direction: 8 } as never), 'TypeError', /^unknown option "direction" for slicedWasserstein \(did you mean "directions"\?\)$/);
    await rejectsWith(noiseFloor(gm, { indices: [0], values: [0] }, 8, { replicate: 2 } as never), 'TypeError', /^unknown option "replicate" for noiseFloor \(did you mean "replicates"\?\)$/);
    await rejectsWith(noiseFloor(gm, { indices: [0], values: [0] }, 8, { replicates: 2, quantile: '0.5' } as never), 'TypeError', /^quantile must be a number in \(0, 1\), got "0\.5"$/);
    // Numbers of the context are not coerced.
    await rejectsWith(gm.score(new Float32Array(3), 1, { t: 1, alpha: 0.5, sigma: '1', rows: 1, dim: 3 } as never), 'TypeError', /^context\.sigma must be a number, got "1"$/);
    // The score at t = 0 is undefined (sigma = 0): the addon says so.
    await rejectsWith(
      gm.score(new Float32Array(3), 0, { t: 0, alpha: 1, sigma: 0, rows: 1, dim: 3 }),
      'RangeError',
      /^sigma2 must be positive \(the score at t = 0 is not defined\), got 0$/,
    );
    await rejectsWith(
      gm.score(new Float32Array(4), 1, { t: 1, alpha: 0.5, sigma: 0.8, rows: 1, dim: 3 }),
      'RangeError',
      /^z must have a length divisible by the mixture's dim 3, got 4$/,
    );
  });
});
