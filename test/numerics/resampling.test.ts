// Resampling building blocks (MATH.md §5, §5b) through the public API of lib/blocks.ts:
// resample / resampleAsync and gatherRows / gatherRowsAsync.
//
// Calibration. Every statistical check runs on fixed seeds and counters, so the suite
// is deterministic; the false-failure rate quoted with each test is the probability that
// a correct implementation would fail it for a randomly chosen seed (normal, binomial or
// chi-square tails, several checks combined by the union bound). Each test is at most
// 1e-4; the file at most 3e-4. Everything else here is exact (no randomness in the verdict).
import { lnGamma, chiSquareSurvival } from '../support/stats';
import { describe, expect, test } from '@jest/globals';
import { resample, resampleAsync, gatherRows, gatherRowsAsync, gatherRowsInPlace, gatherRowsInPlaceAsync } from '../../lib/blocks';
import { ResamplingScheme } from '../../lib/driver';
import { native } from '../../lib/native';

// Math functions bound once: a global lookup (Math.exp) inside jest's vm sandbox costs
// ~200 ns, which dominates loops over millions of elements.
const { exp, log, sqrt, fround, abs, floor, max, min, cos, PI } = Math;

const SCHEMES: ResamplingScheme[] = ['systematic', 'stratified', 'multinomial', 'residual'];

// ---- helpers ----

/** Small deterministic PRNG for test inputs (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussianLogWeights(n: number, scale: number, seed: number, shift = 0): Float64Array {
  const u = prng(seed);
  const lw = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r = sqrt(-2 * log(1 - u()));
    lw[i] = shift + scale * r * cos(2 * PI * u());
  }
  return lw;
}

/** N W_k with the max trick, computed as (N w_k) / sum w (exact for equal weights). */
// Plain indexed loops throughout: typed-array iterators, map and from(…, fn) are slow on
// millions of elements.
function expectedCopies(lw: Float64Array): Float64Array {
  const n = lw.length;
  let mx = -Infinity;
  for (let k = 0; k < n; k++) if (lw[k] > mx) mx = lw[k];
  const w = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    w[k] = lw[k] !== lw[k] ? 0 : exp(lw[k] - mx);
    total += w[k];
  }
  for (let k = 0; k < n; k++) w[k] = (n * w[k]) / total;
  return w;
}

function counts(ancestors: Int32Array, n: number): Int32Array {
  const c = new Int32Array(n);
  for (let i = 0; i < ancestors.length; i++) c[ancestors[i]]++;
  return c;
}

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}


const rangeErrorNaming = (name: string) => expect.objectContaining({ name: 'RangeError', message: expect.stringMatching(new RegExp(name)) });

// ---- tests ----

