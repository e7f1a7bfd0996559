#include "linalg.h"

#include <cmath>

namespace condiff {

bool symmetric_eigen(const double* a_in, int64_t n, std::vector<double>& lambda, std::vector<double>& u) {
  std::vector<double> a(a_in, a_in + n * n);
  u.assign(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) u[i * n + i] = 1.0;
  // Cyclic Jacobi (Golub & Van Loan, Alg. 8.5.3): rotate away each off-diagonal
  // entry in turn until the off-diagonal mass is negligible.
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0, diag = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      diag += a[i * n + i] * a[i * n + i];
      for (int64_t j = i + 1; j < n; ++j) off += a[i * n + j] * a[i * n + j];
    }
    if (off <= 1e-30 * diag || off == 0.0) {
      lambda.resize(n);
      for (int64_t i = 0; i < n; ++i) lambda[i] = a[i * n + i];
      return true;
    }
    for (int64_t p = 0; p < n; ++p) {
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (apq == 0.0) continue;
        const double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // A <- A J (columns p, q)
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // A <- J^T A (rows p, q)
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (int64_t k = 0; k < n; ++k) {  // U <- U J
          const double ukp = u[k * n + p], ukq = u[k * n + q];
          u[k * n + p] = c * ukp - s * ukq;
          u[k * n + q] = s * ukp + c * ukq;
        }
      }
    }
  }
  return false;
}

bool cholesky(const double* a, int64_t n, std::vector<double>& l) {
  l.assign(n * n, 0.0);
  for (int64_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int64_t k = 0; k < j; ++k) d -= l[j * n + k] * l[j * n + k];
    if (!(d > 0.0)) return false;
    const double ljj = std::sqrt(d);
    l[j * n + j] = ljj;
    for (int64_t i = j + 1; i < n; ++i) {
      double x = a[i * n + j];
      for (int64_t k = 0; k < j; ++k) x -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = x / ljj;
    }
  }
  return true;
}

void cholesky_solve(const std::vector<double>& l, int64_t n, double* b) {
  for (int64_t i = 0; i < n; ++i) {
    double x = b[i];
    for (int64_t k = 0; k < i; ++k) x -= l[i * n + k] * b[k];
    b[i] = x / l[i * n + i];
  }
  for (int64_t i = n - 1; i >= 0; --i) {
    double x = b[i];
    for (int64_t k = i + 1; k < n; ++k) x -= l[k * n + i] * b[k];
    b[i] = x / l[i * n + i];
  }
}

}  // namespace condiff
