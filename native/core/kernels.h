// Backward (denoising) Gaussian kernels of MATH.md §2, step t -> s < t.
// Every kernel here has the form  p(Z_s | Z_t) = N(a Z_t + b s_t(Z_t), v I),
// so one batched routine serves both; only the coefficients differ.
#pragma once
#include <cstdint>

#include "hd.h"

namespace condiff {

// The numbering is the one the addon exports as `codes.kernels`.
enum class KernelKind : int { kEuler = 0, kDdpm = 1 };
constexpr int kKernelKinds = 2;

// Schedule quantities for one step, computed by the schedule (which knows how to
// evaluate alpha_{t|s} and sigma^2_{t|s} without cancellation, MATH.md §1).
struct StepSchedule {
  double alpha_t, sigma2_t;    // forward marginal at t
  double alpha_s, sigma2_s;    // forward marginal at s
  double alpha_ts, sigma2_ts;  // transition s -> t
  double h;                    // t - s (Euler only)
  double drift_t;              // f(t) of dZ = f(t) Z dt + g(t) dW (Euler only)
  double diffusion2_t;         // g(t)^2 (Euler only)
};

struct KernelCoefficients {
  double a;  // multiplies Z_t
  double b;  // multiplies the score s_t(Z_t)
  double v;  // isotropic variance
};

CONDIFF_HD KernelCoefficients kernel_coefficients(KernelKind kind, const StepSchedule& q) {
  KernelCoefficients c{};
  if (kind == KernelKind::kEuler) {
    // MATH.md §2 Euler–Maruyama: mu = z + h(-f z + g^2 s), v = g^2 h.
    // (For OU, f = -1, g^2 = 2: mu = z + h(z + 2 s), with the "z +" the slides dropped.)
    c.a = 1.0 - q.h * q.drift_t;
    c.b = q.h * q.diffusion2_t;
    c.v = q.diffusion2_t * q.h;
  } else {
    // MATH.md §2 DDPM ancestral: mu = c0 x0hat + c1 z, x0hat = (z + sigma_t^2 s) / alpha_t,
    // c0 = alpha_s sigma^2_{t|s} / sigma_t^2, c1 = alpha_{t|s} sigma_s^2 / sigma_t^2,
    // v = sigma^2_{t|s} sigma_s^2 / sigma_t^2. Expanded into a z + b s:
    const double c0 = q.alpha_s * q.sigma2_ts / q.sigma2_t;
    const double c1 = q.alpha_ts * q.sigma2_s / q.sigma2_t;
    c.a = c0 / q.alpha_t + c1;
    c.b = q.alpha_s * q.sigma2_ts / q.alpha_t;  // = c0 * sigma_t^2 / alpha_t
    c.v = q.sigma2_ts * q.sigma2_s / q.sigma2_t;
  }
  return c;
}

// The kernel mean of MATH.md §2, one element: a z + b s, each operation rounded to float
// (no fused multiply-add), the one expression every caller uses.
CONDIFF_HD float kernel_mean_value(float z, float score, float a, float b) { return a * z + b * score; }

// mu = a z + b s, elementwise over a batch.
CONDIFF_HD void kernel_mean(const float* z, const float* score, float a, float b, float* mu, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) mu[i] = kernel_mean_value(z[i], score[i], a, b);
}

}  // namespace condiff
