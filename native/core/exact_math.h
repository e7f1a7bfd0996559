// Double-precision exp and log written with IEEE +, -, *, / and bit operations only, so
// the CPU and GPU cores evaluate them to the same bits (MATH.md §5b, §6: resampling
// decisions must not depend on which libm ran them).
//
// Both are textbook constructions (range reduction by ln 2, then a Taylor or atanh series);
// the only borrowed numbers are the two-part split of ln 2 (Cody & Waite 1980, as used in
// most libms) and the series coefficients, which are exact rationals.
//
// Bit-identity needs each operation rounded as written: the CPU core is compiled for
// baseline x86-64 (no FMA to contract into) and the CUDA files that use these with
// -fmad=false (CMakeLists.txt).
#pragma once
#include <cstdint>
#include <cstring>

#include "hd.h"

namespace condiff {

CONDIFF_HD uint64_t double_bits(double x) {
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

CONDIFF_HD double bits_double(uint64_t b) {
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

// 2^k for -1022 <= k <= 1023, exactly.
CONDIFF_HD double pow2_d(int k) { return bits_double(static_cast<uint64_t>(k + 1023) << 52); }

// Range reduction for e^x: x = k ln 2 + r with k = round(x / ln 2), |r| <= ln 2 / 2; ln 2
// is split into a head with 32 trailing zero bits and a tail (the classic Cody–Waite
// constants), so k * head is exact. Returns k (as a double) and sets *r.
CONDIFF_HD double exp_reduce(double x, double* r) {
  const double ln2_head = 6.93147180369123816490e-01, ln2_tail = 1.90821492927058770002e-10;
  const double round_shift = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  const double kf = (x * 1.44269504088896340736 + round_shift) - round_shift;
  *r = (x - kf * ln2_head) - kf * ln2_tail;
  return kf;
}

// e^r for |r| <= ln 2 / 2: its Taylor series through r^13 / 13! (truncation < 2e-17
// relative) in Horner form.
CONDIFF_HD double exp_taylor(double r) {
  double p = 1.0 / 6227020800.0;  // 1 / 13!
  p = p * r + 1.0 / 479001600.0;  // 1 / 12!
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  return p * r + 1.0;
}

// e^x for any x up to ln of the largest double; within 2 ulp of libm.
CONDIFF_HD double exp_d(double x) {
  if (x != x) return x;
  if (x < -745.2) return 0.0;  // below the smallest subnormal, and -inf
  if (x > 709.782712893383973) return bits_double(0x7ff0000000000000ull);  // ln(largest double)
  double r;
  const int k = static_cast<int>(exp_reduce(x, &r));
  const double p = exp_taylor(r);
  if (k >= -1022) return k == 1024 ? p * 2.0 * pow2_d(1023) : p * pow2_d(k);
  return (p * pow2_d(k + 600)) * pow2_d(-600);  // a subnormal result: rounded at the end
}

// e^x for x <= 0, -inf or NaN (0 for both) for the resampling weights exp(lw - max):
// equal to exp_d bit for bit, but with selects instead of branches so the weight loop
// runs in SIMD lanes.
CONDIFF_HD double exp_nonpositive_d(double x) {
  const bool zero = !(x >= -745.2);  // NaN, -inf, and below the smallest subnormal
  double r;
  const double kf = exp_reduce(zero ? -745.2 : x, &r);
  const double p = exp_taylor(r);
  // 2^k in two exact factors: 2^(k + 600) 2^-600 equals 2^k wherever the result is normal,
  // and rounds once at the end where it is subnormal (exp_d's two paths).
  const int64_t k = static_cast<int64_t>(kf);
  const double y = (p * bits_double(static_cast<uint64_t>(k + 600 + 1023) << 52)) * pow2_d(-600);
  return zero ? 0.0 : y;
}

// log(2^e m) for m in (sqrt(1/2), sqrt(2)], the tail of log_d and neg_log_unit_d: with
// s = (m - 1) / (m + 1), log m = 2 atanh s = 2 s (1 + s^2/3 + ... + s^(last - 1)/last),
// Horner from the highest term; log 2^e m = e ln 2 + log m with ln 2 split as in exp_d.
// Each coefficient 1/d is a correctly rounded quotient, the same value as a literal.
CONDIFF_HD double log_reduced(double m, int e, int last) {
  const double f = m - 1.0;  // exact (Sterbenz: m within a factor 2 of 1)
  const double s = f / (2.0 + f);
  const double z = s * s;
  double p = 1.0 / static_cast<double>(last);
  for (int d = last - 2; d >= 3; d -= 2) p = p * z + 1.0 / static_cast<double>(d);
  // log m = 2 s + 2 s z p, keeping the leading term separate.
  const double log_m = 2.0 * s + 2.0 * s * (z * p);
  const double ln2_head = 6.93147180369123816490e-01, ln2_tail = 1.90821492927058770002e-10;  // as in exp_reduce
  const double de = static_cast<double>(e);
  return de * ln2_head + (de * ln2_tail + log_m);
}

// -log x for x in [2^-32, 1] (a uniform from a 32-bit word): the Exp(1) draws of
// multinomial and residual resampling (MATH.md §5, resampling_math.h). Branch-free, so a loop of
// them runs in SIMD lanes, and with the series cut at s^14/15: the next term is below
// 3e-14 relative, far under any statistical effect on sorted uniforms, and about half
// the work of log_d's. Only IEEE +, -, *, / (no contraction): the same bits on every
// CPU path and on the GPU.
CONDIFF_HD double neg_log_unit_d(double x) {
  const uint64_t bits = double_bits(x);
  int e = static_cast<int>(bits >> 52) - 1023;
  double m = bits_double((bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull);  // [1, 2)
  const bool above = m > 1.41421356237309504880;
  m = above ? m * 0.5 : m;  // exact
  e += above ? 1 : 0;
  return -log_reduced(m, e, 15);
}

// Natural log of a positive x, for the Exp(1) draws -log u of multinomial resampling.
// x = 2^e m with m in (sqrt(1/2), sqrt(2)]; with s = (m - 1) / (m + 1),
// log m = 2 atanh s = 2 s (1 + s^2/3 + s^4/5 + ...), |s| <= 0.172, summed through s^22/23
// (the next term is < 2e-19 relative); log x = e ln 2 + log m with ln 2 split as in exp_d.
// Within 2 ulp of libm.
CONDIFF_HD double log_d(double x) {
  if (x != x || x == bits_double(0x7ff0000000000000ull)) return x;
  if (x <= 0.0) return x == 0.0 ? bits_double(0xfff0000000000000ull) : bits_double(0x7ff8000000000000ull);
  int e = 0;
  if (x < 2.2250738585072014e-308) {  // subnormal: scale into the normal range first
    x *= 18014398509481984.0;         // 2^54
    e = -54;
  }
  const uint64_t bits = double_bits(x);
  e += static_cast<int>(bits >> 52) - 1023;
  double m = bits_double((bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull);  // [1, 2)
  if (m > 1.41421356237309504880) {
    m *= 0.5;  // exact
    e += 1;
  }
  return log_reduced(m, e, 23);  // through s^22/23
}

}  // namespace condiff
