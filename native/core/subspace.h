// The rotations of the SVD bootstrap filter (docs/MATH.md §9.1) for an observation whose
// right singular vectors are held as a dense r x D matrix V_rᵀ (a dense A, average pooling):
// the projections c_j = (V_rᵀ x)_{i_j} of rows onto the pinned directions i_0 .. i_{n−1}, the
// Gaussian log weight of the kernel mean's projections against the pinned path, and the pin
//   x ← x + Σ_j v_{i_j} (Ỹ_j − c_j),
// which sets the pinned coordinates of x to the path and leaves its orthogonal part alone.
//
// Every sum runs in double, in a fixed order (a projection over the coordinates k = 0 .. D−1,
// the lift and the log weight over j = 0 .. n−1), with no fused multiply-add, so the results
// are the same bits on every machine, instruction set, thread count and row split.
#pragma once
#include <cstdint>

#include "worker_pool.h"

namespace condiff {

struct PinnedDirections {
  int64_t dim = 0;            // D
  const double* vt = nullptr;  // r x D, row i = v_iᵀ
  const int32_t* index = nullptr;  // n rows of vt, in the path's order
  int64_t count = 0;          // n
};

// out (rows x n) = the projections of the rows of x (rows x D).
void project_rows(const PinnedDirections& v, const float* x, int64_t rows, double* out, Threads threads);

// increment[row] = constant − Σ_j (Ỹ_{run, j} − c_j(mu_row))² / (2 variance), run = row / particles;
// targets are runs x n.
void subspace_log_weights(const PinnedDirections& v, const float* mu, int64_t rows, int64_t particles,
                          const float* targets, double variance, double constant, double* increment,
                          Threads threads);

// The pin on every row of z (rows x D, in place), against targets (runs x n).
void pin_rows(const PinnedDirections& v, float* z, int64_t rows, int64_t particles, const float* targets,
              Threads threads);

}  // namespace condiff
