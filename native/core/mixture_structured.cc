// MATH.md §7 for structured covariances: the formulas are in mixture_structured.h.
//
// Every path is two small matrix products per block of 16 particles (particles in the SIMD
// lanes): one over the components (J dot products with the state) and one over the
// coordinates (a weighted sum of J rows), each register-blocked as gemv_block below. The
// block is transposed in and out by 16 x 16 tiles in registers, since a scalar transpose
// cost about as much as the isotropic path's arithmetic at D = 80.
#include "mixture_structured.h"

#include <cmath>
#include <type_traits>

#include "mixture_simd.h"

namespace condiff {
namespace {

using simd::exp_approx;
using simd::load;
using simd::splat;
using simd::store;
using simd::vf;
using simd::vi;
constexpr int B = kScoreBlock;
static_assert(B == 16, "one vf per block row, 16 x 16 transposes");

// Accumulators per register block: eight vectors (of 32 zmm on AVX-512) hide the
// multiply-add latency (4 cycles at one or two per cycle) with room for the operands.
constexpr int kGroup = 8;

// Exchanges the off-diagonal s x s blocks of rows a and b (b = a + s) of a 16 x 16 tile.
CONDIFF_SIMD_INLINE void exchange(vf& a, vf& b, vi lo, vi hi) {
  const vf x = __builtin_shuffle(a, b, lo), y = __builtin_shuffle(a, b, hi);
  a = x;
  b = y;
}

// Transposes a 16 x 16 tile held as 16 row vectors: the off-diagonal blocks are exchanged
// at sizes 8, 4, 2 and 1 (each step transposes the blocks of the step before).
CONDIFF_SIMD_INLINE void transpose16(vf* r) {
  const vi lo8 = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
  const vi hi8 = {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31};
  const vi lo4 = {0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27};
  const vi hi4 = {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31};
  const vi lo2 = {0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29};
  const vi hi2 = {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31};
  const vi lo1 = {0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30};
  const vi hi1 = {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31};
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i)
    if (!(i & 8)) exchange(r[i], r[i + 8], lo8, hi8);
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i)
    if (!(i & 4)) exchange(r[i], r[i + 4], lo4, hi4);
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i)
    if (!(i & 2)) exchange(r[i], r[i + 2], lo2, hi2);
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i)
    if (!(i & 1)) exchange(r[i], r[i + 1], lo1, hi1);
}

// zt (D x 16) = the block's rows minus the centre, transposed; lanes past `rows` hold
// finite filler (their results are never written).
CONDIFF_SIMD_INLINE void load_block(const float* z, int64_t rows, int64_t d, const float* center, float* zt) {
  int64_t k0 = 0;
  for (; k0 + B <= d; k0 += B) {
    vf r[B];
#pragma GCC unroll 16
    for (int p = 0; p < B; ++p) r[p] = p < rows ? load(z + p * d + k0) : vf{};
    transpose16(r);
#pragma GCC unroll 16
    for (int i = 0; i < B; ++i) store(zt + (k0 + i) * B, r[i] - center[k0 + i]);
  }
  for (; k0 < d; ++k0)
    for (int p = 0; p < B; ++p) zt[k0 * B + p] = p < rows ? z[p * d + k0] - center[k0] : 0.0f;
}

// out (rows x D) = the first `rows` lanes of st (D x 16), transposed back.
CONDIFF_SIMD_INLINE void store_block(const float* st, int64_t rows, int64_t d, float* out) {
  int64_t k0 = 0;
  for (; k0 + B <= d; k0 += B) {
    vf r[B];
#pragma GCC unroll 16
    for (int i = 0; i < B; ++i) r[i] = load(st + (k0 + i) * B);
    transpose16(r);
#pragma GCC unroll 16
    for (int p = 0; p < B; ++p)
      if (p < rows) store(out + p * d + k0, r[p]);
  }
  if (k0 < d)
    for (int64_t p = 0; p < rows; ++p)
      for (int64_t k = k0; k < d; ++k) out[p * d + k] = st[k * B + p];
}

