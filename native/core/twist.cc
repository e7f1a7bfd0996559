#include "twist.h"

#include <atomic>
#include <cmath>

#include "parallel.h"

namespace condiff {

int64_t mask_twist(const float* x, const float* score, int64_t rows, int64_t dim, double alpha, double sigma2,
                   const int32_t* observed, const float* y, int64_t d_obs, double variance, double* log_twist, float* u,
                   Threads threads) {
  const double norm = -0.5 * static_cast<double>(d_obs) * std::log(2.0 * M_PI * variance);
  const double inv_alpha = 1.0 / alpha;
  std::atomic<int64_t> first_bad{rows};
  // u is zero off the observed coordinates: cleared once here, written at M below.
  parallel_for(rows, threads, std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, dim)), [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * dim;
      const float* sr = score + r * dim;
      float* ur = u ? u + r * dim : nullptr;
      if (ur)
        for (int64_t k = 0; k < dim; ++k) ur[k] = 0.0f;
      double q = 0.0;
      bool finite = true;
      for (int64_t i = 0; i < d_obs; ++i) {
        const int64_t k = observed[i];
        const double xhat = (static_cast<double>(xr[k]) + sigma2 * sr[k]) * inv_alpha;
        finite = finite && std::isfinite(xhat);
        const double e = static_cast<double>(y[i]) - xhat;
        q += e * e;
        if (ur) ur[k] = static_cast<float>(e / variance);
      }
      log_twist[r] = norm - q / (2.0 * variance);
      if (!finite) {
        int64_t cur = first_bad.load();
        while (r < cur && !first_bad.compare_exchange_weak(cur, r)) {
        }
      }
    }
  });
  return first_bad.load() < rows ? first_bad.load() : -1;
}

void twist_increment(const float* xs, const float* mu, const float* mut, int64_t rows, int64_t dim, double v,
                     const double* lps, const double* lpt, double* increment, Threads threads) {
  parallel_for(rows, threads, std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, dim)), [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; ++r) {
      double acc = 0.0;
      for (int64_t k = r * dim; k < (r + 1) * dim; ++k) {
        const double m = mu[k], mt = mut[k];
        acc += (static_cast<double>(xs[k]) - 0.5 * (m + mt)) * (m - mt);
      }
      // A particle whose twist is already 0 (a likelihood of -inf) keeps weight 0: -inf, not
      // -inf - -inf = NaN.
      increment[r] = lpt[r] == -INFINITY ? -INFINITY : acc / v + lps[r] - lpt[r];
    }
  });
}

}  // namespace condiff
