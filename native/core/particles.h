// Batched particle operations of the samplers (MATH.md §2, §3): a batch is `runs`
// independent runs of `n` particles each, stored as rows of a (runs * n) x D float32
// matrix. Row r*n + k is particle k of run r. Random numbers follow MATH.md §6 with
// the stream of run r (batch.h: run word run_offset + r, or the run's row of the batch's
// run-key table) and element = k * D + coordinate, so a run's draws do not depend on how
// runs are batched or on the thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "batch.h"
#include "normals.h"
#include "resampling.h"
#include "rng.h"
#include "worker_pool.h"

namespace condiff {

struct Coordinates {
  const int32_t* latent;    // X coordinates
  int64_t n_latent;
  const int32_t* observed;  // Y coordinates
  int64_t n_observed;
};

// z[row, X] ~ N(0, I) (purpose kInitial), z[row, Y] = y_per_run[run] (runs x d_Y).
void init_state(const Batch& b, const Coordinates& c, const float* y_per_run, StreamKey stream, float* z,
                Threads threads);

// Forward context path (MATH.md §3): path[r, 0, :] = y0, and for i = 1..steps
// path[r, i] = alpha_ts[i-1] path[r, i-1] + sqrt(sigma2_ts[i-1]) xi_i, xi_i with
// step word i and element j. path is (steps + 1) x runs x d_Y, so the context of all
// runs at grid index i is the contiguous slice [i * runs * d_Y, (i + 1) * runs * d_Y).
// run_keys, optional (runs x kRunKeyWords, batch.h), replaces the key and run word of
// run r as in a Batch.
void forward_context_path(const float* y0, int64_t d_obs, int64_t runs, uint32_t run_offset, int64_t steps,
                          const double* alpha_ts, const double* sigma2_ts, StreamKey stream, float* path, Threads threads,
                          const uint32_t* run_keys = nullptr);

// Grid indices first + 1 .. first + count of the forward context path, from every run's
// context at grid index `first` (start: runs x d_Y): out holds count slices of runs x d_Y,
// slice q at grid index first + 1 + q, with the values forward_context_path gives those
// slices (alpha_ts and sigma2_ts indexed as there). A caller can so keep a few slices of a
// long path and regenerate the others from them when it needs them.
void forward_context_segment(const float* start, int64_t d_obs, int64_t runs, uint32_t run_offset, int64_t first,
                             int64_t count, const double* alpha_ts, const double* sigma2_ts, StreamKey stream,
                             float* out, Threads threads, const uint32_t* run_keys = nullptr);

// mu = a z + b score over every element (MATH.md §2).
// Returns the index of the first non-finite mean, or -1.
int64_t kernel_mean_batch(const float* z, const float* score, int64_t count, double a, double b, float* mu,
                          Threads threads);

// log N(y; mu_Y, v I) of `count` consecutive rows of one run (mu: the first row, `dim`
// floats a row), with log_norm = gaussian_log_norm(d_Y, v): gaussian_y_log_weights' values.
void gaussian_y_log_weights_rows(const Coordinates& c, const float* mu, int64_t dim, int64_t count, const float* y,
                                 double v, double log_norm, double* out);

// log N(y_s[run]; mu_Y, v I) per particle, float64 (MATH.md §3).
void gaussian_y_log_weights(const Batch& b, const Coordinates& c, const float* mu, const float* y_per_run, double v,
                            double* out, Threads threads);

// Per run: log_w <- normalised(log_w + increment); writes the log-evidence increment,
// the ESS and whether ESS < tau * n. Returns -1, or the first run whose weights are
// all -inf/NaN (MATH.md §4: reported, never drawn uniformly).
int64_t reweight_batch(const Batch& b, double* log_w, const double* increment, double tau, double* log_evidence_inc,
                       double* ess, uint8_t* resample_flag, Threads threads);

// Resamples the runs whose flag is set (ancestor indices are within the run); other
// runs get the identity. Resampled runs get log_w = -log n. cdf is n * runs scratch
// (the fixed-point cumulative weights of resampling_math.h).
// Returns -1 or the first run with no positive weight.
int64_t resample_batch(const Batch& b, ResamplingScheme scheme, const uint8_t* flags, StreamKey stream,
                       double* log_w, uint64_t* cdf, int32_t* ancestors, Threads threads);

// z_out[row, X] = mu[ancestor row, X] + noise_scale * xi (purpose kKernelNoise, element
// k*D + coordinate of the *new* particle k); z_out[row, Y] = y_per_run[run].
// ancestors may be null (identity). noise_scale = 0 gives the noiseless last step.
void propagate(const Batch& b, const Coordinates& c, const float* mu, const int32_t* ancestors, double noise_scale,
               const float* y_per_run, StreamKey stream, float* z_out, Threads threads);

// The latent coordinates as maximal spans of consecutive indices, in c.latent's order: a
// loop over a span vectorises where one through the index list cannot, and the order of
// the elements (so every sum over them) is the list's.
struct Span {
  int32_t begin, end;
};
std::vector<Span> latent_spans(const Coordinates& c);

// The Philox blocks (block b: elements 4 b .. 4 b + 3, element = row dim + coordinate) of a
// run's rows that hold a latent coordinate: the normals a move uses (its observed coordinates
// are set, not drawn). A pattern of ascending stretches that repeats every `period` blocks
// (4 / gcd(D, 4) rows); empty (period 0: draw every block) where skipping the others would
// not pay for the list: fewer than a third of the blocks skipped, unless an eighth are in
// stretches of sixty-four blocks or more.
struct LatentBlocks {
  int64_t period = 0;
  std::vector<BlockRange> stretches;  // within one period
  bool empty() const { return period == 0; }
};
LatentBlocks latent_blocks(const Coordinates& c, int64_t dim);

// fn(BlockRange) for each stretch of `lb` (not empty) that meets blocks [first, last),
// clipped to them, in ascending order.
template <typename Fn>
void for_latent_stretches(const LatentBlocks& lb, uint64_t first, uint64_t last, Fn&& fn) {
  if (first >= last) return;
  const uint64_t period = static_cast<uint64_t>(lb.period);
  for (uint64_t p = first / period; p * period < last; ++p) {
    for (const BlockRange& s : lb.stretches) {
      const uint64_t lo = std::max<uint64_t>(first, p * period + s.first), hi = std::min<uint64_t>(last, p * period + s.last);
      if (lo < hi) fn(BlockRange{static_cast<uint32_t>(lo), static_cast<uint32_t>(hi)});
    }
  }
}

// propagate's values for `count` consecutive rows of one run, whose means are the run's
// rows `mu_run` (particles x dim) and ancestors `ancestors` (the rows', within the run):
// the normals are elements [first_element, first_element + count dim) of the run's stream,
// drawn through `normals` (that stream's cursor) into xi (count x dim scratch), only the
// latent coordinates' (`blocks`: latent_blocks; empty: every coordinate's).
void propagate_rows(const Coordinates& c, int64_t dim, int64_t count,
                    const float* mu_run, const int32_t* ancestors, double noise_scale, const float* y, NormalCursor* normals,
                    uint64_t first_element, float* xi, float* z_rows, const LatentBlocks& blocks);

// propagate without ancestors for rows [begin, end) of the batch, on the calling thread:
// the values propagate gives those rows, for a caller that splits the batch itself (the
// fused move step, smc_step.h). mu_rows holds those rows' means ((end - begin) x D); xi is
// propagate_range_scratch floats of scratch; blocks: latent_blocks(c, D), once per batch. When propagate_range_unit is more than 1 (the particles of a run, whose normals
// are drawn sixteen runs at a time), the range must hold whole runs.
int64_t propagate_range_unit(const Batch& b, double noise_scale);
int64_t propagate_range_scratch(const Batch& b, double noise_scale);
void propagate_range(const Batch& b, const Coordinates& c, int64_t begin, int64_t end,
                     const float* mu_rows, double noise_scale, const float* y_per_run, StreamKey stream,
                     const LatentBlocks& blocks, float* xi, float* z_out);

// Unadjusted Langevin on the X block (MATH.md §3, Algorithm 2):
//   X <- X + delta grad_X + sqrt(2 delta) xi.
// rule 0: delta = gamma (per-particle constant given in `gamma_or_r`, already gamma*sigma_s^2).
// rule 1: delta = 2 alpha (r ||xi|| / ||grad_X||)^2 per particle (Song et al. 2021, Alg. 5),
//         with r = gamma_or_r and alpha = snr_alpha.
void langevin_step(const Batch& b, const Coordinates& c, const float* score, int rule, double gamma_or_r,
                   double snr_alpha, StreamKey stream, float* z, Threads threads);

// RePaint re-noising of the X block from s to t: X_t = alpha_ts X_s + sqrt(sigma2_ts) xi;
// Y block set to y_per_run (the context at t).
void renoise(const Batch& b, const Coordinates& c, double alpha_ts, double sigma2_ts, const float* y_per_run,
             StreamKey stream, float* z, Threads threads);

// Index of the first non-finite element, or -1.
int64_t first_non_finite(const float* x, int64_t count, Threads threads);

// Converts a network output to a score (MATH.md §1): kind 0 score (copy), 1 epsilon
// (s = -eps / sigma), 2 x0 (s = (alpha x0 - z) / sigma^2).
void prediction_to_score(const float* z, const float* prediction, int64_t count, int kind, double alpha,
                         double sigma2, float* out, Threads threads);

// Row gather: out[i] = rows[ancestors[i]] (each row `dim` floats).
void gather_rows(const float* rows, int64_t dim, const int32_t* ancestors, int64_t count, float* out, Threads threads);

// Survivors stay in place (the gather that copies only the rows of particles that
// died): order gets the n ancestors (each in [0, n), any order) rearranged so that
// order[k] = k for every k that is an ancestor; the extra copies fill the other slots.
// The same multiset: the same resampled population. O(n), deterministic.
void survivor_order(const int32_t* ancestors, int64_t n, int32_t* order);

// The resampled population in place: rows[i] = rows[order[i]] with order from
// survivor_order(ancestors) (written to `order`), copying only the rows of particles that
// died. Sources are survivors and keep their rows, so any thread count gives the same rows.
void gather_rows_in_place(float* rows, int64_t dim, const int32_t* ancestors, int64_t count, int32_t* order,
                          Threads threads);

}  // namespace condiff
