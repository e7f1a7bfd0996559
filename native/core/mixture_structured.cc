// MATH.md §7 for structured covariances: the formulas are in mixture_structured.h, the
// kernels in mixture_structured_kernels.inc, compiled here once per instruction set with
// that set's exactly rounded fused multiply-add (mixture_simd.h; AVX2's vocabulary is
// mixture_simd_avx2.h): every machine computes the same bytes, each at the speed its FMA
// units allow.
#include "mixture_structured.h"

#include <cmath>
#include <type_traits>

#include "mixture_simd.h"
#include "mixture_simd_avx2.h"

namespace condiff {

namespace structured_avx512 {
#pragma GCC push_options
#pragma GCC target("avx512f")
using namespace simd;
// Accumulators per register block: eight vectors (of 32 zmm) hide the multiply-add latency
// (4 cycles at one or two per cycle) with room for the operands.
constexpr int kGroup = 8;
CONDIFF_SIMD_INLINE simd::vf madd(simd::vf a, simd::vf b, simd::vf c) { return simd::madd_avx512(a, b, c); }
CONDIFF_SIMD_INLINE simd::vf msub(simd::vf a, simd::vf b, simd::vf c) { return simd::msub_avx512(a, b, c); }
CONDIFF_SIMD_INLINE simd::vf load_first(const float* p, int64_t n) { return simd::load_first_avx512(p, n); }
CONDIFF_SIMD_INLINE void store_first(float* p, simd::vf v, int64_t n) { simd::store_first_avx512(p, v, n); }
// The second product by rows (StructuredStep::row_combine) on AVX-512 only: the other sets
// give the same bytes by lanes, and their by-rows clones tripled this file's compile time.
#define CONDIFF_ROW_COMBINE 1
#include "mixture_structured_kernels.inc"
#undef CONDIFF_ROW_COMBINE
#pragma GCC pop_options
}  // namespace structured_avx512

namespace structured_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
using namespace simd_avx2;
// Six two-register vectors: twelve of the 16 ymm registers, the rest for the operands
// (isotropic D = 80, one thread, rows in cache: 100 ns a row, against 108 with four and 112
// with eight).
constexpr int kGroup = 6;
#define CONDIFF_ROW_COMBINE 0
#include "mixture_structured_kernels.inc"
#undef CONDIFF_ROW_COMBINE
#pragma GCC pop_options
}  // namespace structured_avx2

namespace structured_baseline {
using namespace simd;
constexpr int kGroup = 8;
CONDIFF_SIMD_INLINE simd::vf madd(simd::vf a, simd::vf b, simd::vf c) { return simd::madd_baseline(a, b, c); }
CONDIFF_SIMD_INLINE simd::vf msub(simd::vf a, simd::vf b, simd::vf c) { return simd::msub_baseline(a, b, c); }
CONDIFF_SIMD_INLINE simd::vf load_first(const float* p, int64_t n) { return simd::load_first_portable(p, n); }
CONDIFF_SIMD_INLINE void store_first(float* p, simd::vf v, int64_t n) { simd::store_first_portable(p, v, n); }
#define CONDIFF_ROW_COMBINE 0
#include "mixture_structured_kernels.inc"
#undef CONDIFF_ROW_COMBINE
}  // namespace structured_baseline

bool score_block_structured(const StructuredStep& q, const float* z, int64_t rows, float* out, float* scratch) {
  return score_block_structured_on(static_cast<int>(simd::running_isa()), q, z, rows, out, scratch);
}

bool score_block_structured_on(int isa, const StructuredStep& q, const float* z, int64_t rows, float* out,
                               float* scratch) {
  switch (static_cast<simd::Isa>(isa)) {
    case simd::Isa::kAvx512:
      return structured_avx512::score(q, z, rows, out, scratch);
    case simd::Isa::kAvx2Fma:
      return structured_avx2::score(q, z, rows, out, scratch);
    default:
      return structured_baseline::score(q, z, rows, out, scratch);
  }
}

bool score_pair_structured(const StructuredStep& q, const float* z, int64_t rows, float* out, float* scratch) {
  return score_pair_structured_on(static_cast<int>(simd::running_isa()), q, z, rows, out, scratch);
}

bool score_pair_structured_on(int isa, const StructuredStep& q, const float* z, int64_t rows, float* out,
                              float* scratch) {
  switch (static_cast<simd::Isa>(isa)) {
    case simd::Isa::kAvx512:
      return structured_avx512::score_pair(q, z, rows, out, scratch);
    case simd::Isa::kAvx2Fma:
      return structured_avx2::score_pair(q, z, rows, out, scratch);
    default:
      return structured_baseline::score_pair(q, z, rows, out, scratch);
  }
}

int64_t multiply_adds_per_row(ScorePath path, int64_t d, int64_t jn, bool diagonal_precision) {
  switch (path) {
    case ScorePath::kIsotropic:
      return 2 * jn * d;
    case ScorePath::kShared:
      return (diagonal_precision ? d : d * d) + 2 * jn * d;
    case ScorePath::kDiagonal:
      return 4 * jn * d;
    default:
      return jn * d * d;
  }
}

}  // namespace condiff
