// Float, int32 and uint32 lanes held as several vectors, for the normal generator's vector
// paths (normals.cc): sixty-four lanes as four sixteen-lane vectors on AVX-512 (namespace
// lanes), and as eight eight-lane vectors on AVX2 (namespace lanes_avx2, which also has
// sixteen lanes as two). Each operation is one independent instruction per vector, so the
// long dependency chains of the Box–Muller polynomials (approx_math.h) run side by side
// instead of one after another: sixteen lanes at a time, the AVX-512 generator waited on each
// chain's latency (measured on a Xeon: 1.5x the normals per second with four). approx_math.h's
// templates are instantiated on these types and find the overloads (lanes_ops.inc) by
// argument-dependent lookup; lane for lane they compute exactly what the scalar form does,
// so the bits are the same (MATH.md §6).
//
// The operations are compiled for their instruction set and not marked always_inline:
// approx_math.h's templates, instantiated on these types, are compiled for the default
// target, which may not inline them. Their callers (normals.cc box_muller_x4 and the AVX2
// functions beside it) are functions of the same set marked `flatten`, which inline the
// templates and these operations into themselves.
#pragma once
#include <immintrin.h>

#include <cstdint>

#define CONDIFF_LANES inline

namespace condiff {

namespace lanes {
#pragma GCC push_options
#pragma GCC target("avx512f")

constexpr int kParts = 4;
constexpr int kWidth = 16;
constexpr int kLanes = kParts * kWidth;

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
typedef uint32_t vu __attribute__((vector_size(64)));

#include "lanes_ops.inc"

// (The maskz form with a full mask: the plain intrinsic starts from an undefined register.)
template <int P>
CONDIFF_LANES FloatLanes<P> square_root(FloatLanes<P> a) {
  CONDIFF_LANES_EACH(FloatLanes<P>, reinterpret_cast<vf>(_mm512_maskz_sqrt_ps(0xFFFF, reinterpret_cast<__m512>(a.v[i]))));
}
#undef CONDIFF_LANES_EACH

// The sixty-four lanes of the wide path.
using F4 = FloatLanes<kParts>;
using I4 = IntLanes<kParts>;
using U4 = WordLanes<kParts>;

#pragma GCC pop_options
}  // namespace lanes

// AVX2 without FMA: the generator's arithmetic is unfused everywhere (fp-contract=off).
namespace lanes_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2")

constexpr int kWidth = 8;

typedef float vf __attribute__((vector_size(32)));
typedef int32_t vi __attribute__((vector_size(32)));
typedef uint32_t vu __attribute__((vector_size(32)));

#include "lanes_ops.inc"

template <int P>
CONDIFF_LANES FloatLanes<P> square_root(FloatLanes<P> a) {
  CONDIFF_LANES_EACH(FloatLanes<P>, reinterpret_cast<vf>(_mm256_sqrt_ps(reinterpret_cast<__m256>(a.v[i]))));
}
#undef CONDIFF_LANES_EACH

// Sixty-four lanes (the wide path) and sixteen (the sixteen-block path, normals.cc).
constexpr int kWideParts = lanes::kLanes / kWidth;
using F8 = FloatLanes<kWideParts>;
using I8 = IntLanes<kWideParts>;
using U8 = WordLanes<kWideParts>;
using F2 = FloatLanes<2>;
using I2 = IntLanes<2>;
using U2 = WordLanes<2>;

#pragma GCC pop_options
}  // namespace lanes_avx2

}  // namespace condiff

#undef CONDIFF_LANES
