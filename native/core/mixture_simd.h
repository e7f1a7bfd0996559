// The SIMD vocabulary of the mixture score kernels (mixture_score.cc, mixture_structured.cc):
// sixteen float lanes, one particle each. The kernels are compiled once per instruction set
// (a namespace each, under #pragma GCC target), and these lower to one zmm register on
// AVX-512, two ymm on AVX2, four xmm on baseline x86-64. Always inlined, so each build of a
// kernel gets its own instruction set's code.
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
// AVX2 computes a 16-lane vector as its two ymm halves: op(a, b, c) on each half.
template <typename Op>
__attribute__((target("avx2,fma"))) CONDIFF_SIMD_INLINE vf on_halves(vf a, vf b, vf c, Op op) {
  __m256 h[3][2];
  std::memcpy(h[0], &a, sizeof a);
  std::memcpy(h[1], &b, sizeof b);
  std::memcpy(h[2], &c, sizeof c);
  const __m256 r[2] = {op(h[0][0], h[1][0], h[2][0]), op(h[0][1], h[1][1], h[2][1])};
  vf out;
  std::memcpy(&out, r, sizeof out);
  return out;
}
__attribute__((target("avx2,fma"))) CONDIFF_SIMD_INLINE vf madd_avx2(vf a, vf b, vf c) {
  return on_halves(a, b, c, [](__m256 x, __m256 y, __m256 z) __attribute__((target("avx2,fma"), always_inline)) {
    return _mm256_fmadd_ps(x, y, z);
  });
}
// a·b − c rounded once: fma(a, b, −c) exactly (negation is exact), as one instruction whose
// c may come straight from memory, where a negated broadcast costs three.
__attribute__((target("avx512f"))) CONDIFF_SIMD_INLINE vf msub_avx512(vf a, vf b, vf c) {
  return reinterpret_cast<vf>(_mm512_fmsub_ps(reinterpret_cast<__m512>(a), reinterpret_cast<__m512>(b),
                                              reinterpret_cast<__m512>(c)));
}
__attribute__((target("avx2,fma"))) CONDIFF_SIMD_INLINE vf msub_avx2(vf a, vf b, vf c) {
  return on_halves(a, b, c, [](__m256 x, __m256 y, __m256 z) __attribute__((target("avx2,fma"), always_inline)) {
    return _mm256_fmsub_ps(x, y, z);
  });
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

// Which of the three the running CPU takes (isa.h).
using ::condiff::Isa;
using ::condiff::running_isa;

}  // namespace simd
}  // namespace condiff
