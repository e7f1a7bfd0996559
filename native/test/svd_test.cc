// native/core/svd.h: the thin SVD of small dense matrices (docs/MATH.md §8). A = U S V^T to
// rounding, orthonormal U and V, singular values descending and equal to known ones, the rank
// cutoff s_i > 1e-12 s_max on repeated and zero rows, wide, tall and square shapes.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "check.h"
#include "svd.h"

namespace {

CheckCounts counts;

// A deterministic pseudo-random matrix (test input only).
std::vector<double> matrix(int64_t rows, int64_t cols, uint32_t seed) {
  std::vector<double> a(static_cast<size_t>(rows * cols));
  for (double& x : a) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<double>(seed >> 8) / 16777216.0 - 0.5;
  }
  return a;
}

void check_factorisation(const std::vector<double>& a, int64_t rows, int64_t cols, int64_t rank) {
  const condiff::ThinSvd d = condiff::thin_svd(a.data(), rows, cols);
  CONDIFF_CHECK(counts, d.converged, "%lld x %lld did not converge", static_cast<long long>(rows), static_cast<long long>(cols));
  CONDIFF_CHECK(counts, d.rank == rank, "rank %lld, expected %lld", static_cast<long long>(d.rank), static_cast<long long>(rank));
  const int64_t r = d.rank;
  double worst = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < r; ++k) acc += d.u[i * r + k] * d.s[k] * d.vt[k * cols + j];
      worst = std::fmax(worst, std::fabs(acc - a[i * cols + j]));
    }
  }
  CONDIFF_CHECK(counts, worst < 1e-13, "|U S V^T - A| = %g", worst);
  for (int64_t k = 0; k < r; ++k) {
    if (k > 0) CONDIFF_CHECK(counts, d.s[k] <= d.s[k - 1], "s not descending at %lld", static_cast<long long>(k));
    for (int64_t l = 0; l < r; ++l) {
      double vv = 0.0, uu = 0.0;
      for (int64_t j = 0; j < cols; ++j) vv += d.vt[k * cols + j] * d.vt[l * cols + j];
      for (int64_t i = 0; i < rows; ++i) uu += d.u[i * r + k] * d.u[i * r + l];
      CONDIFF_CHECK(counts, std::fabs(vv - (k == l ? 1.0 : 0.0)) < 1e-13, "V^T V [%lld][%lld] = %g", static_cast<long long>(k), static_cast<long long>(l), vv);
      CONDIFF_CHECK(counts, std::fabs(uu - (k == l ? 1.0 : 0.0)) < 1e-13, "U^T U [%lld][%lld] = %g", static_cast<long long>(k), static_cast<long long>(l), uu);
    }
  }
}

void test_shapes() {
  check_factorisation(matrix(1, 8, 1), 1, 8, 1);
  check_factorisation(matrix(2, 8, 2), 2, 8, 2);
  check_factorisation(matrix(16, 64, 3), 16, 64, 16);
  check_factorisation(matrix(5, 5, 4), 5, 5, 5);
  check_factorisation(matrix(8, 3, 5), 8, 3, 3);
}

void test_known_values() {
  // s² are the eigenvalues of A A^T = [[14, 32], [32, 77]].
  const double a[] = {1, 2, 3, 4, 5, 6};
  const condiff::ThinSvd d = condiff::thin_svd(a, 2, 3);
  const double disc = std::sqrt(91.0 * 91.0 - 4.0 * 54.0);
  CONDIFF_CHECK(counts, std::fabs(d.s[0] - std::sqrt((91.0 + disc) / 2.0)) < 1e-13, "s_1 = %.17g", d.s[0]);
  CONDIFF_CHECK(counts, std::fabs(d.s[1] - std::sqrt((91.0 - disc) / 2.0)) < 1e-13, "s_2 = %.17g", d.s[1]);
  // Widely spread singular values keep their relative accuracy.
  const double g[] = {1e-6, 0, 0, 0, 1, 0, 0, 0, 1e4};
  const condiff::ThinSvd e = condiff::thin_svd(g, 3, 3);
  CONDIFF_CHECK(counts, e.rank == 3 && e.s[0] == 1e4 && e.s[1] == 1 && e.s[2] == 1e-6, "s = %g %g %g", e.s[0], e.s[1], e.s[2]);
}

void test_rank_cutoff() {
  const double a[] = {1, 2, 3, 1, 2, 3, 0, 0, 0, 0, 1, 0};
  const condiff::ThinSvd d = condiff::thin_svd(a, 4, 3);
  CONDIFF_CHECK(counts, d.rank == 2, "rank %lld", static_cast<long long>(d.rank));
  CONDIFF_CHECK(counts, d.s_dropped <= condiff::kRankCutoff * d.s_max, "dropped %g", d.s_dropped);
  const double z[] = {0, 0, 0};
  CONDIFF_CHECK(counts, condiff::thin_svd(z, 1, 3).rank == 0, "a zero row has rank 0");
}

}  // namespace

int main() {
  test_shapes();
  test_known_values();
  test_rank_cutoff();
  std::printf("%d checks, %d failures\n", counts.checks, counts.failures);
  return counts.failures == 0 ? 0 : 1;
}
