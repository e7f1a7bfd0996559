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

// log N(y; mu_Y, v I) from sq = ||y - mu_Y||^2, and for one particle with sq accumulated in float64:
//   -||y - mu_Y||^2 / (2v) - (d_Y / 2) log(2 pi v)            MATH.md §3
// with log_norm = gaussian_log_norm(d_obs, v).
CONDIFF_HD double gaussian_log_weight_of(double sq, double v, double log_norm) {
  return -sq / (2.0 * v) - log_norm;
}

CONDIFF_HD double gaussian_y_log_weight(const float* mu_row, const int32_t* obs, int64_t d_obs, const float* y,
                                        double v, double log_norm) {
  double sq = 0.0;
  for (int64_t j = 0; j < d_obs; ++j) {
    const double diff = static_cast<double>(y[j]) - static_cast<double>(mu_row[obs[j]]);
    sq += diff * diff;
  }
  return gaussian_log_weight_of(sq, v, log_norm);
}

// Whether a run resamples after reweighting (MATH.md §3, adaptive resampling): when
// ESS < tau N; tau = 1 means every step (the seed's filter), even when rounding puts the
// ESS at exactly N.
CONDIFF_HD bool resample_wanted(double ess, double tau, int64_t n) {
  return tau >= 1.0 || ess < tau * static_cast<double>(n);
}

// A resampled run's log-weights: log(1/N) each (MATH.md §3).
inline void reset_log_weights(double* log_w, int64_t n) {
  const double uniform = -std::log(static_cast<double>(n));
  for (int64_t k = 0; k < n; ++k) log_w[k] = uniform;
}

struct ReweightResult {
  double log_evidence_increment;  // log sum_k W_{i-1}^(k) w_i^(k)
  double ess;                     // 1 / sum_k (W_i^(k))^2
  bool ok;                        // false: every new weight is -inf or NaN (MATH.md §4)
};

// A run's particles are cut into fixed blocks of kWeightBlock for the sums below: each
// block is reduced on its own (in parallel, whichever thread), and the block results are
// combined in block order, so the sums never depend on the thread count (MATH.md §6).
constexpr int64_t kWeightBlock = 4096;

// Block pass 1: log_w[k] += increment[k]; returns the block's largest value, or NaN when
// one of them is NaN (the run then fails, MATH.md §4).
double add_increment_block(double* log_w, const double* increment, int64_t n);

// Block pass 2, with mx the run's largest log-weight: sum_k e_k and sum_k e_k^2 for
// e_k = exp(log_w[k] - mx), eight interleaved partial sums added in a fixed order.
void exp_sums_block(const double* log_w, int64_t n, double mx, double* sum, double* sum_sq);

// Block pass 3: log_w[k] -= lse.
void subtract_block(double* log_w, int64_t n, double lse);

// Combines the blocks' maxima of one run: NaN or no finite maximum (all -inf, or a +inf)
// fails the run (MATH.md §4).
inline bool run_max_ok(double mx) { return mx > -std::numeric_limits<double>::infinity() && !std::isinf(mx); }

// One whole run, serially, with the same blocks (and so the same bits) as the parallel
// batch in particles.cc. log_w holds normalised log-weights log W_{i-1} (log(1/N) right
// after a resampling); increment holds log w_i. On return log_w holds log W_i:
//   lse = log sum_k exp(log W_{i-1} + log w_i),  ESS = (sum e)^2 / sum e^2.   MATH.md §3, §4
ReweightResult reweight_run(double* log_w, const double* increment, int64_t n);

}  // namespace condiff
