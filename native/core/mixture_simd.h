// The SIMD vocabulary of the mixture score kernels (mixture_score.cc, mixture_structured.cc):
// sixteen float lanes, one particle each. GCC/Clang lower these per target clone: one zmm
// register on AVX-512, two ymm on AVX2, four xmm on baseline x86-64. Always inlined, so
// each clone gets its own instruction set's code.
#pragma once
#include <cstdint>
#include <cstring>

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
CONDIFF_SIMD_INLINE vf splat(float x) { return vf{} + x; }

// exp(x) for x <= 0, branch-free: range reduction by ln 2 and the degree-6 polynomial
// of Cephes' expf (S. Moshier, Cephes Math Library, expf.c: the constants below).
// Rounds n to nearest with the 1.5 * 2^23 trick; relative error ~2 ulp on [-87, 0].
CONDIFF_SIMD_INLINE vf exp_approx(vf x) {
  x = x < splat(-87.0f) ? splat(-87.0f) : x;
  const vf shifter = splat(12582912.0f);  // 1.5 * 2^23
  const vf n = (x * 1.44269504088896341f + shifter) - shifter;
  const vf r = x - n * 0.693359375f + n * 2.12194440e-4f;
  vf p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  vf scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

}  // namespace simd
}  // namespace condiff