describe('resample: basic contract', () => {
  test.each(SCHEMES)('%s: Int32Array of N ancestors in [0, N), counts sum to N, only positive weights chosen', (scheme) => {
    for (const n of [1, 2, 3, 7, 100, 1000]) {
      const lw = gaussianLogWeights(n, 1.5, n);
      if (n > 3) for (let k = 0; k < n; k += 5) lw[k] = -Infinity; // interior and leading zeros
      for (let counter = 0; counter < 50; counter++) {
        const anc = resample(lw, scheme, { seed: 3, counter });
        expect(anc).toBeInstanceOf(Int32Array);
        expect(anc.length).toBe(n);
        let bad = 0;
        for (const a of anc) if (!(a >= 0 && a < n) || lw[a] === -Infinity) bad++;
        expect(bad).toBe(0);
        expect(sum(counts(anc, n))).toBe(n);
      }
    }
  });

  test.each(SCHEMES)('%s: N = 1 always gives [0]; a lone -Infinity or NaN throws', async (scheme) => {
    for (const v of [0, -1e308, 1e308, -745, 750]) {
      for (let counter = 0; counter < 20; counter++) expect(Array.from(resample(Float64Array.of(v), scheme, { seed: counter, counter }))).toEqual([0]);
    }
    expect(() => resample(Float64Array.of(-Infinity), scheme, { seed: 1, counter: 0 })).toThrow(rangeErrorNaming('logWeights'));
    expect(() => resample(Float64Array.of(NaN), scheme, { seed: 1, counter: 0 })).toThrow(rangeErrorNaming('logWeights'));
  });

  test.each(SCHEMES)('%s: all -Infinity, all NaN, or a mix of both throws a RangeError naming logWeights (sync and async)', async (scheme) => {
    const cases = [
      new Float64Array(5).fill(-Infinity),
      new Float64Array(5).fill(NaN),
      Float64Array.of(-Infinity, NaN, -Infinity, NaN),
      Float64Array.of(0, Infinity), // +Infinity cannot be normalised either
    ];
    for (const lw of cases) {
      // Addon errors come from another realm: match the name, not the class.
      expect(() => resample(lw, scheme, { seed: 1, counter: 0 })).toThrow(rangeErrorNaming('logWeights'));
      await expect(resampleAsync(lw, scheme, { seed: 1, counter: 0 })).rejects.toMatchObject({ name: 'RangeError', message: expect.stringMatching(/logWeights/) });
    }
    expect(() => resample(new Float64Array(0), scheme, { seed: 1, counter: 0 })).toThrow(rangeErrorNaming('logWeights'));
  });

  test('argument checks name the argument', () => {
    const lw = new Float64Array(4);
    expect(() => resample(new Float32Array(4) as unknown as Float64Array, 'systematic', { seed: 0, counter: 0 })).toThrow(/logWeights/);
    expect(() => resample(lw, 'bogus' as ResamplingScheme, { seed: 0, counter: 0 })).toThrow(rangeErrorNaming('scheme'));
    expect(() => resample(lw, 'systematic', { seed: -1, counter: 0 })).toThrow(rangeErrorNaming('seed'));
    expect(() => resample(lw, 'systematic', { seed: 0, counter: 2 ** 32 })).toThrow(rangeErrorNaming('counter'));
    expect(() => resample(lw, 'systematic', { seed: 0, counter: 0 }, new Int32Array(3))).toThrow(rangeErrorNaming('out'));
    expect(() => resample(lw, 'systematic', { seed: 0, counter: 0 }, new Float64Array(4) as unknown as Int32Array)).toThrow(/out/);
  });

  test.each(SCHEMES)('%s: same (seed, counter, run) -> identical draws, sync and async; a different counter, run or seed -> different draws', async (scheme) => {
    const n = 1000;
    const lw = gaussianLogWeights(n, 1, 77);
    const a = resample(lw, scheme, { seed: 9, counter: 4 });
    expect(Array.from(resample(lw, scheme, { seed: 9, counter: 4 }))).toEqual(Array.from(a));
    expect(Array.from(resample(lw, scheme, { seed: 9, counter: 4, run: 0 }))).toEqual(Array.from(a));
    expect(Array.from(await resampleAsync(lw, scheme, { seed: 9, counter: 4 }))).toEqual(Array.from(a));
    // Different draws: with these weights each of the four schemes has positive-probability
    // randomness on hundreds of particles; equal outputs would need equal uniforms.
    for (const other of [{ seed: 9, counter: 5 }, { seed: 9, counter: 4, run: 1 }, { seed: 10, counter: 4 }, { seed: 9 + 2 ** 32, counter: 4 }]) {
      expect(Array.from(resample(lw, scheme, other))).not.toEqual(Array.from(a));
    }
  });

  test.each(SCHEMES)('%s: the same ancestors on 1, 2 and 3 threads (N large enough to split into blocks)', async (scheme) => {
    // 300k weights: 19 fixed blocks of 16384, so 2 and 3 threads really split the passes
    // (and, for systematic and stratified, the sweep) into different worker assignments.
    const n = 300_000;
    const lw = gaussianLogWeights(n, 2, 31);
    const one = resample(lw, scheme, { seed: 4, counter: 1 }, undefined, { threads: 1 });
    for (const threads of [2, 3]) {
      expect(Buffer.from(resample(lw, scheme, { seed: 4, counter: 1 }, undefined, { threads }).buffer).equals(Buffer.from(one.buffer))).toBe(true);
      expect(Buffer.from((await resampleAsync(lw, scheme, { seed: 4, counter: 1 }, undefined, { threads })).buffer).equals(Buffer.from(one.buffer))).toBe(true);
    }
  });

  test.each(SCHEMES)('%s: out is reused and returned; views with a byteOffset are respected', async (scheme) => {
    const n = 37;
    const lw = gaussianLogWeights(n, 1, 5);
    const expected = resample(lw, scheme, { seed: 2, counter: 8 });
    const out = new Int32Array(n);
    expect(resample(lw, scheme, { seed: 2, counter: 8 }, out)).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(expected));
    const out2 = new Int32Array(n);
    expect(await resampleAsync(lw, scheme, { seed: 2, counter: 8 }, out2)).toBe(out2);
    expect(Array.from(out2)).toEqual(Array.from(expected));
    // logWeights and out as views in the middle of larger buffers, guards around them.
    const lwBig = new Float64Array(n + 10).fill(1e300);
    lwBig.set(lw, 3);
    const outBig = new Int32Array(n + 10).fill(-7);
    const view = outBig.subarray(5, 5 + n);
    expect(resample(lwBig.subarray(3, 3 + n), scheme, { seed: 2, counter: 8 }, view)).toBe(view);
    expect(Array.from(view)).toEqual(Array.from(expected));
    expect(Array.from(outBig.subarray(0, 5))).toEqual([-7, -7, -7, -7, -7]);
    expect(Array.from(outBig.subarray(5 + n))).toEqual([-7, -7, -7, -7, -7]);
  });
});

