// MATH.md §7 for one block of up to 16 particles: the kernel is mixture_score_kernel.inc,
// compiled here once per instruction set with that set's exactly rounded fused
// multiply-add (mixture_simd.h; AVX2's vocabulary is mixture_simd_avx2.h): every machine
// computes the same bytes.
#include "mixture_score.h"

#include "mixture_simd.h"
#include "mixture_simd_avx2.h"

namespace condiff {
static_assert(kScoreBlock == 16, "one vf per block row");

namespace dense_avx512 {
#pragma GCC push_options
#pragma GCC target("avx512f")
using namespace simd;
// Accumulators of C⁻¹ d per register block: eight of the 32 zmm registers hide the
// multiply-add latency with room for the operands.
constexpr int kDenseGroup = 8;
CONDIFF_SIMD_INLINE simd::vf madd(simd::vf a, simd::vf b, simd::vf c) { return simd::madd_avx512(a, b, c); }
#include "mixture_score_kernel.inc"
#pragma GCC pop_options
}  // namespace dense_avx512

namespace dense_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
using namespace simd_avx2;
// Six two-register vectors: twelve of the 16 ymm registers, the rest for the operands
// (D = 64, one thread, rows in cache: 2.06 us a row, against 2.28 with four and 2.38 with eight).
constexpr int kDenseGroup = 6;
#include "mixture_score_kernel.inc"
#pragma GCC pop_options
}  // namespace dense_avx2

namespace dense_baseline {
using namespace simd;
constexpr int kDenseGroup = 8;
CONDIFF_SIMD_INLINE simd::vf madd(simd::vf a, simd::vf b, simd::vf c) { return simd::madd_baseline(a, b, c); }
#include "mixture_score_kernel.inc"
}  // namespace dense_baseline

void score_block(const MixtureStep& q, const float* z, int64_t rows, float* out, float* scratch) {
  score_block_on(static_cast<int>(simd::running_isa()), q, z, rows, out, scratch);
}

void score_block_on(int isa, const MixtureStep& q, const float* z, int64_t rows, float* out, float* scratch) {
  switch (static_cast<simd::Isa>(isa)) {
    case simd::Isa::kAvx512:
      dense_avx512::score(q, z, rows, out, scratch);
      return;
    case simd::Isa::kAvx2Fma:
      dense_avx2::score(q, z, rows, out, scratch);
      return;
    default:
      dense_baseline::score(q, z, rows, out, scratch);
      return;
  }
}

}  // namespace condiff
