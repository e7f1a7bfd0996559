// DPS (docs/MATH.md §12), a heuristic, on a 3-D mixture observed through a random 2 × 3 matrix
// with σ_y = 0.05, against the exact posterior written in test/support/dps-cases.ts: its SW and a
// mode weight are pinned at ζ = 0.03, 0.3 and 1 (the README's table), and ζ = 0.03 and 1 are far
// from the posterior. ζ = 0 is unconditional sampling, draw for draw.
//
// False-failure rates: test/numerics/CALIBRATION.md (tools/calibrate.ts --only '^dps').
import { describe, expect, test } from '@jest/globals';
import { failures } from '../support/checks';
import { DPS_CASES, PRIOR, OBSERVED, K } from '../support/dps-cases';
import { dps } from '../../lib/dps';
import { replacement } from '../../lib/samplers';
import { GaussianMixture } from '../../lib/mixture';
import { schedules } from '../../lib/schedules';

describe('dps against the exact posterior', () => {
  for (const c of DPS_CASES) {
    test(c.name, async () => {
      expect(failures(await c.run(c.seed))).toEqual([]);
    });
  }
});

describe('dps', () => {
  const model = GaussianMixture.fromJSON(PRIOR);
  const common = { score: model, schedule: schedules.ou(), steps: 50, samples: 64, seed: 4 };

  test('ζ = 0 is replacement with no observed coordinate, draw for draw', async () => {
    const a = await dps({ ...common, observed: OBSERVED, zeta: 0 });
    const b = await replacement({ ...common, observed: { indices: [], values: [] } });
    expect(Array.from(a.samples)).toEqual(Array.from(b.samples));
    expect(a.method).toBe('dps');
  });

  test('finite differences of x̂0 follow the exact Jacobian; the sources and calls are reported', async () => {
    const exact = await dps({ ...common, observed: OBSERVED, zeta: 0.1 });
    expect(exact.jacobian).toBe('exact');
    expect(exact.scoreEvaluations).toBe(50);
    const fd = await dps({ ...common, observed: OBSERVED, zeta: 0.1, jacobian: 'finite-difference' });
    expect(fd.scoreEvaluations).toBe(150);
    let worst = 0;
    for (let k = 0; k < fd.samples.length; k++) worst = Math.max(worst, Math.abs(fd.samples[k] - exact.samples[k]));
    expect(worst).toBeLessThan(1e-2);
    const plain = await dps({ ...common, score: { dim: 3, score: (z: Float32Array) => z.map((x) => -x) }, observed: OBSERVED, zeta: 0.1 });
    expect(plain.jacobian).toBe('identity');
    expect(K).toBe(1000);
  });

  test('bad options are named', async () => {
    await expect(dps({ ...common, observed: OBSERVED, zeta: -1 })).rejects.toThrow(/zeta must be a non-negative number, got -1/);
    await expect(dps({ ...common, observed: OBSERVED, zeta: 1, tau2: 0 })).rejects.toThrow(/tau2 must be a positive number, got 0/);
    await expect(dps({ ...common, observed: OBSERVED } as never)).rejects.toThrow(/zeta must be a finite number, got undefined/);
    await expect(dps({ ...common, observed: OBSERVED, zeta: 1, jacobian: 'vjp' })).rejects.toThrow(/jacobian 'vjp' needs a score model with a vjp/);
    await expect(dps({ ...common, score: { dim: 3, score: (z: Float32Array) => z }, observed: OBSERVED, zeta: 1, jacobian: 'exact' })).rejects.toThrow(/jacobian 'exact' needs a GaussianMixture/);
    await expect(dps({ ...common, observed: OBSERVED, zeta: 1, guidance: { kind: 'cfg', scale: 2 } } as never)).rejects.toThrow(/unknown option "guidance" for dps/);
  });
});
