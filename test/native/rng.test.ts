// Random numbers (MATH.md §6): Philox4x32 known-answer vectors, the (seed, run, step,
// purpose, element) layout of the normal stream, and the statistics of the normals.
//
// Calibration. Every statistical check below runs on a fixed seed, so the suite is
// deterministic; the false-failure rate quoted for each test is the probability that a
// correct generator, on a seed drawn at random, would fail that test (normal, chi-square
// or Kolmogorov tails; several checks in one test are combined by the union bound).
// Each test is at most 1e-4, the whole file at most 3e-4.
import { chiSquareSurvival } from '../support/stats';
import { describe, expect, test } from '@jest/globals';
import { native } from '../../lib/native';

// Math functions bound once: a global lookup (Math.exp) inside jest's vm sandbox costs
// ~200 ns, which dominates loops over millions of elements.
const { exp, log, sqrt, abs, floor, max, min, sin, cos, atan2, PI, SQRT2, fround } = Math;

// ---- numerical helpers (self-contained: no statistics library in the tree) ----

/** Standard normal CDF through erfc (Numerical Recipes erfcc: relative error < 1.2e-7). */
function normalCdf(x: number): number {
  const z = abs(x) / SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const poly =
    -z * z - 1.26551223 +
    t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfcAbs = t * exp(poly);
  return x >= 0 ? 1 - 0.5 * erfcAbs : 0.5 * erfcAbs;
}

/** Survival function of the Kolmogorov distribution: P(K > lambda) = 2 sum (-1)^(k-1) exp(-2 k^2 lambda^2). */
function kolmogorovSurvival(lambda: number): number {
  if (lambda < 0.2) return 1;
  let s = 0;
  for (let k = 1; k <= 100; k++) s += (k % 2 === 1 ? 1 : -1) * exp(-2 * k * k * lambda * lambda);
  return min(1, max(0, 2 * s));
}