describe('resample: zero weights are never chosen (MATH.md §5b)', () => {
  const R = 5000; // counters: the systematic offset u reaches within ~2e-4 of 1
  // [name, log-weights, indices that may be chosen, indices that must show up in 5000 draws]
  const cases: Array<[string, Float64Array, number[], number[]]> = [
    ['trailing zeros', Float64Array.of(0, -0.5, -Infinity, -Infinity, -Infinity), [0, 1], [0, 1]],
    ['single positive weight first', Float64Array.from({ length: 100 }, (_, k) => (k === 0 ? 0 : -Infinity)), [0], [0]],
    ['single positive weight last', Float64Array.from({ length: 100 }, (_, k) => (k === 99 ? 0 : -Infinity)), [99], [99]],
    ['tiny weight (e^-30) before trailing zeros', Float64Array.of(0, 0, -30, -Infinity, -Infinity), [0, 1, 2], [0, 1]],
    ['exp(-800 - max) underflows to 0', Float64Array.of(-800, 0, -800), [1], [1]],
  ];
  test.each(SCHEMES)('%s: small cases, 5000 counters each', (scheme) => {
    for (const [name, lw, allowed, mustSee] of cases) {
      const seen = new Set<number>();
      const out = new Int32Array(lw.length);
      for (let counter = 0; counter < R; counter++) {
        resample(lw, scheme, { seed: 17, counter }, out);
        for (let m = 0; m < out.length; m++) seen.add(out[m]);
      }
      const chosen = [...seen].sort((x, y) => x - y);
      expect({ name, forbidden: chosen.filter((k) => !allowed.includes(k)), missing: mustSee.filter((k) => !seen.has(k)) }).toEqual({ name, forbidden: [], missing: [] });
    }
  });

  test.each(SCHEMES)('%s: N = 2^20, weight on the first 3 particles, trailing -Infinity', async (scheme) => {
    const n = 1 << 20;
    const lw = new Float64Array(n).fill(-Infinity);
    lw[0] = 0;
    lw[1] = -1;
    lw[2] = -0.25;
    const nw = expectedCopies(lw);
    for (let counter = 0; counter < 2; counter++) {
      const anc = await resampleAsync(lw, scheme, { seed: 5, counter });
      let max = 0;
      for (let m = 0; m < n; m++) if (anc[m] > max) max = anc[m];
      expect(max).toBeLessThanOrEqual(2);
      const c = counts(anc, 3);
      expect(c[0] + c[1] + c[2]).toBe(n);
      for (let k = 0; k < 3; k++) {
        if (scheme === 'systematic') expect(abs(c[k] - nw[k])).toBeLessThan(1);
        // residual: floor(N W_k) kept, at most 2 more from the remainder (3 residuals < 1 each)
        if (scheme === 'residual') expect(c[k] - floor(nw[k])).toBeGreaterThanOrEqual(0);
        if (scheme === 'residual') expect(c[k] - floor(nw[k])).toBeLessThanOrEqual(2);
      }
    }
  });
});

describe('resample: systematic and residual structure', () => {
  test('systematic: |count - N W| < 1 for every particle (random weights, 200 counters; equal weights)', () => {
    for (const [n, scale] of [[10, 0.5], [1000, 2], [1000, 0.01], [4097, 1]] as const) {
      const lw = gaussianLogWeights(n, scale, 31 + n);
      const nw = expectedCopies(lw);
      const out = new Int32Array(n);
      let worst = 0;
      for (let counter = 0; counter < 200; counter++) {
        const c = counts(resample(lw, 'systematic', { seed: 4, counter }, out), n);
        for (let k = 0; k < n; k++) worst = max(worst, abs(c[k] - nw[k]));
      }
      expect({ n, worst, ok: worst < 1 }).toEqual({ n, worst, ok: true });
    }
    // Equal weights: N W = 1 exactly, so every particle is kept exactly once.
    for (const n of [1, 3, 49, 64, 98, 1000]) {
      const lw = new Float64Array(n).fill(-3.7);
      let notIdentity = 0;
      for (let counter = 0; counter < 100; counter++) {
        const anc = resample(lw, 'systematic', { seed: 8, counter });
        for (let k = 0; k < n; k++) if (anc[k] !== k) notIdentity++;
      }
      expect({ n, notIdentity }).toEqual({ n, notIdentity: 0 });
    }
  });

  test('residual: count >= floor(N W) for every particle (random weights, 200 counters)', () => {
    for (const [n, scale] of [[10, 0.5], [1000, 1.5], [999, 0.05]] as const) {
      const lw = gaussianLogWeights(n, scale, 7 + n);
      const nw = expectedCopies(lw);
      const floors = nw.map(floor);
      const remainder = n - sum(floors);
      const out = new Int32Array(n);
      let bad = 0;
      for (let counter = 0; counter < 200; counter++) {
        const c = counts(resample(lw, 'residual', { seed: 6, counter }, out), n);
        for (let k = 0; k < n; k++) if (c[k] < floors[k] || c[k] > floors[k] + remainder) bad++;
      }
      expect({ n, bad }).toEqual({ n, bad: 0 });
    }
  });

  test('residual: equal weights keep every particle exactly once, also when N * (1/N) rounds below 1 (N = 49, 98, 103)', () => {
    // N W_k = 1 exactly, so floor(N W_k) = 1 and nothing is left for the multinomial step.
    // In double precision 49 * (1 / 49) = 0.9999999999999999: computing N W as n * (w / total)
    // floors it to 0 and hands all 49 copies to the multinomial remainder.
    for (const n of [2, 64, 49, 98, 103, 1000]) {
      const lw = new Float64Array(n); // all zeros: equal weights
      const c = counts(resample(lw, 'residual', { seed: 1, counter: 0 }), n);
      let notOne = 0;
      for (const v of c) if (v !== 1) notOne++;
      expect({ n, particlesNotKeptOnce: notOne }).toEqual({ n, particlesNotKeptOnce: 0 });
    }
  });
});

