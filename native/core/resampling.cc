// MATH.md §5 and §5b. Every scheme produces sorted fixed-point targets t_m < T and maps
// each to the smallest k with C_k > t_m by one merge-style sweep; the arithmetic is that
// of resampling_math.h, which the CUDA core evaluates in parallel to the same bits.
#include "resampling.h"

#include <cmath>
#include <limits>

#include "resampling_math.h"

namespace condiff {
namespace {

// The largest log-weight, or NaN when none is finite (every weight -inf/NaN, or one +inf).
double max_log_weight(const double* log_w, int64_t n) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < n; ++k)
    if (log_w[k] > mx) mx = log_w[k];  // NaN compares false: never the max
  if (!(mx > -std::numeric_limits<double>::infinity()) || std::isinf(mx)) return std::nan("");
  return mx;
}

// Ancestor sweep over ascending targets from target(m), m = 0..count-1.
template <typename Target>
void sweep(const uint64_t* cdf, int64_t n, int64_t count, Target&& target, int32_t* ancestors) {
  int64_t k = 0;
  for (int64_t m = 0; m < count; ++m) {
    const uint64_t t = target(m);
    while (k < n - 1 && cdf[k] <= t) ++k;
    ancestors[m] = static_cast<int32_t>(k);
  }
}

// Sorted uniforms in O(count) (MATH.md §5, multinomial): normalised cumulative sums of
// count + 1 Exp(1) draws, stream elements 0..count, in fixed point. emit(m, position).
template <typename Emit>
void sorted_positions(const StreamKey& s, int64_t count, Emit&& emit) {
  const int shift = exp_sum_shift(count + 1);
  uint64_t total = 0;
  WordCursor first(s), second(s);
  for (int64_t m = 0; m <= count; ++m) total += fixed_exp1(first.at(static_cast<uint64_t>(m)), shift);
  uint64_t run = 0;
  for (int64_t m = 0; m < count; ++m) {
    run += fixed_exp1(second.at(static_cast<uint64_t>(m)), shift);
    emit(m, sorted_position(run, total));
  }
}

}  // namespace

// Cloned per instruction set so the weight loop (branch-free exp) runs in SIMD lanes;
// the arithmetic is IEEE-exact per operation (no contraction), so every clone agrees.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) uint64_t fixed_cumulative_weights(
    const double* log_w, int64_t n, uint64_t* cdf) {
  const double mx = max_log_weight(log_w, n);
  if (mx != mx) return 0;
  // Coarse pass (the shift); the weights wait in cdf as double bits for the fine pass.
  uint64_t coarse = 0;
  for (int64_t k = 0; k < n; ++k) {
    const double w = relative_weight(log_w[k], mx);
    coarse += coarse_weight(w);
    cdf[k] = double_bits(w);
  }
  const int shift = weight_shift(coarse, n);
  uint64_t run = 0;
  for (int64_t k = 0; k < n; ++k) {
    run += fixed_weight(bits_double(cdf[k]), shift);
    cdf[k] = run;
  }
  return run;
}

bool resample_run(ResamplingScheme scheme, const double* log_w, int64_t n, const StreamKey& s, uint64_t* cdf,
                  int32_t* ancestors) {
  if (n <= 0) return false;
  const uint64_t total = fixed_cumulative_weights(log_w, n, cdf);
  if (total == 0) return false;
  const double inv_n = 1.0 / static_cast<double>(n);
  switch (scheme) {
    case ResamplingScheme::kSystematic: {
      const double u = uniform01_open_right_d(word_at(s, 0));
      sweep(cdf, n, n,
            [&](int64_t m) { return position_target(fixed_position((u + static_cast<double>(m)) * inv_n), total); },
            ancestors);
      return true;
    }
    case ResamplingScheme::kStratified: {
      WordCursor words(s);
      sweep(cdf, n, n,
            [&](int64_t m) {
              const double u = uniform01_open_right_d(words.at(static_cast<uint64_t>(m)));
              return position_target(fixed_position((u + static_cast<double>(m)) * inv_n), total);
            },
            ancestors);
      return true;
    }
    case ResamplingScheme::kMultinomial: {
      // Targets are generated in order inside the sweep: no buffer of n positions.
      int64_t k = 0;
      sorted_positions(s, n, [&](int64_t m, uint64_t p) {
        const uint64_t t = position_target(p, total);
        while (k < n - 1 && cdf[k] <= t) ++k;
        ancestors[m] = static_cast<int32_t>(k);
      });
      return true;
    }
    case ResamplingScheme::kResidual: {
      // floor(N W_k) copies, exactly in integers (equal weights keep every particle once
      // at any N), then the remainder multinomially on the fractional parts (MATH.md §5).
      int64_t out = 0;
      uint64_t prev = 0, residual_run = 0;
      for (int64_t k = 0; k < n; ++k) {
        const uint64_t q = cdf[k] - prev;
        prev = cdf[k];
        uint64_t remainder = 0;
        const uint64_t copies = residual_copies(q, n, total, &remainder);
        for (uint64_t c = 0; c < copies; ++c) ancestors[out++] = static_cast<int32_t>(k);
        residual_run += residual_fraction(remainder, total);
        cdf[k] = residual_run;  // reuse the scratch for the residual CDF
      }
      const int64_t remaining = n - out;
      if (remaining == 0) return true;
      // remaining > 0 leaves a fractional part of at least 1/N somewhere, so the residual
      // total is positive (resampling_math.h); its targets never reach a zero residual.
      const uint64_t rtotal = cdf[n - 1];
      int64_t k = 0;
      sorted_positions(s, remaining, [&](int64_t m, uint64_t p) {
        const uint64_t t = position_target(p, rtotal);
        while (k < n - 1 && cdf[k] <= t) ++k;
        ancestors[out + m] = static_cast<int32_t>(k);
      });
      return true;
    }
  }
  return false;
}

int64_t draw_one(const double* log_w, int64_t n, const StreamKey& s) {
  if (n <= 0) return -1;
  const double mx = max_log_weight(log_w, n);
  if (mx != mx) return -1;
  uint64_t coarse = 0;
  for (int64_t k = 0; k < n; ++k) coarse += coarse_weight(relative_weight(log_w[k], mx));
  const int shift = weight_shift(coarse, n);
  uint64_t total = 0;
  for (int64_t k = 0; k < n; ++k) total += fixed_weight(relative_weight(log_w[k], mx), shift);
  const uint64_t t = position_target(fixed_position(uniform01_open_right_d(word_at(s, 0))), total);
  uint64_t run = 0;
  for (int64_t k = 0; k < n - 1; ++k) {
    run += fixed_weight(relative_weight(log_w[k], mx), shift);
    if (run > t) return k;
  }
  return n - 1;
}

}  // namespace condiff
