// Corrector moves after a backward step (MATH.md §3): unadjusted Langevin on X at the
// level just reached (Algorithm 2) and RePaint's re-noise-and-denoise jumps.
import type { DriverRun, Step } from '../driver';
import type { BackwardKernel } from './backward-kernel';

export type Corrector =
  | { kind: 'langevin'; steps: number; rule: 'gamma'; gamma: number }
  | { kind: 'langevin'; steps: number; rule: 'snr'; snr: number }
  | { kind: 'repaint'; jumps: number };

/** The corrector's move for one step, bound to a run and its backward kernel. */
export function correctorMove(run: DriverRun, kernel: BackwardKernel, spec: { latent: Int32Array; observed: Int32Array }, corrector: Corrector): (step: Step) => Promise<void> {
  const { ops, batch, threads } = run;
  if (corrector.kind === 'langevin') {
    return async (step) => {
      // The score at s; at s = 0 at the smallest positive grid time, where the score exists.
      const tScore = step.s > 0 ? step.s : run.grid[1];
      const sigma2 = run.schedule.sigma2(tScore);
      const c = kernel.coefficients[step.index - 1];
      for (let j = 0; j < corrector.steps; j++) {
        run.checkAbort();
        const g = await run.score(run.z, tScore, `${step.where}, Langevin step ${j + 1}`);
        const stream = run.stream(step.index, 'langevin', j);
        if (corrector.rule === 'gamma') {
          await ops.langevin(batch, spec.latent, spec.observed, g, ops.codes.langevinRules.gamma, corrector.gamma * sigma2, 0, stream, run.z, threads);
        } else {
          await ops.langevin(batch, spec.latent, spec.observed, g, ops.codes.langevinRules.snr, corrector.snr, c.alphaTs * c.alphaTs, stream, run.z, threads);
        }
      }
    };
  }
  return async (step) => {
    // Re-noise X from s back to t (the Y block takes the context at t), then step back again.
    const c = kernel.coefficients[step.index - 1];
    const yT = await kernel.contextAt(step.index);
    for (let u = 0; u < corrector.jumps; u++) {
      run.checkAbort();
      await ops.renoise(batch, spec.latent, spec.observed, c.alphaTs, c.sigma2Ts, yT, run.stream(step.index, 'repaintNoise', u), run.z, threads);
      const mu = await kernel.mean(step, `${step.where}, RePaint jump ${u + 1}`);
      await kernel.propagate(step, mu, null, 'repaintKernel', u);
    }
  };
}