describe('resample: unbiasedness E[#copies of k] = N W_k (MATH.md §5)', () => {
  // N = 16 weights with varied fractional parts of N W, two zero weights (one interior).
  const w = [5, 0.3, 1, 0, 2.5, 0.7, 1.2, 3, 0.05, 0.9, 1.6, 0.4, 2, 0, 0.8, 1.1];
  const N = w.length;
  const lw = Float64Array.from(w, log);
  const total = sum(w);
  const W = w.map((v) => v / total);
  const nw = W.map((v) => N * v);
  const R = 20000;

  // Exact per-particle variance of #copies under each scheme, for the z-scores.
  function variance(scheme: ResamplingScheme, k: number): number {
    const c0 = sum(W.slice(0, k)), c1 = c0 + W[k];
    switch (scheme) {
      case 'multinomial':
        return N * W[k] * (1 - W[k]);
      case 'systematic': {
        const f = nw[k] - floor(nw[k]); // floor(NW) + Bernoulli(f)
        return f * (1 - f);
      }
      case 'stratified': {
        // One Bernoulli per stratum m with p_m = N |[c0, c1) ∩ [m/N, (m+1)/N)|.
        let v = 0;
        for (let m = 0; m < N; m++) {
          const p = N * max(0, min(c1, (m + 1) / N) - max(c0, m / N));
          v += p * (1 - p);
        }
        return v;
      }
      case 'residual': {
        // floor(N W_k) + Binomial(M, r_k / M), M = N - sum floor, r_k = N W_k - floor(N W_k).
        const M = N - sum(nw.map(floor));
        const r = nw[k] - floor(nw[k]);
        return r * (1 - r / M);
      }
    }
  }

  test.each(SCHEMES)('%s: per-particle z-scores over 20000 counters', (scheme) => {
    // z_k = (mean count - N W_k) / sqrt(Var_k / R) with the exact variance of the scheme.
    // R = 20000 independent replicates (counters 0..R-1). Threshold |z| < 5 for each of
    // the 16 particles and 4 schemes: normal two-sided tail 5.7e-7, Bonferroni over 64
    // z-scores 3.7e-5 (the skewness of these sums at R = 20000 at most triples the tail:
    // < 1.2e-4 for the 4 schemes together, < 3e-5 per scheme).
    // Zero-variance particles (zero weight; systematic with integer N W) must match exactly.
    // Power: SE of the mean count <= 0.0122 here, so any per-particle bias >= 0.09 copies
    // is caught with power > 0.99. Plausible bugs and their z: multinomial positions
    // normalised by S_N instead of S_{N+1} (the last position is 1: particle 15 gains
    // ~0.95 copies, z ~ 150); residual remainder drawn on W instead of the residuals
    // (particle 0: 3 + 8 W_0 = 4.95 vs N W_0 = 3.89, z > 100); systematic with u in [0, 1]
    // scaled by N instead of 1 (positions collapse); a sweep that maps p to the largest k
    // with C_k <= p (shifts one copy to the next particle, z > 50).
    const mean = new Float64Array(N);
    const out = new Int32Array(N);
    for (let counter = 0; counter < R; counter++) {
      resample(lw, scheme, { seed: 2024, counter }, out);
      for (const a of out) mean[a] += 1 / R;
    }
    for (let k = 0; k < N; k++) {
      const v = variance(scheme, k);
      if (v < 1e-12) {
        expect({ k, mean: mean[k] }).toEqual({ k, mean: expect.closeTo(nw[k], 9) });
      } else {
        const z = (mean[k] - nw[k]) / sqrt(v / R);
        expect({ k, z, ok: abs(z) < 5 }).toEqual({ k, z, ok: true });
      }
    }
  });

  test('multinomial with equal weights: #copies of a particle is Binomial(N, 1/N) (chi-square), and the number of distinct ancestors matches occupancy', () => {
    // (a) N = 64 equal weights, R = 5000 counters; replicate r contributes the count of
    // particle r mod 64 (independent observations of Binomial(64, 1/64)). Bins 0,1,2,3,>=4
    // (expected counts >= 90), Pearson chi-square with 4 dof, reject at p < 5e-5.
    // (b) N = 2^14 equal weights, 20 counters: the number of distinct ancestors has the
    // exact occupancy mean and variance (n balls in n boxes); |z| < 4.2 on the mean of the
    // 20 replicates (tail 2.7e-5; the count is a sum of weakly dependent indicators, very
    // close to normal at this N). False-failure rate < 1e-4 for the test.
    // Power: systematic or stratified positions (counts concentrated on 1: P(1) ~ 1 instead
    // of 0.37) give chi-square > 5000; sorted uniforms from cumulative sums of U(0,1) instead
    // of Exp(1) spacings (CV^2 1/3 instead of 1: counts under-dispersed) give chi-square ~ 600
    // and a distinct-ancestor z ~ +200 (simulated); S_N normalisation is caught above.
    const n = 64, R = 5000;
    const lw = new Float64Array(n);
    const hist = new Float64Array(5);
    const out = new Int32Array(n);
    for (let counter = 0; counter < R; counter++) {
      resample(lw, 'multinomial', { seed: 99, counter }, out);
      const k = counter % n;
      let c = 0;
      for (const a of out) if (a === k) c++;
      hist[min(4, c)]++;
    }
    const binom = (j: number) => exp(lnGamma(n + 1) - lnGamma(j + 1) - lnGamma(n - j + 1) + j * log(1 / n) + (n - j) * log(1 - 1 / n));
    const p = [binom(0), binom(1), binom(2), binom(3)];
    p.push(1 - sum(p));
    let chi = 0;
    for (let j = 0; j < 5; j++) chi += (hist[j] - R * p[j]) ** 2 / (R * p[j]);
    expect({ chi, ok: chiSquareSurvival(chi, 4) > 5e-5 }).toEqual({ chi, ok: true });

    const big = 1 << 14, reps = 20;
    const lwBig = new Float64Array(big);
    const outBig = new Int32Array(big);
    const seen = new Uint8Array(big);
    let distinct = 0;
    for (let counter = 0; counter < reps; counter++) {
      resample(lwBig, 'multinomial', { seed: 123, counter }, outBig);
      seen.fill(0);
      for (const a of outBig) seen[a] = 1;
      distinct += sum(seen) / reps;
    }
    // Empty boxes E = n q1, Var = n (n - 1) q2 + n q1 - (n q1)^2 with q1 = (1 - 1/n)^n, q2 = (1 - 2/n)^n.
    const q1 = Math.pow(1 - 1 / big, big), q2 = Math.pow(1 - 2 / big, big);
    const meanDistinct = big - big * q1;
    const varDistinct = big * (big - 1) * q2 + big * q1 - (big * q1) ** 2;
    const z = (distinct - meanDistinct) / sqrt(varDistinct / reps);
    expect({ z, ok: abs(z) < 4.2 }).toEqual({ z, ok: true });
  });
});

