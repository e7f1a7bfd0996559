#include "subspace.h"

#include <algorithm>
#include <vector>

#include "isa.h"
#include "parallel.h"

namespace condiff {

namespace {

// Rows per worker task: about 16k multiply-adds.
int64_t grain(const PinnedDirections& v) { return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, v.dim * v.count)); }

constexpr int kLanes = 8;  // directions per accumulator (one 512-bit vector of doubles)
constexpr int kRows = 4;   // rows per pass: four independent sums hide the add latency

// The selected directions transposed and padded to whole accumulators: t[k * width + j] =
// vt[index_j, k] for j < n, 0 for n <= j < width.
struct Transposed {
  int64_t width = 0;
  std::vector<double> t;
};
Transposed transposed(const PinnedDirections& v) {
  Transposed s;
  s.width = (v.count + kLanes - 1) / kLanes * kLanes;
  s.t.assign(static_cast<size_t>(v.dim * s.width), 0.0);
  for (int64_t j = 0; j < v.count; ++j)
    for (int64_t k = 0; k < v.dim; ++k) s.t[k * s.width + j] = v.vt[v.index[j] * v.dim + k];
  return s;
}

// c (rows x n) for up to kRows rows of x: each c_j = Σ_k vt[index_j, k] x_k summed in order
// k = 0 .. D−1 (a fixed order whatever the blocking, the clone or the thread); the rows and the
// directions only share the loads.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off"))) void project_block(
    const Transposed& s, int64_t dim, int64_t n, const float* x, int64_t rows, double* c) {
  const float* xr[kRows];
  for (int r = 0; r < kRows; ++r) xr[r] = x + (r < rows ? r : 0) * dim;
  for (int64_t j0 = 0; j0 < s.width; j0 += kLanes) {
    double acc[kRows][kLanes] = {};
    for (int64_t k = 0; k < dim; ++k) {
      const double* col = s.t.data() + k * s.width + j0;
      for (int r = 0; r < kRows; ++r) {
        const double xk = xr[r][k];
        for (int l = 0; l < kLanes; ++l) acc[r][l] += col[l] * xk;
      }
    }
    for (int64_t r = 0; r < rows; ++r)
      for (int l = 0; l < kLanes && j0 + l < n; ++l) c[r * n + j0 + l] = acc[r][l];
  }
}

// Projections of rows [b, e) of x into c (rows x n, from row b).
void project_range(const Transposed& s, const PinnedDirections& v, const float* x, int64_t b, int64_t e, double* c) {
  for (int64_t r = b; r < e; r += kRows)
    project_block(s, v.dim, v.count, x + r * v.dim, std::min<int64_t>(kRows, e - r), c + (r - b) * v.count);
}

// x + Σ_j vt[index_j] delta_j, summed over j = 0 .. n−1 in order per coordinate, K vectors V
// of W doubles (K W coordinates) at a time in registers; rounded to float once. The blocking
// never changes a sum's order, so every set gives the same bytes. Each set has its own width:
// GCC 12 keeps a vector wider than the set's registers in memory (the AVX2 clone of a 64-byte
// form took 6x the AVX-512 one's time, a throwaway loop over pin_rows, D = 800).
template <typename V, int K>
__attribute__((always_inline)) inline void lift_in_chunks(const PinnedDirections& v, const double* delta, float* x) {
  constexpr int W = static_cast<int>(sizeof(V) / sizeof(double)), kChunk = K * W;
  int64_t k0 = 0;
  for (; k0 + kChunk <= v.dim; k0 += kChunk) {
    V a[K];
    for (int q = 0; q < K; ++q)
      for (int l = 0; l < W; ++l) a[q][l] = x[k0 + W * q + l];
    for (int64_t j = 0; j < v.count; ++j) {
      const double* row = v.vt + v.index[j] * v.dim + k0;
      const double d = delta[j];
      for (int q = 0; q < K; ++q) {
        V r;
        __builtin_memcpy(&r, row + W * q, sizeof r);
        a[q] += r * d;
      }
    }
    for (int q = 0; q < K; ++q)
      for (int l = 0; l < W; ++l) x[k0 + W * q + l] = static_cast<float>(a[q][l]);
  }
  for (int64_t k = k0; k < v.dim; ++k) {
    double a = x[k];
    for (int64_t j = 0; j < v.count; ++j) a += v.vt[v.index[j] * v.dim + k] * delta[j];
    x[k] = static_cast<float>(a);
  }
}

