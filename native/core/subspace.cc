#include "subspace.h"

#include <algorithm>
#include <vector>

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

// Eight doubles; GCC splits it into the clone's registers (one zmm, two ymm, four xmm).
typedef double vd __attribute__((vector_size(64), aligned(8)));
constexpr int kChunk = 32;  // coordinates held in four vd accumulators across all directions

// x + Σ_j vt[index_j] delta_j, summed over j = 0 .. n−1 in order per coordinate, kChunk
// coordinates at a time in registers; rounded to float once.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off"))) void lift_one(
    const PinnedDirections& v, const double* delta, float* x) {
  int64_t k0 = 0;
  for (; k0 + kChunk <= v.dim; k0 += kChunk) {
    vd a[4];
    for (int q = 0; q < 4; ++q)
      for (int l = 0; l < 8; ++l) a[q][l] = x[k0 + 8 * q + l];
    for (int64_t j = 0; j < v.count; ++j) {
      const double* row = v.vt + v.index[j] * v.dim + k0;
      const double d = delta[j];
      for (int q = 0; q < 4; ++q) {
        vd r;
        __builtin_memcpy(&r, row + 8 * q, sizeof r);
        a[q] += r * d;
      }
    }
    for (int q = 0; q < 4; ++q)
      for (int l = 0; l < 8; ++l) x[k0 + 8 * q + l] = static_cast<float>(a[q][l]);
  }
  for (int64_t k = k0; k < v.dim; ++k) {
    double a = x[k];
    for (int64_t j = 0; j < v.count; ++j) a += v.vt[v.index[j] * v.dim + k] * delta[j];
    x[k] = static_cast<float>(a);
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
