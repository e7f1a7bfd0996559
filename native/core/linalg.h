// Small dense symmetric linear algebra in float64 for the mixture oracle (MATH.md §7):
// a cyclic Jacobi eigensolver (done once per component, never per step) and Cholesky.
#pragma once
#include <cstdint>
#include <vector>

namespace condiff {

// Symmetric eigendecomposition A = U diag(lambda) U^T of a row-major n x n matrix.
// U is row-major with eigenvectors in columns. Returns false if it did not converge.
bool symmetric_eigen(const double* a, int64_t n, std::vector<double>& lambda, std::vector<double>& u);

// Lower Cholesky factor L (row-major, n x n) of a symmetric matrix; false if not PD.
bool cholesky(const double* a, int64_t n, std::vector<double>& l);

// Solves L L^T x = b in place (b has n entries).
void cholesky_solve(const std::vector<double>& l, int64_t n, double* b);

}  // namespace condiff
