// The four resampling schemes of MATH.md §5 (N weights in, N ancestors out), all O(N),
// with the cumulative weights in 64-bit fixed point (resampling_math.h, MATH.md §5b):
// exact sums, so the CUDA core's parallel scans give the same ancestors, and no
// zero-weight particle is ever chosen.
#pragma once
#include <cstdint>

#include "rng.h"
#include "worker_pool.h"

namespace condiff {

// The numbering is the one the addon exports as `codes.schemes`.
enum class ResamplingScheme : int { kSystematic = 0, kStratified = 1, kMultinomial = 2, kResidual = 3 };
constexpr int kResamplingSchemes = 4;

// Resamples one run. `log_w` are log-weights (need not be normalised; -inf allowed),
// `cdf` is caller-provided scratch of n words. Uniforms come from `stream`
// (element m = the m-th uniform of this call). Returns false when no weight is
// positive and finite (nothing to draw from). With more than one thread, the passes over
// the weights and the systematic/stratified sweep are split into fixed blocks: the sums
// are exact integers, so the ancestors are the same on any thread count.
// `draws`, optional (n + 1 words), lets multinomial and residual keep their Exp(1) draws
// between their two passes instead of drawing them twice; the ancestors are the same.
// `first_nan`, optional: a NaN log-weight then fails the call (false) and *first_nan
// receives its index (else -1), where without it a NaN weighs nothing (MATH.md §5). The
// check rides on the pass that finds the largest weight.
bool resample_run(ResamplingScheme scheme, const double* log_w, int64_t n, const StreamKey& stream, uint64_t* cdf,
                  int32_t* ancestors, const Threads& threads = Threads(1), uint64_t* draws = nullptr,
                  int64_t* first_nan = nullptr);

// Draws one index by weight: the smallest k with C_k > t for the position u ~ U[0,1) of
// stream element 0 (the systematic rule with one position). Returns -1 when no weight is
// positive.
int64_t draw_one(const double* log_w, int64_t n, const StreamKey& stream);

// The fixed-point cumulative weights C of one run (resampling_math.h) into cdf; returns
// the total T, or 0 when no weight is positive and finite, or, with `first_nan`, when a
// weight is NaN (its index then in *first_nan; else -1).
uint64_t fixed_cumulative_weights(const double* log_w, int64_t n, uint64_t* cdf, const Threads& threads = Threads(1),
                                  int64_t* first_nan = nullptr);

}  // namespace condiff