// acc[g] = Σ_{i<n} a[i lda + g] x_i for g < G: G columns of a (row-major, lda apart)
// against n lane vectors x_i. G accumulators stay in registers; each load of x_i serves G
// multiply-adds with broadcast operands.
template <int G>
CONDIFF_SIMD_INLINE void gemv_block(const float* a, int64_t lda, int64_t n, const float* x, vf* acc) {
  vf s[G];
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) s[g] = vf{};
  for (int64_t i = 0; i < n; ++i) {
    const vf xi = load(x + i * B);
    const float* row = a + i * lda;
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) s[g] += row[g] * xi;
  }
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) acc[g] = s[g];
}

// Splits [0, n) into ceil(n / kGroup) groups of nearly equal size (J = 25: 7, 6, 6, 6, so
// no group is left with too few accumulators to hide the latency) and calls
// f(std::integral_constant<int, size>, first) for each.
template <typename F>
CONDIFF_SIMD_INLINE void for_groups(int64_t n, F&& f) {
  const int64_t m = (n + kGroup - 1) / kGroup;
  int64_t c0 = 0;
  for (int64_t g = 0; g < m; ++g) {
    const int64_t size = n / m + (g < n % m ? 1 : 0);
    switch (size) {
      case 8: f(std::integral_constant<int, 8>{}, c0); break;
      case 7: f(std::integral_constant<int, 7>{}, c0); break;
      case 6: f(std::integral_constant<int, 6>{}, c0); break;
      case 5: f(std::integral_constant<int, 5>{}, c0); break;
      case 4: f(std::integral_constant<int, 4>{}, c0); break;
      case 3: f(std::integral_constant<int, 3>{}, c0); break;
      case 2: f(std::integral_constant<int, 2>{}, c0); break;
      default: f(std::integral_constant<int, 1>{}, c0); break;
    }
    c0 += size;
  }
}

// log r_j (J lane vectors, in place) → r_j, normalised with the max trick (MATH.md §4).
CONDIFF_SIMD_INLINE void normalise(float* lp, int64_t jn) {
  vf mx = load(lp);
  for (int64_t j = 1; j < jn; ++j) {
    const vf v = load(lp + j * B);
    mx = v > mx ? v : mx;
  }
  vf total = {};
  for (int64_t j = 0; j < jn; ++j) {
    const vf e = exp_approx(load(lp + j * B) - mx);
    store(lp + j * B, e);
    total += e;
  }
  const vf inv_total = 1.0f / total;
  for (int64_t j = 0; j < jn; ++j) store(lp + j * B, load(lp + j * B) * inv_total);
}

// Scratch: zt (D vf, the centred block; the score overwrites it), u (D vf), lp (J vf).