describe('resample: extreme log-weights (max trick)', () => {
  test.each(SCHEMES)('%s: [-1e300, 0], [0, -1e300], [1e300, 1e300 - 1] and shifts by +-745', (scheme) => {
    for (let counter = 0; counter < 100; counter++) {
      const rng = { seed: 3, counter };
      expect(Array.from(resample(Float64Array.of(-1e300, 0), scheme, rng))).toEqual([1, 1]);
      expect(Array.from(resample(Float64Array.of(0, -1e300), scheme, rng))).toEqual([0, 0]);
      expect(Array.from(resample(Float64Array.of(-Number.MAX_VALUE, Number.MAX_VALUE), scheme, rng))).toEqual([1, 1]);
      // 1e300 - 1 === 1e300 in double: two equal weights.
      const eq = counts(resample(Float64Array.of(1e300, 1e300 - 1), scheme, rng), 2);
      expect(eq[0] + eq[1]).toBe(2);
      if (scheme === 'systematic' || scheme === 'residual') expect(Array.from(eq)).toEqual([1, 1]);
    }
    // Log-weights k/8 (exact in double) shifted by +745 (exp overflows without the max
    // trick) or -760 (exp underflows to 0): exp(lw - max) is bit-identical for every
    // shift, so the ancestors must be too.
    const n = 500;
    const base = Float64Array.from(gaussianLogWeights(n, 2, 42), (v) => Math.round(v * 8) / 8);
    const ref = resample(base, scheme, { seed: 12, counter: 3 });
    for (const shift of [745, 1e6, -760, -1e6]) {
      const shifted = base.map((v) => v + shift);
      expect(exp(shifted[0]) === 0 || !Number.isFinite(exp(max(...shifted)))).toBe(true);
      expect(Array.from(resample(shifted, scheme, { seed: 12, counter: 3 }))).toEqual(Array.from(ref));
    }
    if (scheme === 'systematic') {
      const nw = expectedCopies(base.map((v) => v + 745));
      const c = counts(ref, n);
      for (let k = 0; k < n; k++) expect(abs(c[k] - nw[k])).toBeLessThan(1);
    }
  });
});

