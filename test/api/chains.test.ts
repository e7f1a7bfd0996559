// particleGibbs and pmmh (docs/MATH.md §11) through the public API: option errors name the
// option, a chain's draws are a function of (seed, chain, sweep, …) alone (the same whatever
// the number of chains or threads), the result's layout (chains, thinned post-burn-in
// samples), and the autocorrelation time of chains with a known answer.
import { describe, expect, test } from '@jest/globals';
import { particleGibbs, pmmh, schedules, GaussianMixture } from '../../lib/index';
import type { ParticleGibbsOptions, PmmhOptions } from '../../lib/index';
import { integratedAutocorrelation } from '../../lib/chain-diagnostics';
import { rejectsWith } from '../support/errors';

const prior = GaussianMixture.fromJSON({ weights: [1], means: [[0.3, -0.2, 0.5]], covariances: [[[1, 0.6, 0.2], [0.6, 1, 0.3], [0.2, 0.3, 1]]] });
const base = {
  score: prior, schedule: schedules.ou({ T: 3 }), steps: 8, observed: { indices: [1], values: [0.7] },
  particles: 4, samples: 3, sweeps: 12, burnIn: 2, seed: 5, threads: 1,
};
const pg = (o: Partial<ParticleGibbsOptions> = {}) => particleGibbs({ ...base, ...o } as ParticleGibbsOptions);
const mh = (o: Partial<PmmhOptions> = {}) => pmmh({ ...base, ...o } as PmmhOptions);

describe('per-chain context paths and first references', () => {
  const S = 8, K = 3;
  const shared = Array.from({ length: S + 1 }, (_, g) => (g === 0 ? 0.7 : 0.7 * Math.exp(-0.3 * g)));
  test('one path given once or repeated per chain gives the same bytes', async () => {
    const a = await pg({ contextPath: shared });
    const b = await pg({ contextPath: Array.from({ length: K }, () => shared).flat() });
    expect(Array.from(b.chains)).toEqual(Array.from(a.chains));
  });
  test("each chain keeps its own Y_0 (row 0 of its path), and a given first reference replaces the filter's", async () => {
    const perChain = [0.7, -1.2, 2].flatMap((y0) => shared.map((v, g) => (g === 0 ? y0 : v)));
    const r = await pg({ contextPath: perChain });
    const [, M, D] = r.chainsShape;
    [0.7, -1.2, 2].forEach((y0, c) => {
      for (let m = 0; m < M; m++) expect(r.chains[(c * M + m) * D + 1]).toBeCloseTo(y0, 6);
    });
    const reference = Array.from({ length: K * (S + 1) * 2 }, (_, i) => 0.1 * Math.sin(i));
    const withRef = await pg({ contextPath: perChain, initialReference: reference });
    expect(Array.from(withRef.chains)).not.toEqual(Array.from(r.chains));
    expect(Array.from((await pg({ contextPath: perChain, initialReference: reference })).chains)).toEqual(Array.from(withRef.chains));
  });
});

describe('option errors', () => {
  test.each([
    ['sweeps', { sweeps: 0 }, 'RangeError', /^sweeps must be a positive integer \(at most 65535\), got 0$/],
    ['sweeps', { sweeps: 65536 }, 'RangeError', /^sweeps must be a positive integer \(at most 65535\), got 65536$/],
    ['burnIn', { burnIn: 12 }, 'RangeError', /^burnIn must be below sweeps \(12\), got 12$/],
    ['burnIn', { burnIn: -1 }, 'RangeError', /^burnIn must be a non-negative integer/],
    ['thin', { thin: 11 }, 'RangeError', /^thin must be at most sweeps - burnIn \(10\), so that one draw is kept, got 11$/],
    ['thin', { thin: 0 }, 'RangeError', /^thin must be a positive integer/],
    ['particles', { particles: 0 }, 'RangeError', /^particles must be a positive integer/],
    ['initialParticles', { initialParticles: 0 }, 'RangeError', /^initialParticles must be a positive integer/],
    ['refresh', { refresh: 'backward' }, 'RangeError', /^refresh must be one of .*mh.*forward.*got "backward"$/],
    ['selection', { selection: 'uniform' }, 'RangeError', /^selection must be one of/],
    ['pathSampling', { pathSampling: 'both' }, 'RangeError', /^pathSampling must be one of/],
    ['backend', { backend: 'cuda' }, 'RangeError', /^backend must be 'cpu' or 'auto' \(particleGibbs runs on the CPU\), got "cuda"$/],
    ['finalNoise', { finalNoise: true }, 'TypeError', /^finalNoise is not supported by particleGibbs/],
    ['onStep', { onStep: () => undefined }, 'TypeError', /^onStep is not supported by particleGibbs: it reports each sweep through onSweep$/],
    ['misspelt', { sweep: 3 }, 'TypeError', /^unknown option "sweep" for particleGibbs \(did you mean "sweeps"\?\)$/],
    ['contextPath length', { contextPath: [0.7, 1] }, 'RangeError', /^contextPath\.length must be \(steps \+ 1\) x observed coordinates = 9 numbers, or 3 \(samples\) times that, one path per chain, got 2$/],
    ['initialReference without contextPath', { initialReference: [] }, 'TypeError', /^initialReference needs contextPath/],
    ['initialReference length', { contextPath: new Array(9).fill(0.7), initialReference: [1, 2] }, 'RangeError', /^initialReference\.length must be samples x \(steps \+ 1\) x latent coordinates = \d+, got 2$/],
    ['contextPath row 0', { contextPath: new Array(9).fill(0) }, 'RangeError', /^contextPath\[0\] must be the observed value 0\.7.* \(row 0 is the data\), got 0$/],
    ['contextPath value', { contextPath: [0.7, NaN, 0, 0, 0, 0, 0, 0, 0] }, 'TypeError', /^contextPath\[1\] must be a finite number, got NaN$/],
  ] as const)('particleGibbs %s %p', async (_n, o, name, message) => {
    await rejectsWith(pg(o as Partial<ParticleGibbsOptions>), name, message);
  });

  test.each([
    ['pcnBeta', { pcnBeta: 1 }, 'RangeError', /^pcnBeta must be a number in \[0, 1\), got 1$/],
    ['pcnBeta', { pcnBeta: -0.1 }, 'RangeError', /^pcnBeta must be a number in \[0, 1\), got -0\.1$/],
    ['acceptance', { acceptance: 'fbs' }, 'RangeError', /^acceptance must be one of/],
    ['refresh', { refresh: 'mh' }, 'TypeError', /^unknown option "refresh" for pmmh/],
  ] as const)('pmmh %s %p', async (_n, o, name, message) => {
    await rejectsWith(mh(o as Partial<PmmhOptions>), name, message);
  });
});

