// MATH.md §5 and §5b. Every scheme produces sorted positions p_m in [0, 1) and maps
// each to the smallest k with C_k > p_m C_N by one merge-style sweep.
#include "resampling.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace condiff {
namespace {

// Fills cdf with unnormalised cumulative weights exp(log_w - max) in float64.
// Returns the index of the last particle with positive weight, or -1.
int64_t cumulative_weights(const double* log_w, int64_t n, double* cdf) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < n; ++k)
    if (log_w[k] > mx) mx = log_w[k];  // NaN compares false: never the max
  if (!(mx > -std::numeric_limits<double>::infinity()) || std::isinf(mx)) return -1;
  double run = 0.0;
  int64_t last = -1;
  for (int64_t k = 0; k < n; ++k) {
    const double lw = log_w[k];
    const double w = (lw == lw) ? std::exp(lw - mx) : 0.0;  // NaN weighs nothing
    if (w > 0.0) last = k;
    run += w;
    cdf[k] = run;
  }
  return last;
}

// Ancestor sweep: positions arrive in ascending order through next_position(m).
// A position whose scaled value reaches C_N by rounding is given the last positive
// particle, never a trailing zero (MATH.md §5b).
template <typename Positions>
void sweep(const double* cdf, int64_t n, int64_t last, int64_t count, Positions&& next_position,
           int32_t* ancestors) {
  const double total = cdf[n - 1];
  int64_t k = 0;
  for (int64_t m = 0; m < count; ++m) {
    const double target = next_position(m) * total;
    while (k < last && cdf[k] <= target) ++k;
    ancestors[m] = static_cast<int32_t>(k);
  }
}

double exp1(const StreamKey& s, uint64_t element) { return -std::log(uniform01_open_left_d(word_at(s, element))); }

// Sorted uniforms in O(n): normalised cumulative sums of count+1 Exp(1) draws
// (MATH.md §5, multinomial). Elements [offset, offset + count] of the stream are used.
template <typename Emit>
void sorted_uniforms(const StreamKey& s, int64_t count, uint64_t offset, Emit&& emit) {
  double total = 0.0;
  for (int64_t m = 0; m <= count; ++m) total += exp1(s, offset + m);
  double run = 0.0;
  for (int64_t m = 0; m < count; ++m) {
    run += exp1(s, offset + m);
    emit(m, run / total);
  }
}

}  // namespace

bool resample_run(ResamplingScheme scheme, const double* log_w, int64_t n, const StreamKey& s, double* cdf,
                  int32_t* ancestors) {
  if (n <= 0) return false;
  const int64_t last = cumulative_weights(log_w, n, cdf);
  if (last < 0) return false;
  const double inv_n = 1.0 / static_cast<double>(n);
  switch (scheme) {
    case ResamplingScheme::kSystematic: {
      const double u = uniform01_open_right_d(word_at(s, 0));
      sweep(cdf, n, last, n, [&](int64_t m) { return (u + static_cast<double>(m)) * inv_n; }, ancestors);
      return true;
    }
    case ResamplingScheme::kStratified: {
      sweep(cdf, n, last, n,
            [&](int64_t m) { return (uniform01_open_right_d(word_at(s, m)) + static_cast<double>(m)) * inv_n; },
            ancestors);
      return true;
    }
    case ResamplingScheme::kMultinomial: {
      // Positions are generated in order inside the sweep: no buffer of n positions.
      const double total = cdf[n - 1];
      int64_t k = 0;
      sorted_uniforms(s, n, 0, [&](int64_t m, double p) {
        const double target = p * total;
        while (k < last && cdf[k] <= target) ++k;
        ancestors[m] = static_cast<int32_t>(k);
      });
      return true;
    }
    case ResamplingScheme::kResidual: {
      // floor(N W_k) deterministic copies, then the remainder multinomially on the
      // residual weights N W_k - floor(N W_k) (MATH.md §5).
      const double total = cdf[n - 1];
      int64_t out = 0;
      double prev = 0.0, residual_run = 0.0;
      for (int64_t k = 0; k < n; ++k) {
        const double w = cdf[k] - prev;  // exact: cdf[k] = prev + w was computed this way
        prev = cdf[k];
        // (n w) / total, not n (w / total): exact whenever N W_k is an integer (equal
        // weights at N = 49 would otherwise give 0.999… and lose the guaranteed copy).
        const double nw = (static_cast<double>(n) * w) / total;
        double copies = std::floor(nw);
        if (out + static_cast<int64_t>(copies) > n) copies = static_cast<double>(n - out);
        for (int64_t c = 0; c < static_cast<int64_t>(copies); ++c) ancestors[out++] = static_cast<int32_t>(k);
        residual_run += (w > 0.0) ? std::max(0.0, nw - copies) : 0.0;
        cdf[k] = residual_run;  // reuse the scratch for the residual CDF
      }
      const int64_t remaining = n - out;
      if (remaining == 0) return true;
      int64_t last_residual = -1;
      for (int64_t k = 0; k < n; ++k)
        if (k == 0 ? cdf[0] > 0.0 : cdf[k] > cdf[k - 1]) last_residual = k;
      if (last_residual < 0) {
        // Only reachable through rounding (remaining > 0 implies residual mass in exact
        // arithmetic): give the remainder to the last particle with positive weight.
        for (int64_t m = 0; m < remaining; ++m) ancestors[out + m] = static_cast<int32_t>(last);
        return true;
      }
      const double rtotal = cdf[n - 1];
      int64_t k = 0;
      sorted_uniforms(s, remaining, 0, [&](int64_t m, double p) {
        const double target = p * rtotal;
        while (k < last_residual && cdf[k] <= target) ++k;
        ancestors[out + m] = static_cast<int32_t>(k);
      });
      return true;
    }
  }
  return false;
}

int64_t draw_one(const double* log_w, int64_t n, const StreamKey& s) {
  if (n <= 0) return -1;
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < n; ++k)
    if (log_w[k] > mx) mx = log_w[k];
  if (!(mx > -std::numeric_limits<double>::infinity()) || std::isinf(mx)) return -1;
  double total = 0.0;
  int64_t last = -1;
  for (int64_t k = 0; k < n; ++k) {
    const double w = (log_w[k] == log_w[k]) ? std::exp(log_w[k] - mx) : 0.0;
    if (w > 0.0) last = k;
    total += w;
  }
  const double target = uniform01_open_right_d(word_at(s, 0)) * total;
  double run = 0.0;
  for (int64_t k = 0; k < last; ++k) {
    const double w = (log_w[k] == log_w[k]) ? std::exp(log_w[k] - mx) : 0.0;
    run += w;
    if (run > target) return k;
  }
  return last;
}

}  // namespace condiff
