#include "path_correction.h"

#include <algorithm>

#include "parallel.h"

namespace condiff {

namespace {

// Runs per pass: a pass reads its runs' slice of every step's row (64 x rank floats, in cache
// across the rank's coordinates), where run by run the rows lie runs x rank floats apart.
constexpr int64_t kRunsPerPass = 64;

__attribute__((optimize("fp-contract=off"))) inline double log_normal(double x, double m, double v, double log_2pi_v) {
  const double d = x - m;
  return -0.5 * (log_2pi_v + (d * d) / v);
}

__attribute__((optimize("fp-contract=off"))) void correct_runs(const float* path, int64_t runs, int64_t rank,
                                                               const int32_t* starts, const PathTransitions& tr,
                                                               int64_t q0, int64_t q1, double* out) {
  const int64_t s = tr.steps, stride = runs * rank;
  for (int64_t q = q0; q < q1; ++q) out[q] = 0.0;
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t k0 = starts[i];
    if (k0 > s) continue;
    const float* last = path + s * stride + i;
    for (int64_t q = q0; q < q1; ++q) out[q] += log_normal(last[q * rank], 0.0, 1.0, tr.log_2pi);
    for (int64_t k = k0 + 1; k <= s; ++k) {
      const float* now = path + k * stride + i;
      const float* before = now - stride;
      const double a = tr.alpha[k], v = tr.sigma2[k], l = tr.log_2pi_sigma2[k];
      for (int64_t q = q0; q < q1; ++q)
        out[q] -= log_normal(now[q * rank], a * static_cast<double>(before[q * rank]), v, l);
    }
  }
}

}  // namespace

void pinned_path_correction(const float* path, int64_t runs, int64_t rank, const int32_t* starts,
                            const PathTransitions& tr, double* out, Threads threads) {
  const int64_t passes = (runs + kRunsPerPass - 1) / kRunsPerPass;
  // A pass is 64 x rank x S terms: one per task.
  parallel_for(passes, threads, 1, [&](int64_t b, int64_t e, int) {
    for (int64_t p = b; p < e; ++p)
      correct_runs(path, runs, rank, starts, tr, p * kRunsPerPass, std::min(runs, (p + 1) * kRunsPerPass), out);
  });
}

}  // namespace condiff