describe('resample: the float64 CDF matters (MATH.md §5b)', () => {
  test('systematic, N = 2^22: |count - N W| < 1 for every particle, where a float32 CDF misassigns', async () => {
    const n = 1 << 22;
    const seed = 31337, counter = 11;
    const raw = new Float32Array(n);
    await native.normals(raw, { seed: 1, run: 0, step: 0, purpose: native.purposes.user }, 0, 2);
    const lw = new Float64Array(n);
    for (let k = 0; k < n; k++) lw[k] = 0.5 * raw[k];
    const anc = await resampleAsync(lw, 'systematic', { seed, counter });
    const nw = expectedCopies(lw);
    const c = counts(anc, n);
    let violations = 0, worst = 0;
    for (let k = 0; k < n; k++) {
      const d = abs(c[k] - nw[k]);
      if (d > worst) worst = d;
      if (!(d < 1)) violations++;
    }
    expect({ violations, worst: worst < 1 }).toEqual({ violations: 0, worst: true });

    // The same sweep (MATH.md §5) with u from the stream (word 0 of counter (0, run 0,
    // step = counter, purpose user), u = x 2^-32): in float64 it reproduces the addon;
    // in float32 it misassigns a good fraction of the offspring and breaks |count - N W| < 1,
    // which is what this test would catch.
    const word = native.philox4x32(Uint32Array.of(0, 0, counter, native.purposes.user), Uint32Array.of(seed, 0), 10)[0];
    const u = word * 2 ** -32;
    let mx = -Infinity;
    for (let k = 0; k < n; k++) if (lw[k] > mx) mx = lw[k];
    const cdf64 = new Float64Array(n), cdf32 = new Float32Array(n);
    let run64 = 0, run32 = 0;
    for (let k = 0; k < n; k++) {
      const wk = exp(lw[k] - mx);
      run64 += wk;
      run32 = fround(run32 + fround(wk));
      cdf64[k] = run64;
      cdf32[k] = run32;
    }
    let k64 = 0, k32 = 0, differ64 = 0, differ32 = 0;
    const c32 = new Int32Array(n);
    for (let m = 0; m < n; m++) {
      const t64 = ((u + m) / n) * run64;
      while (k64 < n - 1 && cdf64[k64] <= t64) k64++;
      if (k64 !== anc[m]) differ64++;
      const t32 = fround(fround(fround(u + m) / n) * run32);
      while (k32 < n - 1 && cdf32[k32] <= t32) k32++;
      if (k32 !== k64) differ32++;
      c32[k32]++;
    }
    let violations32 = 0;
    for (let k = 0; k < n; k++) if (!(abs(c32[k] - nw[k]) < 1)) violations32++;
    // float64 reconstruction: identical but for positions within ~1e-9 of a CDF boundary
    // (JS and C exp may differ in the last bit).
    expect(differ64).toBeLessThanOrEqual(4);
    // float32: thousands of misassigned offspring and violated particles.
    expect(differ32).toBeGreaterThan(n / 1000);
    expect(violations32).toBeGreaterThan(1000);
  });
});

