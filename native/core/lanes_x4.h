// Sixty-four float or int32 lanes held as four sixteen-lane vectors, for the AVX-512 normal
// generator (normals.cc). Each operation is written as four independent instructions, one
// per vector, so the long dependency chains of the Box–Muller polynomials (approx_math.h)
// run four at a time instead of one after another: sixteen lanes at a time, the generator
// waited on each chain's latency (measured on a Xeon: 1.5x the normals per second with four).
// approx_math.h's templates are instantiated on these types and find the overloads below by
// argument-dependent lookup; lane for lane they compute exactly what the scalar form does,
// so the bits are the same (MATH.md §6).
//
// The operations are compiled for AVX-512 and not marked always_inline: approx_math.h's
// templates, instantiated on these types, are compiled for the default target, which may
// not inline AVX-512 functions. Their only caller, box_muller_x4 (normals.cc), is an AVX-512
// function marked `flatten`, which inlines the templates and these operations into itself.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#pragma GCC push_options
#pragma GCC target("avx512f")

namespace condiff {
namespace lanes {

constexpr int kParts = 4;
constexpr int kWidth = 16;
constexpr int kLanes = kParts * kWidth;

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
typedef uint32_t vu __attribute__((vector_size(64)));

struct F4 {
  vf v[kParts];
};
struct I4 {
  vi v[kParts];
};
struct U4 {
  vu v[kParts];
};
// Lane masks (all bits set or clear), as vector comparisons give them.
struct M4 {
  vi v[kParts];
};

#define CONDIFF_X4 inline
// r.v[i] = expr for each part i, as four statements the compiler keeps side by side.
#define CONDIFF_X4_EACH(R, expr)         \
  R r;                                   \
  _Pragma("GCC unroll 4") for (int i = 0; i < kParts; ++i) r.v[i] = (expr); \
  return r

#define CONDIFF_X4_ARITH(T, S, op)                                                           \
  CONDIFF_X4 T operator op(T a, T b) { CONDIFF_X4_EACH(T, a.v[i] op b.v[i]); }              \
  CONDIFF_X4 T operator op(T a, S b) { CONDIFF_X4_EACH(T, a.v[i] op b); }                    \
  CONDIFF_X4 T operator op(S a, T b) { CONDIFF_X4_EACH(T, a op b.v[i]); }

CONDIFF_X4_ARITH(F4, float, +)
CONDIFF_X4_ARITH(F4, float, -)
CONDIFF_X4_ARITH(F4, float, *)
CONDIFF_X4_ARITH(I4, int32_t, +)
CONDIFF_X4_ARITH(I4, int32_t, -)
CONDIFF_X4_ARITH(I4, int32_t, &)
CONDIFF_X4_ARITH(I4, int32_t, |)
CONDIFF_X4_ARITH(U4, uint32_t, +)
#undef CONDIFF_X4_ARITH

CONDIFF_X4 I4 operator>>(I4 a, int s) { CONDIFF_X4_EACH(I4, a.v[i] >> s); }
CONDIFF_X4 U4 operator>>(U4 a, int s) { CONDIFF_X4_EACH(U4, a.v[i] >> s); }
CONDIFF_X4 M4 operator<(F4 a, F4 b) { CONDIFF_X4_EACH(M4, a.v[i] < b.v[i]); }
CONDIFF_X4 M4 operator==(I4 a, int32_t b) { CONDIFF_X4_EACH(M4, a.v[i] == b); }
CONDIFF_X4 M4 operator!=(I4 a, int32_t b) { CONDIFF_X4_EACH(M4, a.v[i] != b); }
CONDIFF_X4 M4 operator>=(I4 a, int32_t b) { CONDIFF_X4_EACH(M4, a.v[i] >= b); }
CONDIFF_X4 M4 operator|(M4 a, M4 b) { CONDIFF_X4_EACH(M4, a.v[i] | b.v[i]); }

CONDIFF_X4 F4 select(M4 m, F4 a, F4 b) { CONDIFF_X4_EACH(F4, m.v[i] ? a.v[i] : b.v[i]); }
CONDIFF_X4 I4 select(M4 m, I4 a, I4 b) { CONDIFF_X4_EACH(I4, m.v[i] ? a.v[i] : b.v[i]); }
CONDIFF_X4 F4 to_float(I4 a) { CONDIFF_X4_EACH(F4, __builtin_convertvector(a.v[i], vf)); }
CONDIFF_X4 I4 to_int(F4 a) { CONDIFF_X4_EACH(I4, __builtin_convertvector(a.v[i], vi)); }
CONDIFF_X4 I4 to_signed(U4 a) { CONDIFF_X4_EACH(I4, reinterpret_cast<vi>(a.v[i])); }
CONDIFF_X4 F4 square_root(F4 a) {
  CONDIFF_X4_EACH(F4, reinterpret_cast<vf>(_mm512_maskz_sqrt_ps(0xFFFF, reinterpret_cast<__m512>(a.v[i]))));
}

#undef CONDIFF_X4_EACH

CONDIFF_X4 U4 load_u4(const uint32_t* p) {
  U4 r;
  std::memcpy(&r, p, sizeof r);
  return r;
}
CONDIFF_X4 void store_f4(float* p, F4 a) { std::memcpy(p, &a, sizeof a); }

}  // namespace lanes
}  // namespace condiff

#pragma GCC pop_options
