// Replacement sampling (MATH.md §3, Algorithm 1): the backward kernel on X with the Y block
// pinned to a context, no weights; optionally a Langevin or RePaint corrector after each step.
import type { FeynmanKacModel } from '../driver';
import { backwardKernel, BackwardKernelSpec } from './backward-kernel';
import { Corrector, correctorMove } from './correctors';

export interface ReplacementSpec extends BackwardKernelSpec {
  corrector?: Corrector;
}

export function replacementModel(spec: ReplacementSpec): FeynmanKacModel {
  const corrector = spec.corrector;
  return {
    name: corrector === undefined ? 'replacement' : corrector.kind,
    weighted: false,
    async start(run) {
      const kernel = await backwardKernel(run, spec);
      return {
        initial: kernel.initial,
        move: (step) => kernel.meanAndMove(step),
        correct: corrector ? correctorMove(run, kernel, spec, corrector) : undefined,
      };
    },
  };
}
