// Particle weights in float64 log space: the Gaussian potential of the Y block
// (MATH.md §3), log-sum-exp normalisation, ESS and the log-evidence update
// (MATH.md §3 "Adaptive resampling", §4).
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "hd.h"

namespace condiff {

// The Gaussian constant (d_Y / 2) log(2 pi v) of one step's weights, computed once by the
// caller (on the host for both cores, so no device log enters the weights).
inline double gaussian_log_norm(int64_t d_obs, double v) {
  return 0.5 * static_cast<double>(d_obs) * std::log(6.283185307179586 * v);
}

// log N(y; mu_Y, v I) for one particle, accumulated in float64:
//   -||y - mu_Y||^2 / (2v) - (d_Y / 2) log(2 pi v)            MATH.md §3
// with log_norm = gaussian_log_norm(d_obs, v).
CONDIFF_HD double gaussian_y_log_weight(const float* mu_row, const int32_t* obs, int64_t d_obs, const float* y,
                                        double v, double log_norm) {
  double sq = 0.0;
  for (int64_t j = 0; j < d_obs; ++j) {
    const double diff = static_cast<double>(y[j]) - static_cast<double>(mu_row[obs[j]]);
    sq += diff * diff;
  }
  return -sq / (2.0 * v) - log_norm;
}

struct ReweightResult {
  double log_evidence_increment;  // log sum_k W_{i-1}^(k) w_i^(k)
  double ess;                     // 1 / sum_k (W_i^(k))^2
  bool ok;                        // false: every new weight is -inf or NaN (MATH.md §4)
};

// One run: log_w holds normalised log-weights log W_{i-1} (log(1/N) right after a
// resampling); increment holds log w_i. On return log_w holds log W_i, normalised.
// Serial over the run's particles, so the sum order is fixed (reproducible).
inline ReweightResult reweight_run(double* log_w, const double* increment, int64_t n) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < n; ++k) {
    const double x = log_w[k] + increment[k];
    if (std::isnan(x)) return {0.0, 0.0, false};
    log_w[k] = x;
    if (x > mx) mx = x;
  }
  if (!(mx > -std::numeric_limits<double>::infinity()) || std::isinf(mx)) return {0.0, 0.0, false};
  double sum = 0.0;
  for (int64_t k = 0; k < n; ++k) sum += std::exp(log_w[k] - mx);
  const double lse = mx + std::log(sum);
  double sum_sq = 0.0;
  for (int64_t k = 0; k < n; ++k) {
    log_w[k] -= lse;
    const double w = std::exp(log_w[k]);
    sum_sq += w * w;
  }
  return {lse, 1.0 / sum_sq, true};
}

}  // namespace condiff