__attribute__((target_clones("avx512f", "avx2", "default"))) void score_isotropic(const StructuredStep& q,
                                                                                    const float* z, int64_t rows,
                                                                                    float* out, float* scratch) {
  const int64_t d = q.dim, jn = q.components;
  float* zt = scratch;
  float* lp = zt + 2 * d * B;
  load_block(z, rows, d, q.center.data(), zt);
  vf h = {};
  for (int64_t k = 0; k < d; ++k) h += load(zt + k * B) * load(zt + k * B);
  h *= 0.5f;
  for_groups(jn, [&](auto size, int64_t j0) __attribute__((always_inline)) {
    constexpr int G = decltype(size)::value;
    vf e[G];
    gemv_block<G>(q.mean_t.data() + j0, jn, d, zt, e);
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) store(lp + (j0 + g) * B, q.bias[j0 + g] + q.inv_c[j0 + g] * (e[g] - h));
  });
  normalise(lp, jn);
  vf total_w = {};
  for (int64_t j = 0; j < jn; ++j) {
    const vf w = load(lp + j * B) * q.inv_c[j];
    store(lp + j * B, w);
    total_w += w;
  }
  for_groups(d, [&](auto size, int64_t k0) __attribute__((always_inline)) {
    constexpr int G = decltype(size)::value;
    vf s[G];
    gemv_block<G>(q.mean.data() + k0, d, jn, lp, s);
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) store(zt + (k0 + g) * B, s[g] - total_w * load(zt + (k0 + g) * B));
  });
  store_block(zt, rows, d, out);
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void score_shared(const StructuredStep& q, const float* z,
                                                                                 int64_t rows, float* out,
                                                                                 float* scratch) {
  const int64_t d = q.dim, jn = q.components;
  float* zt = scratch;
  float* u = zt + d * B;
  float* lp = u + d * B;
  load_block(z, rows, d, q.center.data(), zt);
  const float* prec = q.precision.data();
  if (q.diagonal_precision) {
    for (int64_t k = 0; k < d; ++k) store(u + k * B, prec[k] * load(zt + k * B));
  } else {
    // u = C⁻¹ z': C⁻¹ is symmetric, so its columns are its rows.
    for_groups(d, [&](auto size, int64_t k0) __attribute__((always_inline)) {
      constexpr int G = decltype(size)::value;
      vf acc[G];
      gemv_block<G>(prec + k0, d, d, zt, acc);
#pragma GCC unroll 8
      for (int g = 0; g < G; ++g) store(u + (k0 + g) * B, acc[g]);
    });
  }
  vf h = {};
  for (int64_t k = 0; k < d; ++k) h += load(zt + k * B) * load(u + k * B);
  h *= 0.5f;
  for_groups(jn, [&](auto size, int64_t j0) __attribute__((always_inline)) {
    constexpr int G = decltype(size)::value;
    vf e[G];
    gemv_block<G>(q.mean_t.data() + j0, jn, d, zt, e);
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) store(lp + (j0 + g) * B, q.bias[j0 + g] + (e[g] - h));
  });
  normalise(lp, jn);
  for_groups(d, [&](auto size, int64_t k0) __attribute__((always_inline)) {
    constexpr int G = decltype(size)::value;
    vf s[G];
    gemv_block<G>(q.mean.data() + k0, d, jn, lp, s);
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) store(zt + (k0 + g) * B, s[g] - load(u + (k0 + g) * B));
  });
  store_block(zt, rows, d, out);
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void score_diagonal(const StructuredStep& q,
                                                                                   const float* z, int64_t rows,
                                                                                   float* out, float* scratch) {
  const int64_t d = q.dim, jn = q.components;
  float* zt = scratch;
  float* lp = zt + 2 * d * B;
  load_block(z, rows, d, q.center.data(), zt);
  // Σ_k (√p_jk z'_k − √p_jk a_jk)²: two multiply-adds per term and no cancellation.
  for_groups(jn, [&](auto size, int64_t j0) __attribute__((always_inline)) {
    constexpr int G = decltype(size)::value;
    vf acc[G];
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) acc[g] = vf{};
    for (int64_t k = 0; k < d; ++k) {
      const vf x = load(zt + k * B);
      const float* root = q.root_t.data() + k * jn + j0;
      const float* root_mean = q.root_mean_t.data() + k * jn + j0;
#pragma GCC unroll 8
      for (int g = 0; g < G; ++g) {
        const vf t = root[g] * x - root_mean[g];
        acc[g] += t * t;
      }
    }
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) store(lp + (j0 + g) * B, q.bias[j0 + g] - 0.5f * acc[g]);
  });
  normalise(lp, jn);
  for_groups(d, [&](auto size, int64_t k0) __attribute__((always_inline)) {
    constexpr int G = decltype(size)::value;
    vf p[G], pm[G];
    gemv_block<G>(q.precision.data() + k0, d, jn, lp, p);
    gemv_block<G>(q.mean.data() + k0, d, jn, lp, pm);
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) store(zt + (k0 + g) * B, pm[g] - load(zt + (k0 + g) * B) * p[g]);
  });
  store_block(zt, rows, d, out);
}

}  // namespace

void score_block_structured(const StructuredStep& q, const float* z, int64_t rows, float* out, float* scratch) {
  switch (q.path) {
    case ScorePath::kIsotropic:
      score_isotropic(q, z, rows, out, scratch);
      return;
    case ScorePath::kShared:
      score_shared(q, z, rows, out, scratch);
      return;
    default:
      score_diagonal(q, z, rows, out, scratch);
      return;
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
