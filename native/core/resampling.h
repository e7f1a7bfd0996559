// The four resampling schemes of MATH.md §5 (N weights in, N ancestors out), all O(N),
// with the cumulative weights in float64 and positions scaled by C_N so that no
// zero-weight particle is ever chosen (MATH.md §5b).
#pragma once
#include <cstdint>

#include "rng.h"

namespace condiff {

enum class ResamplingScheme : int { kSystematic = 0, kStratified = 1, kMultinomial = 2, kResidual = 3 };

// Resamples one run. `log_w` are log-weights (need not be normalised; -inf allowed),
// `cdf` is caller-provided scratch of n doubles. Uniforms come from `stream`
// (element m = the m-th uniform of this call). Returns false when no weight is
// positive and finite (nothing to draw from).
bool resample_run(ResamplingScheme scheme, const double* log_w, int64_t n, const StreamKey& stream, double* cdf,
                  int32_t* ancestors);

// Draws one index by weight: the smallest k with C_k > u C_N, u ~ U[0,1) from
// stream element 0. Returns -1 when no weight is positive.
int64_t draw_one(const double* log_w, int64_t n, const StreamKey& stream);

}  // namespace condiff
