#include "mixture_score.h"

#include "mixture_simd.h"

namespace condiff {
namespace {

using simd::exp_approx;
using simd::load;
using simd::splat;
using simd::store;
using simd::vf;
static_assert(kScoreBlock == 16, "one vf per block row");

}  // namespace

// MATH.md §7 for one block of up to 16 particles. Scratch layout: zt (D vf: the block
// transposed), d (D vf: z - alpha m_j), g (J x D vf: C_j^{-1} d), lp (J vf).
__attribute__((target_clones("avx512f", "avx2", "default"))) void score_block(const MixtureStep& q, const float* z,
                                                                                int64_t rows, float* out,
                                                                                float* scratch) {
  constexpr int B = kScoreBlock;
  const int64_t D = q.dim, J = q.components;
  float* zt = scratch;
  float* d = zt + D * B;
  float* g = d + D * B;
  float* lp = g + J * D * B;
  for (int64_t i = 0; i < D; ++i)
    for (int p = 0; p < B; ++p) zt[i * B + p] = p < rows ? z[p * D + i] : 0.0f;
  for (int64_t j = 0; j < J; ++j) {
    const float* am = q.scaled_mean.data() + j * D;
    float* gj = g + j * D * B;
    for (int64_t i = 0; i < D; ++i) store(d + i * B, load(zt + i * B) - am[i]);
    if (q.diagonal) {
      const float* inv_c = q.precision.data() + j * D;
      for (int64_t k = 0; k < D; ++k) store(gj + k * B, load(d + k * B) * inv_c[k]);
    } else {
      // g = C^{-1} d, eight output rows at a time: eight accumulators stay in registers
      // and share each load of d (register blocking).
      const float* prec = q.precision.data() + j * D * D;
      int64_t k = 0;
      for (; k + 8 <= D; k += 8) {
        vf a0 = {}, a1 = {}, a2 = {}, a3 = {}, a4 = {}, a5 = {}, a6 = {}, a7 = {};
        const float* p0 = prec + k * D;
        for (int64_t i = 0; i < D; ++i) {
          const vf di = load(d + i * B);
          a0 += p0[i] * di;
          a1 += p0[D + i] * di;
          a2 += p0[2 * D + i] * di;
          a3 += p0[3 * D + i] * di;
          a4 += p0[4 * D + i] * di;
          a5 += p0[5 * D + i] * di;
          a6 += p0[6 * D + i] * di;
          a7 += p0[7 * D + i] * di;
        }
        store(gj + (k + 0) * B, a0);
        store(gj + (k + 1) * B, a1);
        store(gj + (k + 2) * B, a2);
        store(gj + (k + 3) * B, a3);
        store(gj + (k + 4) * B, a4);
        store(gj + (k + 5) * B, a5);
        store(gj + (k + 6) * B, a6);
        store(gj + (k + 7) * B, a7);
      }
      for (; k < D; ++k) {
        vf acc = {};
        for (int64_t i = 0; i < D; ++i) acc += prec[k * D + i] * load(d + i * B);
        store(gj + k * B, acc);
      }
    }
    vf quad = {};
    for (int64_t k = 0; k < D; ++k) quad += load(d + k * B) * load(gj + k * B);
    store(lp + j * B, q.log_norm[j] - 0.5f * quad);
  }
  // Responsibilities r_j ∝ exp(lp_j), normalised with the max trick (MATH.md §4).
  vf mx = load(lp);
  for (int64_t j = 1; j < J; ++j) {
    const vf v = load(lp + j * B);
    mx = v > mx ? v : mx;
  }
  vf total = {};
  for (int64_t j = 0; j < J; ++j) {
    const vf e = exp_approx(load(lp + j * B) - mx);
    store(lp + j * B, e);
    total += e;
  }
  const vf inv_total = 1.0f / total;
  // s = -sum_j r_j g_j, accumulated into d (reused), then written row-major.
  for (int64_t k = 0; k < D; ++k) store(d + k * B, vf{});
  for (int64_t j = 0; j < J; ++j) {
    const vf r = load(lp + j * B) * inv_total;
    const float* gj = g + j * D * B;
    for (int64_t k = 0; k < D; ++k) store(d + k * B, load(d + k * B) - r * load(gj + k * B));
  }
  for (int p = 0; p < rows; ++p)
    for (int64_t k = 0; k < D; ++k) out[p * D + k] = d[k * B + p];
}

}  // namespace condiff
