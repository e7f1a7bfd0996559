#include "mixture_score.h"

#include <cstring>

namespace condiff {
namespace {

// Sixteen float lanes, one particle each. GCC/Clang lower this per target clone:
// one zmm register on AVX-512, two ymm on AVX2, four xmm on baseline x86-64.
typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
static_assert(kScoreBlock == 16, "one vf per block row");

inline vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline vf splat(float x) { return vf{} + x; }

// exp(x) for x <= 0, branch-free: range reduction by ln 2 and the degree-6 polynomial
// of Cephes' expf (S. Moshier, Cephes Math Library, expf.c: the constants below).
// Rounds n to nearest with the 1.5 * 2^23 trick; relative error ~2 ulp on [-87, 0].
inline vf exp_approx(vf x) {
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
