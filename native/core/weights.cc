// The block passes of the weight normalisation (weights.h, MATH.md §3–§4). Cloned per
// instruction set so the branch-free exp (exact_math.h) runs in SIMD lanes; every clone
// does the same IEEE operations in the same order (no contraction), so all agree bit for bit.
#include "weights.h"

#include <algorithm>
#include <cmath>

#include "exact_math.h"

namespace condiff {

// fp-contract=off: no clone fuses a multiply and an add (AVX-512 and AVX2 could).
#define CONDIFF_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "avx2", "default"), optimize("fp-contract=off")))

CONDIFF_CLONES double add_increment_block(double* log_w, const double* increment, int64_t n) {
  double mx = -std::numeric_limits<double>::infinity();
  bool nan = false;
  for (int64_t k = 0; k < n; ++k) {
    const double x = log_w[k] + increment[k];
    nan |= (x != x);
    log_w[k] = x;
    mx = x > mx ? x : mx;
  }
  return nan ? std::nan("") : mx;
}

CONDIFF_CLONES void exp_sums_block(const double* log_w, int64_t n, double mx, double* sum, double* sum_sq) {
  constexpr int kLanes = 8;
  double s[kLanes] = {}, q[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const double e = exp_nonpositive_d(log_w[k + l] - mx);
      s[l] += e;
      q[l] += e * e;
    }
  for (int l = 0; k < n; ++k, ++l) {
    const double e = exp_nonpositive_d(log_w[k] - mx);
    s[l] += e;
    q[l] += e * e;
  }
  double ts = 0.0, tq = 0.0;
  for (int l = 0; l < kLanes; ++l) {
    ts += s[l];
    tq += q[l];
  }
  *sum = ts;
  *sum_sq = tq;
}

CONDIFF_CLONES void subtract_block(double* log_w, int64_t n, double lse) {
  for (int64_t k = 0; k < n; ++k) log_w[k] -= lse;
}

ReweightResult reweight_run(double* log_w, const double* increment, int64_t n) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t b = 0; b < n; b += kWeightBlock) {
    const double m = add_increment_block(log_w + b, increment + b, std::min(kWeightBlock, n - b));
    if (m != m) return {0.0, 0.0, false};
    mx = m > mx ? m : mx;
  }
  if (!run_max_ok(mx)) return {0.0, 0.0, false};
  double sum = 0.0, sum_sq = 0.0;
  for (int64_t b = 0; b < n; b += kWeightBlock) {
    double s = 0.0, q = 0.0;
    exp_sums_block(log_w + b, std::min(kWeightBlock, n - b), mx, &s, &q);
    sum += s;
    sum_sq += q;
  }
  const double lse = mx + std::log(sum);
  for (int64_t b = 0; b < n; b += kWeightBlock) subtract_block(log_w + b, std::min(kWeightBlock, n - b), lse);
  return {lse, sum * sum / sum_sq, true};
}

}  // namespace condiff