describe('gatherRows', () => {
  const dim = 3;
  function setup(nRows: number, nAnc: number) {
    const rowsBuf = new Float32Array(nRows * dim + 7).fill(NaN);
    const rows = rowsBuf.subarray(5, 5 + nRows * dim); // byteOffset 20
    for (let i = 0; i < rows.length; i++) rows[i] = i + 0.5;
    const ancBuf = new Int32Array(nAnc + 4).fill(-1);
    const ancestors = ancBuf.subarray(3, 3 + nAnc); // byteOffset 12
    const r = prng(nAnc);
    for (let i = 0; i < nAnc; i++) ancestors[i] = floor(r() * nRows);
    return { rows, ancestors };
  }
  function check(rows: Float32Array, ancestors: Int32Array, out: Float32Array) {
    let bad = 0;
    for (let i = 0; i < ancestors.length; i++)
      for (let j = 0; j < dim; j++) if (out[i * dim + j] !== rows[ancestors[i] * dim + j]) bad++;
    expect(bad).toBe(0);
  }

  test.each([
    [10, 10],
    [10, 25], // more ancestors than rows
    [5000, 4000], // above the 1024-row grain: two threads split the work
  ])('rows %i, ancestors %i: out[i] = rows[ancestors[i]], views respected, sync and async, 1 and 2 threads', async (nRows, nAnc) => {
    const { rows, ancestors } = setup(nRows, nAnc);
    const fresh = gatherRows(rows, dim, ancestors);
    expect(fresh).toBeInstanceOf(Float32Array);
    expect(fresh.length).toBe(nAnc * dim);
    check(rows, ancestors, fresh);
    for (const threads of [1, 2]) {
      const outBuf = new Float32Array(nAnc * dim + 9).fill(-99);
      const out = outBuf.subarray(4, 4 + nAnc * dim);
      expect(gatherRows(rows, dim, ancestors, out, { threads })).toBe(out);
      check(rows, ancestors, out);
      expect(Array.from(outBuf.subarray(0, 4))).toEqual([-99, -99, -99, -99]);
      expect(Array.from(outBuf.subarray(4 + nAnc * dim))).toEqual([-99, -99, -99, -99, -99]);
      out.fill(0);
      expect(await gatherRowsAsync(rows, dim, ancestors, out, { threads })).toBe(out);
      check(rows, ancestors, out);
      expect(Array.from(outBuf.subarray(0, 4))).toEqual([-99, -99, -99, -99]);
    }
    check(rows, ancestors, await gatherRowsAsync(rows, dim, ancestors));
  });

  test('resample then gather: the gathered rows are the ancestors rows', () => {
    const n = 300;
    const lw = gaussianLogWeights(n, 1, 3);
    const rows = Float32Array.from({ length: n * dim }, (_, i) => floor(i / dim) * 10 + (i % dim));
    const anc = resample(lw, 'stratified', { seed: 1, counter: 1 });
    const out = gatherRows(rows, dim, anc);
    for (let i = 0; i < n; i++) expect(out[i * dim]).toBe(anc[i] * 10);
  });

  test('rejects out-of-range ancestors, a wrong out length and rows not divisible by dim', async () => {
    const rows = new Float32Array(12);
    expect(() => gatherRows(rows, 3, Int32Array.of(0, 4))).toThrow(rangeErrorNaming('ancestors'));
    expect(() => gatherRows(rows, 3, Int32Array.of(-1))).toThrow(rangeErrorNaming('ancestors'));
    expect(() => gatherRows(rows, 3, Int32Array.of(0, 1), new Float32Array(5))).toThrow(rangeErrorNaming('out'));
    expect(() => gatherRows(rows, 5, Int32Array.of(0))).toThrow(rangeErrorNaming('rows'));
    await expect(gatherRowsAsync(rows, 3, Int32Array.of(7))).rejects.toMatchObject({ name: 'RangeError', message: expect.stringMatching(/ancestors/) });
  });
});

