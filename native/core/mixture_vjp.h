// The vector–Jacobian product of Tweedie's estimate x̂₀(z) = (z + σ² s_t(z)) / α for the
// Gaussian mixture (docs/MATH.md §10, the twist gradient of `tds`). The score's Jacobian is
//   ∇s = Σ_j r_j (g_j g_jᵀ − C_j⁻¹) − s sᵀ,   g_j = −C_j⁻¹ (z − α m_j),  s = Σ_j r_j g_j,
// symmetric, so Jᵀu = (u + σ² [Σ_j r_j (g_j (g_jᵀu) − C_j⁻¹ u) − s (sᵀu)]) / α, matrix-free:
// per row and component one C_j⁻¹ d (shared with the responsibilities) and one C_j⁻¹ u.
// When every component has the same covariance (`shared`, mixture_structure.h) C⁻¹ is applied
// twice per row instead of 2J times: C⁻¹ d_j = C⁻¹ z − C⁻¹ α m_j with C⁻¹ α m_j formed once per
// call, and Σ_j r_j C⁻¹ u = C⁻¹ u; 2 D² + O(J D) per row instead of 2 J D².
#pragma once
#include <cstdint>

#include "mixture_score.h"
#include "worker_pool.h"

namespace condiff {

// out = Jᵀ u for `rows` rows of z and u (row-major, q.dim each), with q from
// GaussianMixture::prepare(alpha, sigma2). Float64 accumulation. Returns the flat index of
// the first non-finite output, or -1. `shared`: every C_j equals C_0 (to the structure
// tolerance), so component 0's precision stands for all.
int64_t mixture_vjp(const MixtureStep& q, bool shared, double alpha, double sigma2, const float* z, const float* u,
                    int64_t rows, float* out, Threads threads);

}  // namespace condiff