typedef double vd8 __attribute__((vector_size(64), aligned(8)));
typedef double vd4 __attribute__((vector_size(32), aligned(8)));
typedef double vd2 __attribute__((vector_size(16), aligned(8)));

__attribute__((target("avx512f"), optimize("fp-contract=off"))) void lift_one_avx512(const PinnedDirections& v,
                                                                                    const double* delta, float* x) {
  lift_in_chunks<vd8, 4>(v, delta, x);
}
__attribute__((target("avx2"), optimize("fp-contract=off"))) void lift_one_avx2(const PinnedDirections& v,
                                                                                const double* delta, float* x) {
  lift_in_chunks<vd4, 8>(v, delta, x);
}
__attribute__((optimize("fp-contract=off"))) void lift_one_baseline(const PinnedDirections& v, const double* delta,
                                                                   float* x) {
  lift_in_chunks<vd2, 8>(v, delta, x);
}

// On the running set (isa.h), so CONDIFF_MAX_ISA reaches it.
void lift_one(const PinnedDirections& v, const double* delta, float* x) {
  switch (running_isa()) {
    case Isa::kAvx512:
      lift_one_avx512(v, delta, x);
      return;
    case Isa::kAvx2Fma:
      lift_one_avx2(v, delta, x);
      return;
    default:
      lift_one_baseline(v, delta, x);
      return;
  }
}

}  // namespace

void project_rows(const PinnedDirections& v, const float* x, int64_t rows, double* out, Threads threads) {
  if (v.count == 0) return;
  const Transposed s = transposed(v);
  parallel_for(rows, threads, grain(v), [&](int64_t b, int64_t e, int) { project_range(s, v, x, b, e, out + b * v.count); });
}

__attribute__((optimize("fp-contract=off"))) void subspace_log_weights(const PinnedDirections& v, const float* mu,
                                                                       int64_t rows, int64_t particles,
                                                                       const float* targets, double variance,
                                                                       double constant, double* increment,
                                                                       Threads threads) {
  const Transposed s = transposed(v);
  parallel_for(rows, threads, grain(v), [&](int64_t b, int64_t e, int) {
    std::vector<double> c(static_cast<size_t>((e - b) * v.count));
    project_range(s, v, mu, b, e, c.data());
    for (int64_t r = b; r < e; ++r) {
      const float* y = targets + (r / particles) * v.count;
      const double* cr = c.data() + (r - b) * v.count;
      double quad = 0.0;
      for (int64_t j = 0; j < v.count; ++j) {
        const double d = static_cast<double>(y[j]) - cr[j];
        quad += d * d;
      }
      increment[r] = constant - quad / (2.0 * variance);
    }
  });
}

__attribute__((optimize("fp-contract=off"))) void pin_rows(const PinnedDirections& v, float* z, int64_t rows,
                                                           int64_t particles, const float* targets, Threads threads) {
  if (v.count == 0) return;
  const Transposed s = transposed(v);
  parallel_for(rows, threads, grain(v), [&](int64_t b, int64_t e, int) {
    std::vector<double> c(static_cast<size_t>((e - b) * v.count));
    project_range(s, v, z, b, e, c.data());
    for (int64_t r = b; r < e; ++r) {
      double* delta = c.data() + (r - b) * v.count;
      const float* y = targets + (r / particles) * v.count;
      for (int64_t j = 0; j < v.count; ++j) delta[j] = static_cast<double>(y[j]) - delta[j];
      lift_one(v, delta, z + r * v.dim);
    }
  });
}

}  // namespace condiff
