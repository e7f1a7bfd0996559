// The per-element formulas of the batched particle operations (particles.h), shared by
// the CPU core (particles.cc) and the CUDA core (native/cuda/), so both round the same
// operations in the same order (MATH.md §1–§3).
#pragma once
#include <cmath>

#include "hd.h"

namespace condiff {

// What a network predicts (MATH.md §1). The numbering is the one the addon exports as
// `codes.parameterizations`; the functions below take it as an int so device code can too.
enum class Parameterization : int { kScore = 0, kEpsilon = 1, kX0 = 2 };
constexpr int kParameterizations = 3;

// Langevin step-size rules (MATH.md §3, Algorithm 2), exported as `codes.langevinRules`.
enum class LangevinRule : int { kGamma = 0, kSnr = 1 };
constexpr int kLangevinRules = 2;

// Backward-kernel move of one latent coordinate: mu[ancestor] + sqrt(v) xi (MATH.md §2),
// in float with scale = (float) sqrt(v).
CONDIFF_HD float propagate_value(float mean, float scale, float xi) { return mean + scale * xi; }

// One step of the forward context path (MATH.md §3), in double:
// Y_{t_i} = alpha_{t_i|t_{i-1}} Y_{t_{i-1}} + sigma_{t_i|t_{i-1}} xi.
CONDIFF_HD float context_step(double alpha_ts, double sd_ts, float previous, float xi) {
  return static_cast<float>(alpha_ts * previous + sd_ts * static_cast<double>(xi));
}

// RePaint re-noising of one latent coordinate from s to t: alpha_ts x + sqrt(sigma2_ts) xi.
CONDIFF_HD float renoise_value(double alpha_ts, double sd_ts, float x, float xi) {
  return static_cast<float>(alpha_ts * x + sd_ts * xi);
}

// Langevin step size (MATH.md §3, Algorithm 2): kGamma delta = gamma (already gamma sigma_s^2);
// kSnr delta = 2 alpha (r ||xi|| / ||grad_X||)^2 (Song et al. 2021, Alg. 5), and a zero
// gradient leaves the particle where it is rather than dividing by zero.
CONDIFF_HD double langevin_delta(int rule, double gamma_or_r, double snr_alpha, double xi_sq, double g_sq) {
  if (rule != static_cast<int>(LangevinRule::kSnr)) return gamma_or_r;
  return g_sq > 0.0 ? 2.0 * snr_alpha * gamma_or_r * gamma_or_r * xi_sq / g_sq : 0.0;
}

// X <- X + delta grad_X + sqrt(2 delta) xi, per latent coordinate, in double.
CONDIFF_HD float langevin_value(float x, double delta, float grad, double noise, float xi) {
  return static_cast<float>(x + delta * grad + noise * xi);
}

// A network output to a score (MATH.md §1), kind a Parameterization: score (a copy),
// epsilon (s = -eps / sigma), x0 (s = (alpha x0 - z) / sigma^2).
CONDIFF_HD float score_from_prediction(int kind, float z, float prediction, double alpha, double sigma,
                                       double sigma2) {
  if (kind == static_cast<int>(Parameterization::kEpsilon)) return static_cast<float>(-static_cast<double>(prediction) / sigma);
  if (kind == static_cast<int>(Parameterization::kX0)) return static_cast<float>((alpha * prediction - z) / sigma2);
  return prediction;
}

}  // namespace condiff
