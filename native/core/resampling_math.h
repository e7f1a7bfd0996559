// The arithmetic of resampling (MATH.md §5, §5b) in 64-bit fixed point, shared by the
// CPU core (resampling.cc, a sequential sweep) and the CUDA core (parallel scans).
// Integer sums do not depend on their order, so a serial CPU loop and a GPU scan give
// the same cumulative weights to the last bit, and hence the same ancestors.
//
// One run of n weights:
//   w_k   = exp(lw_k - max lw)  in [0, 1]  (exact_math.h; NaN weighs nothing)
//   shift = 95 - ceil(log2(S' + n)),  S' = sum_k floor(w_k 2^32)   (the coarse pass)
//   q_k   = floor(w_k 2^shift),  C_k = q_0 + ... + q_k,  T = C_{n-1} <= 2^63
// The shift puts the largest possible total just under 2^63: about 2^62 / sum w of
// resolution, finer than a float64 running sum wherever the sum exceeds 2^-9.
// A position p in [0, 1) becomes P = floor(p 2^64) and the target t = floor(P T / 2^64)
// < T; its ancestor is the smallest k with C_k > t (upper bound), which is never a
// particle of zero fixed-point weight, trailing or not.
#pragma once
#include <cstdint>

#include "exact_math.h"
#include "hd.h"
#include "philox.h"

namespace condiff {

struct U128 {
  uint64_t hi, lo;
};

CONDIFF_HD U128 mul_wide(uint64_t a, uint64_t b) {
#if defined(__CUDA_ARCH__)
  return {__umul64hi(a, b), a * b};
#else
  const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  return {static_cast<uint64_t>(p >> 64), static_cast<uint64_t>(p)};
#endif
}

// Bitwise, not short-circuit: the exact corrections below almost never iterate, and a
// branch per comparison mispredicted whenever the high words were equal.
CONDIFF_HD bool less_equal(U128 a, U128 b) { return (a.hi < b.hi) | ((a.hi == b.hi) & (a.lo <= b.lo)); }
CONDIFF_HD U128 add_u64(U128 a, uint64_t b) {
  const uint64_t lo = a.lo + b;
  return {a.hi + (lo < a.lo ? 1u : 0u), lo};
}
CONDIFF_HD U128 sub_u64(U128 a, uint64_t b) { return {a.hi - (a.lo < b ? 1u : 0u), a.lo - b}; }

// The number of significant bits of x >= 1 (floor(log2 x) + 1).
CONDIFF_HD int bit_length(uint64_t x) {
#if defined(__CUDA_ARCH__)
  return 64 - __clzll(static_cast<long long>(x));
#else
  return 64 - __builtin_clzll(x);
#endif
}

// ceil(log2 x) for x >= 1.
CONDIFF_HD int ceil_log2(uint64_t x) {
  if (x <= 1) return 0;
#if defined(__CUDA_ARCH__)
  return 64 - __clzll(static_cast<long long>(x - 1));
#else
  return 64 - __builtin_clzll(x - 1);
#endif
}

// w_k relative to the run's largest log-weight (MATH.md §4, the max trick). NaN weighs nothing.
CONDIFF_HD double relative_weight(double lw, double mx) { return exp_nonpositive_d(lw - mx); }

// The coarse pass: floor(w 2^32).
CONDIFF_HD uint64_t coarse_weight(double w) { return static_cast<uint64_t>(w * 4294967296.0); }

// The shift that keeps sum_k floor(w_k 2^shift) <= 2^63, from the coarse sum S' >= 2^32
// (the largest weight is 1): sum w <= (S' + n) 2^-32. In [31, 62] for n < 2^31.
CONDIFF_HD int weight_shift(uint64_t coarse_sum, int64_t n) {
  return 95 - ceil_log2(coarse_sum + static_cast<uint64_t>(n));
}

CONDIFF_HD uint64_t fixed_weight(double w, int shift) { return static_cast<uint64_t>(w * pow2_d(shift)); }

// P = floor(p 2^64) for p in [0, 1]; p = 1 (only reachable by a sorted uniform) maps to 2^64 - 1.
CONDIFF_HD uint64_t fixed_position(double p) {
  return p >= 1.0 ? ~uint64_t{0} : static_cast<uint64_t>(p * 18446744073709551616.0);
}

// t = floor(P T / 2^64) < T: compare with C_k (the ancestor is the smallest k with C_k > t).
CONDIFF_HD uint64_t position_target(uint64_t position, uint64_t total) { return mul_wide(position, total).hi; }

// ---- Multinomial (MATH.md §5): sorted uniforms as normalised cumulative sums of count + 1 Exp(1) draws ----

// -log u with u = (x + 1) 2^-32 in (0, 1]: an Exp(1) draw in [0, 22.2] (exact_math.h).
CONDIFF_HD double exp1_from_word(uint32_t x) { return neg_log_unit_d(uniform01_open_left_d(x)); }

// Fixed point for the sum of `draws` Exp(1) draws, each below 2^5: the sum stays below 2^63.
CONDIFF_HD int exp_sum_shift(int64_t draws) { return 58 - ceil_log2(static_cast<uint64_t>(draws)); }
CONDIFF_HD uint64_t fixed_exp1(uint32_t x, int shift) {
  return static_cast<uint64_t>(exp1_from_word(x) * pow2_d(shift));
}

// The m-th sorted uniform S_m / S_count as a fixed-point position (0 when every draw is 0).
// A product with 1/total (monotone in partial, which keeps the positions sorted) rather
// than a quotient: in a loop the compiler computes the reciprocal once.
CONDIFF_HD uint64_t sorted_position(uint64_t partial, uint64_t total) {
  return total == 0 ? 0 : fixed_position(static_cast<double>(partial) * (1.0 / static_cast<double>(total)));
}

// ---- Residual (MATH.md §5): floor(N W_k) copies exactly, then the fractional parts ----

// copies = floor(n q / total), exactly (a double estimate corrected in 128-bit integers);
// *remainder = n q - copies total < total.
CONDIFF_HD uint64_t residual_copies(uint64_t q, int64_t n, uint64_t total, uint64_t* remainder) {
  const U128 prod = mul_wide(static_cast<uint64_t>(n), q);
  // The estimate only has to be close (the loops below make c exact): a product with
  // 1/total, which the compiler hoists out of a loop over particles, not a division.
  uint64_t c = static_cast<uint64_t>(static_cast<double>(n) * static_cast<double>(q) * (1.0 / static_cast<double>(total)));
  U128 ct = mul_wide(c, total);
  while (c > 0 && !less_equal(ct, prod)) {
    --c;
    ct = sub_u64(ct, total);
  }
  while (less_equal(add_u64(ct, total), prod)) {
    ++c;
    ct = add_u64(ct, total);
  }
  *remainder = prod.lo - ct.lo;  // < total, so the high words agree
  return c;
}

// The residual weight of a particle, from its remainder r = n q - floor(n q / T) T < T:
// r / 2^s with s = max(0, bits(T) - 32), below 2^32 (a sum over n < 2^31 particles stays
// below 2^63). Proportional to the fractional part N W_k - floor(N W_k) = r / T up to the
// floor (the factor 2^s / T is the same for every particle), which is all the
// multinomial draw on the residuals needs; a shift, where an exact quotient by T cost a
// division and two 128-bit corrections per particle.
CONDIFF_HD uint64_t residual_fraction(uint64_t remainder, uint64_t total) {
  const int bits = bit_length(total);  // total >= 1: some weight is positive
  return bits > 32 ? remainder >> (bits - 32) : remainder;
}

}  // namespace condiff
