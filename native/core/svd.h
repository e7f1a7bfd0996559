// Thin singular value decomposition of a small dense observation matrix A (d_y x D), done
// once per problem (docs/MATH.md §8): A = U S V_r^T with the numerical rank r counted by
// s_i > kRankCutoff * s_max. One-sided (Hestenes) Jacobi on the d_y columns of A^T: plane
// rotations J make the columns of A^T J mutually orthogonal; their norms are the singular
// values, the normalised columns V_r, and J is U. Cost O(d_y^2 D) per sweep, float64 only,
// and accurate in the small singular values (relative accuracy), which the rank cutoff needs.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace condiff {

// Singular values at or below this fraction of the largest are the numerical null space.
constexpr double kRankCutoff = 1e-12;

struct ThinSvd {
  int64_t rows = 0;  // d_y
  int64_t cols = 0;  // D
  int64_t rank = 0;  // r
  std::vector<double> s;   // r, descending
  std::vector<double> u;   // d_y x r, row-major (columns are left singular vectors)
  std::vector<double> vt;  // r x D, row-major (rows are right singular vectors)
  double s_max = 0.0;
  // The largest singular value below the cutoff (0 when none): tells an ill-posed problem.
  double s_dropped = 0.0;
  bool converged = false;
};

// a: d_y x D row-major, finite. Sweeps until every pair of columns is orthogonal to
// 1e-15 relative to their norms (or one is at rounding level), at most 60 sweeps (quadratic convergence: rarely over 10).
inline ThinSvd thin_svd(const double* a, int64_t rows, int64_t cols) {
  ThinSvd out;
  out.rows = rows;
  out.cols = cols;
  // W = A^T as rows: w[i] is row i of A (= column i of A^T), length D.
  std::vector<double> w(a, a + rows * cols);
  std::vector<double> j(static_cast<size_t>(rows * rows), 0.0);
  for (int64_t i = 0; i < rows; ++i) j[i * rows + i] = 1.0;
  const double tol = 1e-15;
  // A column whose norm fell to rounding level of A (a null direction when d_y > D or a
  // repeated row) never becomes orthogonal in the relative sense: leave it, it is dropped.
  double frob2 = 0.0;
  for (int64_t k = 0; k < rows * cols; ++k) frob2 += w[k] * w[k];
  const double negligible = 1e-30 * frob2;
  for (int sweep = 0; sweep < 60; ++sweep) {
    bool rotated = false;
    for (int64_t p = 0; p + 1 < rows; ++p) {
      for (int64_t q = p + 1; q < rows; ++q) {
        double alpha = 0.0, beta = 0.0, gamma = 0.0;
        const double* wp = &w[p * cols];
        const double* wq = &w[q * cols];
        for (int64_t k = 0; k < cols; ++k) {
          alpha += wp[k] * wp[k];
          beta += wq[k] * wq[k];
          gamma += wp[k] * wq[k];
        }
        if (gamma == 0.0 || std::fabs(gamma) <= tol * std::sqrt(alpha * beta)) continue;
        if (alpha <= negligible || beta <= negligible) continue;
        rotated = true;
        // The rotation that zeroes the (p, q) inner product (Golub & Van Loan §8.6.3).
        const double zeta = (beta - alpha) / (2.0 * gamma);
        const double t = (zeta >= 0 ? 1.0 : -1.0) / (std::fabs(zeta) + std::sqrt(1.0 + zeta * zeta));
        const double c = 1.0 / std::sqrt(1.0 + t * t), sn = c * t;
        double* xp = &w[p * cols];
        double* xq = &w[q * cols];
        for (int64_t k = 0; k < cols; ++k) {
          const double x = xp[k], y = xq[k];
          xp[k] = c * x - sn * y;
          xq[k] = sn * x + c * y;
        }
        for (int64_t k = 0; k < rows; ++k) {
          const double x = j[k * rows + p], y = j[k * rows + q];
          j[k * rows + p] = c * x - sn * y;
          j[k * rows + q] = sn * x + c * y;
        }
      }
    }
    if (!rotated) {
      out.converged = true;
      break;
    }
  }
  std::vector<double> norm(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    double n2 = 0.0;
    for (int64_t k = 0; k < cols; ++k) n2 += w[i * cols + k] * w[i * cols + k];
    norm[i] = std::sqrt(n2);
  }
  std::vector<int64_t> order(static_cast<size_t>(rows));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return norm[x] > norm[y]; });
  out.s_max = rows > 0 ? norm[order[0]] : 0.0;
  for (int64_t i : order) {
    if (norm[i] > kRankCutoff * out.s_max && norm[i] > 0.0) {
      ++out.rank;
    } else {
      out.s_dropped = std::max(out.s_dropped, norm[i]);
    }
  }
  const int64_t r = out.rank;
  out.s.resize(static_cast<size_t>(r));
  out.u.assign(static_cast<size_t>(rows * r), 0.0);
  out.vt.assign(static_cast<size_t>(r * cols), 0.0);
  for (int64_t k = 0; k < r; ++k) {
    const int64_t i = order[k];
    out.s[k] = norm[i];
    for (int64_t c = 0; c < cols; ++c) out.vt[k * cols + c] = w[i * cols + c] / norm[i];
    for (int64_t row = 0; row < rows; ++row) out.u[row * r + k] = j[row * rows + i];
  }
  return out;
}

}  // namespace condiff
