// The SIMD vocabulary of the mixture score kernels (mixture_score.cc, mixture_structured.cc):
// sixteen float lanes, one particle each. The kernels are compiled once per instruction set
// (a namespace each, under #pragma GCC target), and these lower to one zmm register on
// AVX-512 and four xmm on baseline x86-64 (the AVX2 build has its own type, two ymm:
// mixture_simd_avx2.h). Always inlined, so each build of a kernel gets its own instruction
// set's code. The kernels name the vocabulary unqualified: each build's namespace brings in
// this one or mixture_simd_avx2.h's, which has the same names and lane-for-lane meanings.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "isa.h"

namespace condiff {
namespace simd {

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));

#define CONDIFF_SIMD_INLINE inline __attribute__((always_inline))

CONDIFF_SIMD_INLINE vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
CONDIFF_SIMD_INLINE void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
// A broadcast, not 0 + x: that addition is an instruction when contraction is off, and
// turns −0 into +0.
CONDIFF_SIMD_INLINE vf splat(float x) { return __builtin_shuffle(vf{x}, vi{}); }

// a·b + c rounded once (the IEEE fused multiply-add), lane by lane, one per instruction
// set: the score kernels are compiled once per set (mixture_score.cc, mixture_structured.cc)
// with the matching one. Each lane is the one exactly rounded value whichever runs, so every
// machine gives the same bytes (MATH.md §6); a written a * b + c could fuse in one build or
// clone and not in another, which is why the core is built with -ffp-contract=off.
__attribute__((target("avx512f"))) CONDIFF_SIMD_INLINE vf madd_avx512(vf a, vf b, vf c) {
  return reinterpret_cast<vf>(_mm512_fmadd_ps(reinterpret_cast<__m512>(a), reinterpret_cast<__m512>(b),
                                              reinterpret_cast<__m512>(c)));
}
// a·b − c rounded once: fma(a, b, −c) exactly (negation is exact), as one instruction whose
// c may come straight from memory, where a negated broadcast costs three.
__attribute__((target("avx512f"))) CONDIFF_SIMD_INLINE vf msub_avx512(vf a, vf b, vf c) {
  return reinterpret_cast<vf>(_mm512_fmsub_ps(reinterpret_cast<__m512>(a), reinterpret_cast<__m512>(b),
                                              reinterpret_cast<__m512>(c)));
}
CONDIFF_SIMD_INLINE vf msub_baseline(vf a, vf b, vf c) {
  vf r;
  for (int i = 0; i < 16; ++i) r[i] = __builtin_fmaf(a[i], b[i], -c[i]);
  return r;
}
// Without FMA hardware: glibc's correctly rounded fmaf per lane (slow, but the same bytes).
CONDIFF_SIMD_INLINE vf madd_baseline(vf a, vf b, vf c) {
  vf r;
  for (int i = 0; i < 16; ++i) r[i] = __builtin_fmaf(a[i], b[i], c[i]);
  return r;
}

// The first n (< 16) lanes from or to memory, the rest zero on a load and untouched on a
// store: the tail of a row whose length is not a multiple of 16. AVX-512 masks the access;
// the other sets copy lane by lane.
__attribute__((target("avx512f"))) CONDIFF_SIMD_INLINE vf load_first_avx512(const float* p, int64_t n) {
  return reinterpret_cast<vf>(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p));
}
__attribute__((target("avx512f"))) CONDIFF_SIMD_INLINE void store_first_avx512(float* p, vf v, int64_t n) {
  _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), reinterpret_cast<__m512>(v));
}
CONDIFF_SIMD_INLINE vf load_first_portable(const float* p, int64_t n) {
  vf v = {};
  for (int64_t i = 0; i < n; ++i) v[i] = p[i];
  return v;
}
CONDIFF_SIMD_INLINE void store_first_portable(float* p, vf v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] = v[i];
}

// a > b ? a : b and x < lo ? lo : x, lane by lane (a NaN compares false).
CONDIFF_SIMD_INLINE vf greater_of(vf a, vf b) { return a > b ? a : b; }
CONDIFF_SIMD_INLINE vf at_least(vf x, vf lo) { return x < lo ? lo : x; }

// 2^n for the integral lanes of n (exp_approx's scale): the bits (int(n) + 127) << 23.
CONDIFF_SIMD_INLINE vf exponent_scale(vf n) {
  const vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  vf scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return scale;
}

// One step of a 16 x 16 transpose held as 16 row vectors: exchanges the off-diagonal S x S
// blocks of rows a and b (b = a + S).
template <int S>
CONDIFF_SIMD_INLINE void exchange(vf& a, vf& b) {
  static_assert(S == 8 || S == 4 || S == 2 || S == 1, "block sizes of the 16 x 16 transpose");
  vi lo, hi;
  if constexpr (S == 8) {
    lo = vi{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
    hi = vi{8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31};
  } else if constexpr (S == 4) {
    lo = vi{0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27};
    hi = vi{4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31};
  } else if constexpr (S == 2) {
    lo = vi{0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29};
    hi = vi{2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31};
  } else {
    lo = vi{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30};
    hi = vi{1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31};
  }
  const vf x = __builtin_shuffle(a, b, lo), y = __builtin_shuffle(a, b, hi);
  a = x;
  b = y;
}

// Which of the three the running CPU takes (isa.h).
using ::condiff::Isa;
using ::condiff::running_isa;

}  // namespace simd
}  // namespace condiff