describe('gatherRowsInPlace: survivors stay in place', () => {
  const dim = 3;
  /** The multiset of an Int32Array, as a sorted copy. */
  const sorted = (a: Int32Array) => Array.from(a).sort((x, y) => x - y);

  /** The survivor order of `ancestors`, via a one-column in-place gather of 0..N-1. */
  function orderOf(ancestors: Int32Array): Int32Array {
    const order = new Int32Array(ancestors.length);
    gatherRowsInPlace(new Float32Array(ancestors.length), 1, ancestors, { order });
    return order;
  }

  function checkOrder(ancestors: Int32Array, order: Int32Array) {
    expect(sorted(order)).toEqual(sorted(ancestors)); // the same population
    const present = new Uint8Array(order.length);
    for (const k of ancestors) present[k] = 1;
    let badSurvivor = 0, badSource = 0;
    for (let k = 0; k < order.length; k++) {
      if (present[k] && order[k] !== k) badSurvivor++; // every survivor keeps its slot
      if (order[order[k]] !== order[k]) badSource++; // every source row stays in place
    }
    expect([badSurvivor, badSource]).toEqual([0, 0]);
  }

  test.each(SCHEMES)('%s ancestors (N = 5000, 50 counters): the same multiset, survivors in their slots, sources never overwritten', (scheme) => {
    const n = 5000;
    const lw = gaussianLogWeights(n, 1.5, 12);
    for (let counter = 0; counter < 50; counter++) {
      const anc = resample(lw, scheme, { seed: 3, counter });
      checkOrder(anc, orderOf(anc));
    }
  });

  test('unsorted and extreme ancestor vectors: identity, all one particle, reversed, random with repeats, N = 1', () => {
    const n = 257;
    const r = prng(99);
    const cases = [
      Int32Array.from({ length: n }, (_, i) => i),
      new Int32Array(n).fill(200),
      Int32Array.from({ length: n }, (_, i) => n - 1 - i),
      Int32Array.from({ length: n }, () => floor(r() * 40) * 3),
      Int32Array.of(0),
    ];
    for (const anc of cases) checkOrder(anc, orderOf(anc));
    expect(Array.from(orderOf(cases[0]))).toEqual(Array.from(cases[0])); // identity stays
    expect(Array.from(orderOf(cases[2]))).toEqual(Array.from(cases[0])); // a permutation: nothing moves
    expect(orderOf(cases[1])[200]).toBe(200);
  });

  test.each([
    [10, 1],
    [5000, 1],
    [5000, 2], // above the row grain: two threads split the rows
  ])('N = %i, %i thread(s): the rows gatherRows gives for the same order, sync and async, views respected', async (n, threads) => {
    const lw = gaussianLogWeights(n, 2, 8);
    const anc = resample(lw, 'systematic', { seed: 5, counter: 2 });
    const buf = new Float32Array(n * dim + 6).fill(-99);
    const rows = buf.subarray(2, 2 + n * dim); // byteOffset 8
    for (let i = 0; i < rows.length; i++) rows[i] = i + 0.25;
    const copy = rows.slice();
    const order = new Int32Array(n);
    expect(gatherRowsInPlace(rows, dim, anc, { order, threads })).toBe(rows);
    checkOrder(anc, order);
    const expected = gatherRows(copy, dim, order);
    expect(Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength).equals(Buffer.from(expected.buffer))).toBe(true);
    expect([buf[0], buf[1], buf[buf.length - 1]]).toEqual([-99, -99, -99]);
    expect(await gatherRowsInPlaceAsync(copy, dim, anc, { threads })).toBe(copy);
    expect(Array.from(copy)).toEqual(Array.from(expected));
  });

  test('beyond 16 MiB (streaming stores): N = 70000, D = 64, aligned and unaligned views, 1 and 2 threads', async () => {
    const n = 70_000, d = 64;
    const anc = resample(gaussianLogWeights(n, 1, 4), 'multinomial', { seed: 1, counter: 0 });
    const order = orderOf(anc);
    for (const offset of [0, 1]) {
      const base = new Float32Array(n * d + 1);
      const rows = base.subarray(offset, offset + n * d);
      for (let i = 0; i < rows.length; i++) rows[i] = (i % 4099) - 7;
      const viaGather = gatherRows(rows, d, anc);
      const viaOrder = gatherRows(rows, d, order);
      for (const threads of [1, 2]) {
        const own = rows.slice();
        await gatherRowsInPlaceAsync(own, d, anc, { threads });
        expect(Buffer.from(own.buffer).equals(Buffer.from(viaOrder.buffer))).toBe(true);
        const out = new Float32Array(n * d);
        gatherRows(rows, d, anc, out, { threads });
        expect(Buffer.from(out.buffer).equals(Buffer.from(viaGather.buffer))).toBe(true);
      }
      // The gathered row i is the ancestor's row.
      let bad = 0;
      for (let i = 0; i < n; i += 97) for (let j = 0; j < d; j++) if (viaGather[i * d + j] !== rows[anc[i] * d + j]) bad++;
      expect(bad).toBe(0);
    }
  });

  test('errors name the argument; nothing moves before validation', async () => {
    const rows = Float32Array.of(1, 2, 3, 4, 5, 6);
    expect(() => gatherRowsInPlace(rows, 2, Int32Array.of(0, 1, 3))).toThrow(/^ancestors\[2\] must be in \[0, 3\), got 3$/);
    expect(() => gatherRowsInPlace(rows, 2, Int32Array.of(2, 2, -1))).toThrow(/^ancestors\[2\] must be in \[0, 3\), got -1$/);
    expect(Array.from(rows)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => gatherRowsInPlace(rows, 2, Int32Array.of(0, 1))).toThrow(/^rows must have length 4 \(ancestors\.length x dim\), got 6$/);
    expect(() => gatherRowsInPlace(rows, 0, Int32Array.of(0))).toThrow(rangeErrorNaming('dim'));
    expect(() => gatherRowsInPlace(rows, 2, [0, 1, 2] as unknown as Int32Array)).toThrow(/^ancestors must be an Int32Array, got an Array of length 3$/);
    expect(() => gatherRowsInPlace(rows, 2, Int32Array.of(0, 0, 0), { threads: 0 })).toThrow(rangeErrorNaming('threads'));
    expect(() => gatherRowsInPlace(rows, 2, Int32Array.of(0, 0, 0), { order: new Int32Array(2) })).toThrow(/^order must have length 3 \(one per ancestor\), got 2$/);
    expect(() => gatherRowsInPlace(rows, 2, Int32Array.of(0, 0, 0), { order: new Float32Array(3) as unknown as Int32Array })).toThrow(/^order must be an Int32Array, got a Float32Array of length 3$/);
    const anc = Int32Array.of(0, 0, 0);
    expect(() => gatherRowsInPlace(rows, 2, anc, { order: anc })).toThrow(rangeErrorNaming('order'));
    expect(() => gatherRowsInPlace(new Float32Array(anc.buffer) as Float32Array, 1, anc)).toThrow(rangeErrorNaming('rows'));
    await expect(gatherRowsInPlaceAsync(rows, 2, Int32Array.of(0, 9, 0))).rejects.toMatchObject({ name: 'RangeError', message: expect.stringMatching(/^ancestors\[1\] must be in \[0, 3\), got 9$/) });
    expect(Array.from(rows)).toEqual([1, 2, 3, 4, 5, 6]);
    // A valid call: rows become [row 2, row 2, row 0] -> survivors 0 and 2 stay, slot 1 takes the extra.
    const order = new Int32Array(3);
    expect(Array.from(gatherRowsInPlace(rows, 2, Int32Array.of(2, 2, 0), { order }))).toEqual([1, 2, 5, 6, 5, 6]);
    expect(Array.from(order)).toEqual([0, 2, 2]);
  });
});
