// The SIMD vocabulary of the mixture score kernels for their AVX2 build: sixteen float lanes
// (one particle each, as mixture_simd.h's vf) held as two ymm registers. GCC 12 keeps a
// 64-byte GNU vector in memory under target("avx2"), every operation going through the stack,
// which made the AVX2 kernels ~100x slower than the AVX-512 ones (bench/RESULTS.md §7); a
// struct of two __m256 stays in registers. Each operation is the IEEE operation lane by lane,
// as the GNU vector's is, so this build gives the same bytes as the others (MATH.md §6;
// mixture_test test_instruction_sets).
//
// Compiled for AVX2 with FMA and always inlined: the kernels that use it are compiled under
// the same target (mixture_score.cc, mixture_structured.cc).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "mixture_simd.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace condiff {
namespace simd_avx2 {

struct vf {
  __m256 lo, hi;
};

CONDIFF_SIMD_INLINE vf load(const float* p) { return vf{_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
CONDIFF_SIMD_INLINE void store(float* p, vf v) {
  _mm256_storeu_ps(p, v.lo);
  _mm256_storeu_ps(p + 8, v.hi);
}
CONDIFF_SIMD_INLINE vf splat(float x) {
  const __m256 v = _mm256_set1_ps(x);
  return vf{v, v};
}

#define CONDIFF_AVX2_ARITH(op, intrinsic)                                                   \
  CONDIFF_SIMD_INLINE vf operator op(vf a, vf b) {                                         \
    return vf{intrinsic(a.lo, b.lo), intrinsic(a.hi, b.hi)};                     \
  }                                                                                         \
  CONDIFF_SIMD_INLINE vf operator op(vf a, float b) { return a op splat(b); }              \
  CONDIFF_SIMD_INLINE vf operator op(float a, vf b) { return splat(a) op b; }              \
  CONDIFF_SIMD_INLINE vf& operator op##=(vf& a, vf b) { return a = a op b; }               \
  CONDIFF_SIMD_INLINE vf& operator op##=(vf& a, float b) { return a = a op splat(b); }
CONDIFF_AVX2_ARITH(+, _mm256_add_ps)
CONDIFF_AVX2_ARITH(-, _mm256_sub_ps)
CONDIFF_AVX2_ARITH(*, _mm256_mul_ps)
CONDIFF_AVX2_ARITH(/, _mm256_div_ps)
#undef CONDIFF_AVX2_ARITH

// The sign bit flipped, as a GNU vector's negation: exact, NaNs included.
CONDIFF_SIMD_INLINE vf operator-(vf a) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  return vf{_mm256_xor_ps(a.lo, sign), _mm256_xor_ps(a.hi, sign)};
}

// mixture_simd.h's madd_* and msub_*: a·b ± c rounded once.
CONDIFF_SIMD_INLINE vf madd(vf a, vf b, vf c) {
  return vf{_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
CONDIFF_SIMD_INLINE vf msub(vf a, vf b, vf c) {
  return vf{_mm256_fmsub_ps(a.lo, b.lo, c.lo), _mm256_fmsub_ps(a.hi, b.hi, c.hi)};
}

// a > b ? a : b and x < lo ? lo : x lane by lane, as mixture_simd.h's greater_of and
// at_least: vmaxps(a, b) is exactly a > b ? a : b (its second operand when either is a NaN
// or both are zeros), and x < lo is lo > x.
CONDIFF_SIMD_INLINE vf greater_of(vf a, vf b) { return vf{_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)}; }
CONDIFF_SIMD_INLINE vf at_least(vf x, vf lo) { return vf{_mm256_max_ps(lo.lo, x.lo), _mm256_max_ps(lo.hi, x.hi)}; }

// 2^n for the integral lanes of n (exp_approx's scale): the bits (int(n) + 127) << 23.
CONDIFF_SIMD_INLINE vf exponent_scale(vf n) {
  const __m256i bias = _mm256_set1_epi32(127);
  const auto two_to = [bias](__m256 x) __attribute__((always_inline)) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(x), bias), 23));
  };
  return vf{two_to(n.lo), two_to(n.hi)};
}

// The first n (< 16) lanes from or to memory, the rest zero on a load and untouched on a
// store, through a buffer on the stack: nothing past p + n is touched. (vmaskmovps would
// not do: AMD leaves faults on masked-off elements to the implementation, and its stores
// with masked-off lanes are microcoded on Zen, the AVX2-only CPUs this build is for.)
CONDIFF_SIMD_INLINE vf load_first(const float* p, int64_t n) {
  alignas(32) float buffer[16] = {};
  std::memcpy(buffer, p, static_cast<size_t>(n) * sizeof(float));
  return load(buffer);
}
CONDIFF_SIMD_INLINE void store_first(float* p, vf v, int64_t n) {
  alignas(32) float buffer[16];
  store(buffer, v);
  std::memcpy(p, buffer, static_cast<size_t>(n) * sizeof(float));
}

// One step of the 16 x 16 transpose (mixture_simd.h's exchange): the off-diagonal s x s
// blocks of rows a and b. s = 8 swaps halves; below, each half's 8 x 8 step is one or two
// instructions (128-bit lane permutes, in-lane shuffles, duplicates and blends).
template <int S>
CONDIFF_SIMD_INLINE void exchange(vf& a, vf& b) {
  static_assert(S == 8 || S == 4 || S == 2 || S == 1, "block sizes of the 16 x 16 transpose");
  vf x, y;
  if constexpr (S == 8) {
    x = vf{a.lo, b.lo};
    y = vf{a.hi, b.hi};
  } else if constexpr (S == 4) {
    x = vf{_mm256_permute2f128_ps(a.lo, b.lo, 0x20), _mm256_permute2f128_ps(a.hi, b.hi, 0x20)};
    y = vf{_mm256_permute2f128_ps(a.lo, b.lo, 0x31), _mm256_permute2f128_ps(a.hi, b.hi, 0x31)};
  } else if constexpr (S == 2) {
    x = vf{_mm256_shuffle_ps(a.lo, b.lo, 0x44), _mm256_shuffle_ps(a.hi, b.hi, 0x44)};
    y = vf{_mm256_shuffle_ps(a.lo, b.lo, 0xEE), _mm256_shuffle_ps(a.hi, b.hi, 0xEE)};
  } else {
    x = vf{_mm256_blend_ps(a.lo, _mm256_moveldup_ps(b.lo), 0xAA), _mm256_blend_ps(a.hi, _mm256_moveldup_ps(b.hi), 0xAA)};
    y = vf{_mm256_blend_ps(_mm256_movehdup_ps(a.lo), b.lo, 0xAA), _mm256_blend_ps(_mm256_movehdup_ps(a.hi), b.hi, 0xAA)};
  }
  a = x;
  b = y;
}

}  // namespace simd_avx2
}  // namespace condiff

#pragma GCC pop_options
