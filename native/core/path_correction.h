// The path term of the SVD filter's evidence correction (docs/MATH.md §9.1): under the exact
// reverse model the pinned path Ỹ is the forward process, so for each run
//   c = Σ_i [ log N(Ỹ_{S,i}; 0, 1) − Σ_{k = k0_i + 1}^{S} log N(Ỹ_{k,i}; α_k Ỹ_{k−1,i}, σ²_k) ],
// coordinate i never pinned when k0_i > S. log p̂(y) = log Ẑ + c + the observation's
// constant (−Σ log s_i, or the y_⊥ term), which the caller adds.
//
// In double, with log N(x; m, v) = −½ (log(2πv) + (x − m)² / v) and log(2πv) taken from the
// caller's table; each run adds its terms in the formula's order (i = 0 .. r−1, T first, then
// k = k0_i + 1 .. S), no fused multiply-add: the same bits as the same sum written in
// TypeScript, on every machine and thread count.
#pragma once
#include <cstdint>

#include "worker_pool.h"

namespace condiff {

struct PathTransitions {
  int64_t steps = 0;                      // S
  const double* alpha = nullptr;          // S + 1; α_k for the step t_{k−1} → t_k (entry 0 unused)
  const double* sigma2 = nullptr;         // S + 1; σ²_k (entry 0 unused)
  const double* log_2pi_sigma2 = nullptr; // S + 1; log(2π σ²_k) (entry 0 unused)
  double log_2pi = 0.0;                   // log(2π), for the N(0, 1) term at t_S
};

// out[q] = c for runs q = 0 .. runs−1 of path ((S + 1) x runs x rank, by grid index).
void pinned_path_correction(const float* path, int64_t runs, int64_t rank, const int32_t* starts,
                            const PathTransitions& tr, double* out, Threads threads);

}  // namespace condiff
