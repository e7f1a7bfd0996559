#include "subspace.h"

#include <algorithm>
#include <vector>

#include "parallel.h"

namespace condiff {

namespace {

// Rows per worker task: about 16k multiply-adds.
int64_t grain(const PinnedDirections& v) { return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, v.dim * v.count)); }

constexpr int kLanes = 8;

// c_j = Σ_k vt[index_j, k] x_k as kLanes partial sums (coordinate k into partial k mod kLanes,
// in increasing k), then added in lane order: a fixed order that every clone's vectors follow
// exactly, since nothing here may be reassociated.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off"))) void project_one(
    const PinnedDirections& v, const float* x, double* c) {
  const int64_t dim = v.dim;
  for (int64_t j = 0; j < v.count; ++j) {
    const double* row = v.vt + v.index[j] * dim;
    double part[kLanes] = {};
    int64_t k = 0;
    for (; k + kLanes <= dim; k += kLanes)
      for (int l = 0; l < kLanes; ++l) part[l] += row[k + l] * static_cast<double>(x[k + l]);
    for (int l = 0; k + l < dim; ++l) part[l] += row[k + l] * static_cast<double>(x[k + l]);
    double sum = 0.0;
    for (int l = 0; l < kLanes; ++l) sum += part[l];
    c[j] = sum;
  }
}

// acc (D) = x + Σ_j vt[index_j] delta_j, in order j = 0 .. n−1 per coordinate.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off"))) void lift_one(
    const PinnedDirections& v, const double* delta, float* x, double* acc) {
  for (int64_t k = 0; k < v.dim; ++k) acc[k] = x[k];
  for (int64_t j = 0; j < v.count; ++j) {
    const double* row = v.vt + v.index[j] * v.dim;
    const double d = delta[j];
    for (int64_t k = 0; k < v.dim; ++k) acc[k] += row[k] * d;
  }
  for (int64_t k = 0; k < v.dim; ++k) x[k] = static_cast<float>(acc[k]);
}

}  // namespace

void project_rows(const PinnedDirections& v, const float* x, int64_t rows, double* out, Threads threads) {
  if (v.count == 0) return;
  parallel_for(rows, threads, grain(v), [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; ++r) project_one(v, x + r * v.dim, out + r * v.count);
  });
}

__attribute__((optimize("fp-contract=off"))) void subspace_log_weights(const PinnedDirections& v, const float* mu,
                                                                       int64_t rows, int64_t particles,
                                                                       const float* targets, double variance,
                                                                       double constant, double* increment,
                                                                       Threads threads) {
  parallel_for(rows, threads, grain(v), [&](int64_t b, int64_t e, int) {
    std::vector<double> c(static_cast<size_t>(v.count));
    for (int64_t r = b; r < e; ++r) {
      project_one(v, mu + r * v.dim, c.data());
      const float* y = targets + (r / particles) * v.count;
      double quad = 0.0;
      for (int64_t j = 0; j < v.count; ++j) {
        const double d = static_cast<double>(y[j]) - c[j];
        quad += d * d;
      }
      increment[r] = constant - quad / (2.0 * variance);
    }
  });
}

__attribute__((optimize("fp-contract=off"))) void pin_rows(const PinnedDirections& v, float* z, int64_t rows,
                                                           int64_t particles, const float* targets, Threads threads) {
  if (v.count == 0) return;
  parallel_for(rows, threads, grain(v), [&](int64_t b, int64_t e, int) {
    std::vector<double> delta(static_cast<size_t>(v.count)), acc(static_cast<size_t>(v.dim));
    for (int64_t r = b; r < e; ++r) {
      float* x = z + r * v.dim;
      project_one(v, x, delta.data());
      const float* y = targets + (r / particles) * v.count;
      for (int64_t j = 0; j < v.count; ++j) delta[j] = static_cast<double>(y[j]) - delta[j];
      lift_one(v, delta.data(), x, acc.data());
    }
  });
}

}  // namespace condiff