describe('random streams: a chain is a function of (seed, chain, sweep, ...)', () => {
  test.each([
    ['particleGibbs mh', (o: Partial<ParticleGibbsOptions>) => pg({ ...o, refresh: 'mh' })],
    ['particleGibbs forward, backward, forced', (o: Partial<ParticleGibbsOptions>) => pg({ ...o, refresh: 'forward', pathSampling: 'backward', selection: 'forced' })],
    ['pmmh', (o: Partial<PmmhOptions>) => mh({ ...o, pcnBeta: 0.5 })],
  ] as const)('%s: the same chains for 2 or 5 chains, 1 or 2 threads; another seed differs', async (_n, run) => {
    const a = await run({ samples: 2, threads: 1 });
    const b = await run({ samples: 5, threads: 2 });
    const c = await run({ samples: 2, threads: 1, seed: 6 });
    const per = 12 * 3;
    expect(a.chains.length).toBe(2 * per);
    expect(b.chains.subarray(0, 2 * per)).toEqual(a.chains);
    expect(c.chains).not.toEqual(a.chains);
    // Observed coordinate filled in; the chains move.
    for (let k = 0; k < a.chains.length / 3; k++) expect(a.chains[3 * k + 1]).toBe(Math.fround(0.7));
    expect(a.moveRate).toBeGreaterThan(0.2);
  });
});

test('layout: chains K x M x D; samples the post-burn-in sweeps, thinned, chain-major; diagnostics per latent coordinate', async () => {
  const r = await pg({ sweeps: 12, burnIn: 3, thin: 4 });
  expect(r.chainsShape).toEqual([3, 12, 3]);
  expect(r.shape).toEqual([3 * 2, 3]);
  // Kept sweeps (0-based): burnIn + thin - 1 = 6 and 10.
  for (let k = 0; k < 3; k++) {
    for (const [q, m] of [[0, 6], [1, 10]]) {
      expect(r.samples.subarray((k * 2 + q) * 3, (k * 2 + q + 1) * 3)).toEqual(r.chains.subarray((k * 12 + m) * 3, (k * 12 + m + 1) * 3));
    }
  }
  expect(Array.from(r.coordinates)).toEqual([0, 2]);
  expect(r.iat.length).toBe(2);
  expect(r.ess.length).toBe(2);
  expect(r.refresh).toBe('mh');
  expect(r.refreshAcceptance).toBeGreaterThan(0);
  expect(r.refreshAcceptance).toBeLessThanOrEqual(1);
  // initialParticles changes only the start: another first reference, the same shapes.
  const wide = await pg({ sweeps: 12, burnIn: 3, thin: 4, initialParticles: 64 });
  expect(wide.chainsShape).toEqual([3, 12, 3]);
  expect(wide.chains).not.toEqual(r.chains);
  const fixed = await pg({ contextPath: [0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0, -0.1] });
  expect(fixed.refresh).toBe('none');
  expect(Number.isNaN(fixed.refreshAcceptance)).toBe(true);
  const p = await mh();
  expect(p.acceptanceRate).toBeGreaterThan(0);
  expect(p.logEvidence.length).toBe(3);
  expect(p.method).toBe('pmmh');
});

test('onSweep is called once per sweep; an aborted signal stops the chains', async () => {
  const seen: number[] = [];
  await pg({ onSweep: (i) => seen.push(i.sweep) });
  expect(seen).toEqual(Array.from({ length: 12 }, (_, k) => k + 1));
  const ac = new AbortController();
  await rejectsWith(pg({ signal: ac.signal, onSweep: (i) => i.sweep === 2 && ac.abort() }), 'AbortError', /./);
});

describe('integrated autocorrelation time', () => {
  // AR(1) x_t = ρ x_{t−1} + √(1 − ρ²) ε has τ = (1 + ρ)/(1 − ρ); an LCG of the test's own drives it.
  test.each([0, 0.5, 0.8])('AR(1) with rho %p: tau = (1 + rho)/(1 - rho) within 10%', (rho) => {
    let s = 99;
    const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
    const normal = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
    const K = 20, n = 5000;
    const x = new Float64Array(K * n);
    for (let r = 0; r < K; r++) {
      let v = normal();
      for (let t = 0; t < n; t++) x[r * n + t] = v = rho * v + Math.sqrt(1 - rho * rho) * normal();
    }
    const tau = integratedAutocorrelation(x, K, n);
    expect(Math.abs(tau / ((1 + rho) / (1 - rho)) - 1)).toBeLessThan(0.1);
  });
  test('constant draws: NaN', () => {
    expect(Number.isNaN(integratedAutocorrelation(new Float64Array(10).fill(2), 2, 5))).toBe(true);
  });
});
