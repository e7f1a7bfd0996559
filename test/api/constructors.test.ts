// The exported classes are built by their factories; TypeScript keeps its callers from their
// private constructors, and a JavaScript caller's `new` is refused naming the factory instead
// of failing on a missing field inside.
import { describe, expect, test } from '@jest/globals';
import { ConditionalGaussianMixture, GaussianMixture, OnnxScore } from '../../lib/index';
import { mixtureSpec } from '../support/problems';

type AnyClass = new (...args: unknown[]) => unknown;

describe('new on a class built by a factory', () => {
  const spec = mixtureSpec();
  const cases: [string, AnyClass, unknown[], RegExp][] = [
    ['GaussianMixture', GaussianMixture as unknown as AnyClass, [spec], /^GaussianMixture is not built with new: use GaussianMixture\.fromJSON\(spec\)$/],
    ['ConditionalGaussianMixture', ConditionalGaussianMixture as unknown as AnyClass, [{ ...spec, classes: [0, 1] }], /^ConditionalGaussianMixture is not built with new: use ConditionalGaussianMixture\.fromJSON\(spec\)$/],
    ['OnnxScore', OnnxScore as unknown as AnyClass, ['model.onnx'], /^OnnxScore is not built with new: use await OnnxScore\.load\(model, options\)$/],
  ];
  test.each(cases)('%s names its factory', (_name, cls, args, message) => {
    expect(() => new cls(...args)).toThrow(message);
    expect(() => new cls()).toThrow(TypeError);
  });

  test('the factories still build', () => {
    expect(GaussianMixture.fromJSON(spec).dim).toBe(3);
    expect(ConditionalGaussianMixture.fromJSON({ ...spec, classes: [0, 1] }).classCount).toBe(2);
  });
});
