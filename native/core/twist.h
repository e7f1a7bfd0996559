// The per-particle arithmetic of twisted SMC (docs/MATH.md §10) for a coordinate-mask
// observation y = x₀[M] + σ_y ε: the twist log p̃_t(y | x) = Σ_{i} log N(y_i; x̂₀[M_i], ν) at
// Tweedie's x̂₀ = (x + σ_t² s) / α_t with ν = σ_y² + ρ_t, its residual u = Aᵀ (y − A x̂₀) / ν, and
// the weight increment log K/q + log p̃_s − log p̃_t of a proposal N(μ̃, v I) against the kernel
// N(μ, v I). Rows are independent: the results never depend on the thread count.
#pragma once
#include <cstdint>

#include "worker_pool.h"

namespace condiff {

// log p̃ per row into log_twist (rows), and, when u is not null, u (rows x dim: (y_i − x̂₀[M_i]) / ν
// at the observed coordinates, 0 elsewhere). With sigma2 = 0 and alpha = 1, x̂₀ = x (the final
// weight). Returns the first row whose x̂₀ at an observed coordinate is not finite, or -1.
int64_t mask_twist(const float* x, const float* score, int64_t rows, int64_t dim, double alpha, double sigma2,
                   const int32_t* observed, const float* y, int64_t d_obs, double variance, double* log_twist, float* u,
                   Threads threads);

// increment[r] = Σ_k (xs − (μ + μ̃)/2)_k (μ − μ̃)_k / v + lps[r] − lpt[r] for every row r
// (−∞ where lpt[r] = −∞: that particle's weight is already 0).
void twist_increment(const float* xs, const float* mu, const float* mut, int64_t rows, int64_t dim, double v,
                     const double* lps, const double* lpt, double* increment, Threads threads);

}  // namespace condiff