/** lambda with P(K > lambda) = alpha, by bisection. */
function kolmogorovCritical(alpha: number): number {
  let lo = 0.2, hi = 10;
  for (let i = 0; i < 200; i++) {
    const mid = 0.5 * (lo + hi);
    if (kolmogorovSurvival(mid) > alpha) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/** Pearson chi-square of observed counts against equal expected counts. */
function pearsonUniform(counts: Float64Array | number[]): number {
  let total = 0;
  for (const c of counts) total += c;
  const e = total / counts.length;
  let s = 0;
  for (const c of counts) s += ((c - e) * (c - e)) / e;
  return s;
}

const hex = (words: string): number[] => words.trim().split(/\s+/).map((w) => parseInt(w, 16) >>> 0);

async function draw(n: number, stream: { seed: number; run: number; step: number; purpose: number; index?: number }, first = 0, threads = 2): Promise<Float32Array> {
  const out = new Float32Array(n);
  await native.normals(out, stream, first, threads);
  return out;
}

// The main sample: 2^20 normals of one stream.
const N = 1 << 20;
const MAIN = { seed: 20240601, run: 3, step: 7, purpose: native.purposes.user };

describe('Philox4x32 known-answer vectors (Random123 kat_vectors, MATH.md §6)', () => {
  const vectors: Array<[number, string, string]> = [
    [7, '00000000 00000000 00000000 00000000 00000000 00000000', '5f6fb709 0d893f64 4f121f81 4f730a48'],
    [7, 'ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff', '5207ddc2 45165e59 4d8ee751 8c52f662'],
    [7, '243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0', '4dfccaba 190a87f0 c47362ba b6b5242a'],
    [10, '00000000 00000000 00000000 00000000 00000000 00000000', '6627e8d5 e169c58d bc57ac4c 9b00dbd8'],
    [10, 'ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff', '408f276d 41c83b0e a20bc7c6 6d5451fd'],
    [10, '243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0', 'd16cfe09 94fdcceb 5001e420 24126ea1'],
  ];
  test.each(vectors)('philox4x32 %i rounds, input %s', (rounds, input, expected) => {
    const words = hex(input);
    const out = native.philox4x32(Uint32Array.from(words.slice(0, 4)), Uint32Array.from(words.slice(4, 6)), rounds);
    // The addon allocates in the main realm, not jest's sandbox: check the tag, not instanceof.
    expect(Object.prototype.toString.call(out)).toBe('[object Uint32Array]');
    expect(Array.from(out)).toEqual(hex(expected));
  });

  test('rejects a counter that is not four words or a key that is not two', () => {
    expect(() => native.philox4x32(new Uint32Array(3), new Uint32Array(2), 10)).toThrow(/counter/);
    expect(() => native.philox4x32(new Uint32Array(4), new Uint32Array(3), 10)).toThrow(/key/);
  });
});

describe('normal stream layout (MATH.md §6)', () => {
  // Reference: key = (seed mod 2^32, floor(seed / 2^32)), counter = (element / 4, run, step,
  // purpose), lane = element mod 4; lanes (0,1) and (2,3) are Box–Muller pairs with the
  // float uniforms of §6: u1 = ((x >> 8) + 1) 2^-24 in (0, 1] for the radius and
  // u2 = (x >> 8) 2^-24 in [0, 1) for the angle.
  // The words come from the addon's own philox4x32 (checked above against the KAT vectors).
  function referenceNormal(seed: number, run: number, step: number, purpose: number, element: number): number {
    const key = Uint32Array.of(seed % 2 ** 32, floor(seed / 2 ** 32));
    const w = native.philox4x32(Uint32Array.of(floor(element / 4), run, step, purpose), key, 10);
    const lane = element % 4, first = lane & 2;
    const u1 = ((w[first] >>> 8) + 1) * 2 ** -24;
    const u2 = (w[first + 1] >>> 8) * 2 ** -24;
    const r = sqrt(-2 * log(u1));
    const angle = 6.283185307179586 * u2;
    return fround(lane & 1 ? r * sin(angle) : r * cos(angle));
  }

  test.each([
    [0, 0, 0, 1],
    [20240601, 3, 7, native.purposes.user],
    [2 ** 32 + 5, 1, 2, native.purposes.kernelNoise], // key word 1 = 1
    [2 ** 53 - 1, 4294967295, 4294967295, 4294967295], // every word at its maximum
  ])('seed %p run %p step %p purpose %p: elements follow key/counter/lane and Box–Muller', async (seed, run, step, purpose) => {
    const first = 1021; // not a multiple of 4: starts mid-block
    // The purpose word's kind and index travel apart (stream.purpose, stream.index).
    const out = await draw(515, { seed, run, step, purpose: (purpose & 0xffff0000) >>> 0, index: purpose & 0xffff }, first, 1);
    for (let i = 0; i < out.length; i++) {
      const ref = referenceNormal(seed, run, step, purpose, first + i);
      // The addon evaluates log, sin and cos with float polynomials (Cephes; approx_math.h):
      // a few float ulps of the radius (at most ~5.8), so within 1e-6 of the double reference.
      expect(abs(out[i] - ref)).toBeLessThanOrEqual(1e-6 * max(1, abs(ref)));
    }
  });
});

describe('normals: distribution of 2^20 draws (seed 20240601)', () => {
  let x: Float32Array;
  const ready = draw(N, MAIN).then((v) => (x = v));

  test('all finite', async () => {
    await ready;
    let bad = 0;
    for (let i = 0; i < N; i++) if (!Number.isFinite(x[i])) bad++;
    expect(bad).toBe(0);
  });

  test('mean, variance, third and fourth moments match N(0, 1)', async () => {
    // z-scores with the exact N(0,1) moments (no plug-in): mean ~ N(0, 1/n);
    // mean(x^2) - 1 ~ N(0, 2/n); mean(x^3) ~ N(0, 15/n); mean(x^4) - 3 ~ N(0, 96/n).
    // n = 2^20. Threshold |z| < 4.4 each: two-sided tail 1.1e-5, x4 checks -> 4.3e-5
    // (the skewness of mean(x^4) is 0.01 at this n; Edgeworth raises its tail by ~12%,
    // still < 5e-5 in all). False-failure rate < 5e-5.
    // Power: SE of the mean 0.00098, of the variance 0.0014: a mean offset >= 0.0065 or a
    // variance off by >= 1% (e.g. a Box–Muller radius sqrt(-log u) has variance 0.5, or a
    // radius/angle conversion bug) gives z > 6.6, caught with power > 0.98.
    await ready;
    let s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    for (let i = 0; i < N; i++) {
      const v = x[i], v2 = v * v;
      s1 += v;
      s2 += v2;
      s3 += v2 * v;
      s4 += v2 * v2;
    }
    const z = {
      mean: s1 / N / sqrt(1 / N),
      variance: (s2 / N - 1) / sqrt(2 / N),
      third: s3 / N / sqrt(15 / N),
      fourth: (s4 / N - 3) / sqrt(96 / N),
    };
    for (const [name, value] of Object.entries(z)) {
      expect({ name, ok: abs(value) < 4.4 }).toEqual({ name, ok: true });
    }
  });

  test('Kolmogorov–Smirnov against N(0, 1)', async () => {
    // D = sup |F_n - Phi|, sqrt(n) D -> Kolmogorov distribution. Critical value at
    // alpha = 1e-4 (about 2.23), so the false-failure rate is 1e-4 (the asymptotic law is
    // conservative at finite n). n = 2^20.
    // Power: catches any CDF error >= 0.0025 everywhere it is attained (sqrt(n) D >= 2.56),
    // e.g. 1% of the outputs stuck at 0 (a lane not written) gives sqrt(n) D = 5.1.
    await ready;
    const sorted = Float64Array.from(x).sort();
    let d = 0;
    for (let i = 0; i < N; i++) {
      const f = normalCdf(sorted[i]);
      d = max(d, (i + 1) / N - f, f - i / N);
    }
    const lambda = sqrt(N) * d;
    const critical = kolmogorovCritical(1e-4);
    expect(critical).toBeGreaterThan(2.2);
    expect(critical).toBeLessThan(2.3);
    expect(lambda).toBeLessThan(critical);
  });

  test('the two outputs of a Box–Muller pair (elements 2m, 2m+1) are independent', async () => {
    // M = 2^19 pairs (x, y). Under independence with exact N(0,1) moments:
    //   sum x y / sqrt(M) ~ N(0,1);  sum (x^2-1)(y^2-1) / sqrt(4M) ~ N(0,1)
    // (Var[(x^2-1)(y^2-1)] = 2 * 2). The same two statistics are also computed across
    // pairs: element 4b vs 4b+2 (the two pairs of one Philox block) and 2m+1 vs 2m+2
    // (neighbouring pairs). Six z-scores, |z| < 4.5 each (tail 6.8e-6): 4.1e-5.
    // Two chi-square tests on 64 equal bins, alpha = 2e-5 each: the angle atan2(y, x) is
    // uniform on (-pi, pi] and exp(-(x^2 + y^2)/2) is uniform on (0, 1) (the radius law).
    // False-failure rate < 1e-4 in all.
    // Power: a correlation >= 0.008 gives z >= 5.8 (power > 0.9); reusing one word for
    // radius and angle (r(u1) cos(2 pi u1)), duplicated lanes (2,3 = 0,1) or a radius
    // without the factor 2 give z or chi-square in the hundreds.
    await ready;
    const M = N / 2;
    let xy = 0, sq = 0;
    const angle = new Float64Array(64), radius = new Float64Array(64);
    for (let m = 0; m < M; m++) {
      const a = x[2 * m], b = x[2 * m + 1];
      xy += a * b;
      sq += (a * a - 1) * (b * b - 1);
      const th = atan2(b, a); // (-pi, pi]
      angle[min(63, floor(((th + PI) / (2 * PI)) * 64))]++;
      const u = exp(-(a * a + b * b) / 2); // (0, 1]
      radius[min(63, floor(u * 64))]++;
    }
    let xyBlock = 0, sqBlock = 0;
    for (let b = 0; b < N / 4; b++) {
      const a = x[4 * b], c = x[4 * b + 2];
      xyBlock += a * c;
      sqBlock += (a * a - 1) * (c * c - 1);
    }
    let xyNext = 0, sqNext = 0;
    for (let m = 0; m + 1 < M; m++) {
      const a = x[2 * m + 1], c = x[2 * m + 2];
      xyNext += a * c;
      sqNext += (a * a - 1) * (c * c - 1);
    }
    const zs = {
      pair: xy / sqrt(M),
      pairSquares: sq / sqrt(4 * M),
      block: xyBlock / sqrt(N / 4),
      blockSquares: sqBlock / sqrt(N),
      next: xyNext / sqrt(M - 1),
      nextSquares: sqNext / sqrt(4 * (M - 1)),
    };
    for (const [name, value] of Object.entries(zs)) expect({ name, ok: abs(value) < 4.5 }).toEqual({ name, ok: true });
    expect(chiSquareSurvival(pearsonUniform(angle), 63)).toBeGreaterThan(2e-5);
    expect(chiSquareSurvival(pearsonUniform(radius), 63)).toBeGreaterThan(2e-5);
  });
});

describe('normals: streams and offsets', () => {
  test('different seeds, runs, steps and purposes give different, uncorrelated streams', async () => {
    // n = 65536 per stream; for two independent N(0,1) streams sum a b / sqrt(n) ~ N(0,1).
    // Seven comparisons, |z| < 4.5 each (tail 6.8e-6): false-failure rate < 5e-5.
    // Power: a stream that ignores one word (e.g. run or key word 1 dropped) is identical
    // (caught without statistics); one that only shifts the element index by a few is
    // caught by the exact comparison too; a correlated stream with rho >= 0.03 gives z >= 7.7.
    const n = 65536;
    const base = { seed: 11, run: 2, step: 3, purpose: native.purposes.kernelNoise };
    const a = await draw(n, base);
    const variants = [
      { ...base, seed: 12 },
      { ...base, seed: 11 + 2 ** 32 }, // differs only in key word 1
      { ...base, run: 3 },
      { ...base, step: 4 },
      { ...base, purpose: native.purposes.initial },
      { ...base, index: 1 }, // next index of the same purpose kind
      { ...base, run: 3, step: 2 }, // swapped counter words must not alias
    ];
    for (const v of variants) {
      const b = await draw(n, v);
      expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(false);
      let equal = 0, s = 0;
      for (let i = 0; i < n; i++) {
        if (a[i] === b[i]) equal++;
        s += a[i] * b[i];
      }
      expect(equal).toBeLessThan(5); // two independent float32 normals collide with probability ~1e-7
      expect(abs(s / sqrt(n))).toBeLessThan(4.5);
    }
    // And the same stream twice is identical.
    expect(Buffer.from((await draw(n, base)).buffer).equals(Buffer.from(a.buffer))).toBe(true);
  });

  test('firstElement offsets: normals of [a, b) equal the slice of a longer draw, for 1 and 2 threads', async () => {
    const L = 200_003;
    const stream = { seed: 99, run: 1, step: 5, purpose: native.purposes.langevin };
    const long1 = await draw(L, stream, 0, 1);
    const long2 = await draw(L, stream, 0, 2);
    expect(Buffer.from(long2.buffer).equals(Buffer.from(long1.buffer))).toBe(true);
    const ranges: Array<[number, number]> = [[0, 1], [1, 2], [2, 3], [3, 4], [1, 7], [3, 10], [5, 4101], [4097, 70001], [16387, 200_003], [100_001, 150_002], [199_999, 200_003]];
    for (const [a, b] of ranges) {
      for (const threads of [1, 2]) {
        // 2 threads split the range at (b - a) / 2, mid-block when that is not a multiple of 4.
        const part = await draw(b - a, stream, a, threads);
        expect({ a, b, threads, same: Buffer.from(part.buffer).equals(Buffer.from(long1.buffer, a * 4, (b - a) * 4)) }).toEqual({ a, b, threads, same: true });
      }
    }
  });

  test.each([
    ['sixteen runs in lanes (4 x 20 per run)', 37, 4, 20],
    ['one run at a time (16 x 80 per run)', 5, 16, 80],
    ['one run at a time (3 x 800 per run)', 2, 3, 800],
  ])("propagate's kernel noise is each run's own stream, element k D + j: %s", async (_, runs, particles, dim) => {
    // Zero means and unit scale, so a latent coordinate is its normal: the moves draw their
    // normals sixteen runs at a time (fill_normals_runs) or through a run's cursor, each with
    // sixty-four-block paths on AVX-512, and every one must give what normals() gives.
    const rows = runs * particles, runOffset = 9;
    const latent = Int32Array.from({ length: dim - 1 }, (_, i) => i + 1);
    const stream = { seed: 77, run: 0, step: 6, purpose: native.purposes.kernelNoise };
    const mu = new Float32Array(rows * dim), out = new Float32Array(rows * dim);
    const y = new Float32Array(runs);
    await native.propagate({ runs, particles, dim, runOffset, runKeys: null }, latent, Int32Array.of(0), mu, null, 1, y, stream, out, 2);
    let differ = 0;
    for (let r = 0; r < runs; r++) {
      const own = await draw(particles * dim, { ...stream, run: runOffset + r }, 0, 1);
      for (let e = 0; e < particles * dim; e++) if (e % dim !== 0 && out[r * particles * dim + e] !== own[e]) differ++;
    }
    expect(differ).toBe(0);
  });

  test('an element index beyond the 32-bit block counter (>= 2^34) is rejected, not aliased to element 0', async () => {
    // MATH.md §6: counter word 0 is floor(element / 4), a uint32, so elements < 2^34.
    // rng.h block_for truncates the block to 32 bits, so element 2^34 would repeat element 0:
    // the binding (native/binding/op_args.h, parse_normals) must refuse it.
    const stream = { seed: 5, run: 0, step: 0, purpose: native.purposes.user };
    const zero = await draw(8, stream, 0, 1);
    let result: Float32Array | Error;
    try {
      result = await draw(8, stream, 2 ** 34, 1);
    } catch (err) {
      result = err as Error;
    }
    if (result instanceof Float32Array) {
      expect(Buffer.from(result.buffer).equals(Buffer.from(zero.buffer))).toBe(false);
    } else {
      expect(result).toMatchObject({ name: 'RangeError', message: expect.stringMatching(/firstElement/) });
    }
  });
});
