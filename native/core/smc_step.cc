#include "smc_step.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <vector>

#include "finite.h"
#include "isa.h"
#include "kernels.h"
#include "parallel.h"
#include "weights.h"

namespace condiff {

namespace {

// A run's kernel means stay in a worker's buffer while the run is weighed, resampled and
// moved: every stage then reads memory the one before left in cache, and the state is read
// and written once per step instead of five times (mean, weights, gather, move).
// Up to this many floats of means per run (512 KB); larger runs take the batch path, whose
// stages each split a run across the threads.
constexpr int64_t kRunMeansFloats = int64_t{1} << 17;
// Below this a run's normals are mostly thrown away per run (64-element groups): the
// batch path draws such runs sixteen at a time.
constexpr int64_t kRunMeansMinFloats = 256;
// Rows moved per block: their normals and outputs stay in L1.
constexpr int64_t kMoveBlockFloats = 2048;
int64_t move_block_rows(int64_t dim) { return std::max<int64_t>(1, kMoveBlockFloats / dim); }

// Runs of fewer rows than this are scored a group at a time (about this many rows): the
// mixture's structured kernels take 32 rows at once (mixture_structured.h
// score_pair_structured), and a 16-particle run alone would leave that unused. Only while a
// group's state and score stay small (kScoreGroupFloats each): at D = 800 two 16-particle
// runs (100 KB of score) made the filter step 11% slower, the later run's rows and score
// no longer in L1 when its stages ran.
constexpr int64_t kScoreGroupRows = 32;
constexpr int64_t kScoreGroupFloats = int64_t{1} << 13;
int64_t score_group_runs(int64_t particles, int64_t per_run) {
  return std::max<int64_t>(1, std::min(kScoreGroupRows / particles, kScoreGroupFloats / per_run));
}

// A batch this small (floats of state) runs each batch-path stage on one thread anyway
// (particles.cc's elementwise grain), so the per-run path costs it no parallelism.
constexpr int64_t kOneThreadBatchFloats = int64_t{1} << 18;

// Asks for the rows the next run or block will score while this one computes: the hardware
// prefetchers run only a few lines ahead of a stream, and the score spends long enough on
// each 16-row block that its next rows arrive late. Into L1 when they fit beside the
// worker's buffers, else into L2. A third of the lines at a time, between this run's stages
// (part 0, 1, 2): asked for all at once they filled the line-fill buffers and stalled the
// worker until they arrived (on a Xeon, ~9% of a D = 80 filter step's samples in that loop).
// Measured in thirds against the burst, J = 25, 2 threads: the filter step 0-2% less time at
// D = 80 and ~4% at D = 800, replacement's move ~4% at D = 80 and level at D = 800.
class NextRows {
 public:
  NextRows(const float* p, int64_t floats)
      : c_(reinterpret_cast<const char*>(p)), lines_(p == nullptr ? 0 : (floats * 4 + 63) / 64), l1_(floats * 4 <= (int64_t{16} << 10)) {}
  void part(int k) const {
    const int64_t from = lines_ * k / 3, to = lines_ * (k + 1) / 3;
    if (l1_) {
      for (int64_t l = from; l < to; ++l) __builtin_prefetch(c_ + 64 * l, 0, 3);
    } else {
      for (int64_t l = from; l < to; ++l) __builtin_prefetch(c_ + 64 * l, 0, 2);
    }
  }

 private:
  const char* c_;
  int64_t lines_;
  bool l1_;
};

// The kernel mean of a run or block (kernels.h kernel_mean_value, so kernel_mean's bits) and
// whether any of it is not finite (finite.h not_finite_bit), in one pass: the check does not
// read the means again.
CONDIFF_ROW_CLONES bool kernel_mean_any_non_finite(const float* z, const float* s, float a, float b, float* mu,
                                                   int64_t count) {
  uint32_t bad = 0;
  for (int64_t i = 0; i < count; ++i) {
    const float v = kernel_mean_value(z[i], s[i], a, b);
    mu[i] = v;
    bad |= not_finite_bit(v);
  }
  return bad != 0;
}

// One run, each stage as the batch call computes it for that run (the same bits), from its
// score s (finite). `blocks`: latent_blocks, the normals its move uses (all of them when empty).
CONDIFF_ROW_CLONES StepStatus bootstrap_run(const Batch& b, const Coordinates& c, const BootstrapArrays& x,
                         const BootstrapParams& p, double log_norm, int64_t r, const float* s, float* mu, float* xi,
                         const LatentBlocks& blocks, const NextRows& next, std::atomic<int64_t>& bad_mean) {
  const int64_t n = b.particles, D = b.dim, per_run = n * D, row0 = r * n;
  const float* z = x.z + row0 * D;
  next.part(0);
  const bool mean_not_finite = kernel_mean_any_non_finite(z, s, static_cast<float>(p.a), static_cast<float>(p.b), mu, per_run);
  next.part(1);
  if (mean_not_finite) {
    note_first_non_finite(mu, 0, per_run, row0 * D, bad_mean);
    // The driver names the value: the run's means where the batch call would have put them.
    std::copy(mu, mu + per_run, x.mu + row0 * D);
    return StepStatus::kKernelMeanNotFinite;
  }
  const float* y = x.y_per_run + r * c.n_observed;
  gaussian_y_log_weights_rows(c, mu, D, n, y, p.variance, log_norm, x.increment + row0);
  double* log_w = x.log_w + row0;
  const ReweightResult w = reweight_run(log_w, x.increment + row0, n);
  if (!w.ok) return StepStatus::kWeightsDegenerate;
  x.log_evidence_inc[r] = w.log_evidence_increment;
  x.ess[r] = w.ess;
  const bool resample = resample_wanted(w.ess, p.ess_threshold, n);
  x.resample_flags[r] = resample ? 1 : 0;
  int32_t* anc = x.ancestors + row0;
  if (resample) {
    if (!resample_run(p.scheme, log_w, n, stream_for_run(p.resampling, b, r), x.cdf + row0, anc)) {
      return StepStatus::kResamplingFailed;
    }
    reset_log_weights(log_w, n);
  } else {
    for (int64_t k = 0; k < n; ++k) anc[k] = static_cast<int32_t>(k);
  }
  next.part(2);
  NormalCursor normals(stream_for_run(p.kernel_noise, b, r));
  const int64_t block = move_block_rows(D);
  for (int64_t k = 0; k < n; k += block) {
    const int64_t count = std::min(block, n - k);
    propagate_rows(c, D, count, mu, anc + k, p.noise_scale, y, &normals, static_cast<uint64_t>(k * D), xi,
                   x.z + (row0 + k) * D, blocks);
  }
  return StepStatus::kOk;
}

// The step run by run (see kRunMeansFloats). Every run is taken through every stage its
// own outcome allows, so the reported failure is the batch path's: the first non-finite
// mean, else the first run without weight, else the first that resampling failed.
StepResult bootstrap_step_by_run(const Batch& b, const Coordinates& c, const BootstrapArrays& x,
                                 const BootstrapParams& p, Threads threads) {
  const double log_norm = gaussian_log_norm(c.n_observed, p.variance);
  const int64_t per_run = b.particles * b.dim;
  std::vector<StepStatus> status(b.runs, StepStatus::kOk);
  constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
  std::atomic<int64_t> bad_score{kNone}, bad_mean{kNone};
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / per_run);
  const LatentBlocks blocks = p.noise_scale > 0.0 ? latent_blocks(c, b.dim) : LatentBlocks{};
  // Runs scored together (kScoreGroupRows); each is then taken through its stages alone.
  const int64_t group = p.score != nullptr ? score_group_runs(b.particles, per_run) : 1;
  parallel_for(b.runs, threads, grain, [&](int64_t begin, int64_t end, int) {
    std::vector<float> mu(per_run), xi(move_block_rows(b.dim) * b.dim);
    std::vector<float> score(p.score != nullptr ? group * per_run : 0);
    std::vector<float> scratch(p.score != nullptr ? p.score->scratch_floats : 0);
    for (int64_t r0 = begin; r0 < end; r0 += group) {
      const int64_t m = std::min(group, end - r0);
      const float* s = x.score == nullptr ? nullptr : x.score + r0 * per_run;
      if (p.score != nullptr) {
        // A failed group is scored again run by run: the score stops at its first
        // non-finite block, and every run must be named or taken on by its own score.
        const bool failed = p.score->rows(x.z + r0 * per_run, m * b.particles, score.data(), scratch.data()) >= 0;
        for (int64_t k = 0; failed && k < m; ++k) {
          float* sk = score.data() + k * per_run;
          const int64_t bad = p.score->rows(x.z + (r0 + k) * per_run, b.particles, sk, scratch.data());
          if (bad < 0) continue;
          note_min_index(bad_score, (r0 + k) * per_run + bad);
          std::copy(sk, sk + per_run, x.mu + (r0 + k) * per_run);  // the driver names the value
          status[r0 + k] = StepStatus::kScoreNotFinite;
        }
        s = score.data();
      }
      for (int64_t k = 0; k < m; ++k) {
        const int64_t r = r0 + k;
        if (status[r] != StepStatus::kOk) continue;
        // Run k of the next group's rows, asked for while this group's run k is computed.
        const int64_t ahead = r + m;
        const NextRows next(ahead < end ? x.z + ahead * per_run : nullptr, per_run);
        status[r] = bootstrap_run(b, c, x, p, log_norm, r, s + k * per_run, mu.data(), xi.data(), blocks, next, bad_mean);
      }
    }
  });
  if (bad_score.load() != kNone) return {StepStatus::kScoreNotFinite, bad_score.load()};
  if (bad_mean.load() != kNone) return {StepStatus::kKernelMeanNotFinite, bad_mean.load()};
  for (const StepStatus want : {StepStatus::kWeightsDegenerate, StepStatus::kResamplingFailed})
    for (int64_t r = 0; r < b.runs; ++r)
      if (status[r] == want) return {want, r};
  return {};
}

}  // namespace

StepResult bootstrap_step(const Batch& b, const Coordinates& c, const BootstrapArrays& x, const BootstrapParams& p,
                          Threads threads) {
  const int64_t per_run = b.particles * b.dim;
  // Run by run when every worker has runs of its own, or when the batch path would run on
  // one thread anyway (elementwise work below its grain).
  const bool by_run = per_run >= kRunMeansMinFloats && per_run <= kRunMeansFloats &&
                      (b.runs >= 2 * static_cast<int64_t>(threads.count) || b.runs * per_run <= kOneThreadBatchFloats);
  if (by_run) return bootstrap_step_by_run(b, c, x, p, threads);
  const int64_t elements = b.runs * per_run;
  const float* score = x.score;
  if (p.score != nullptr) {
    // The whole batch's score into mu, then the kernel mean in place.
    const int64_t rows = b.runs * b.particles;
    const int64_t block_rows = std::max<int64_t>(16, (int64_t{1} << 14) / b.dim);
    std::atomic<int64_t> bad_score{std::numeric_limits<int64_t>::max()};
    parallel_for((rows + block_rows - 1) / block_rows, threads, 1, [&](int64_t begin, int64_t end, int) {
      std::vector<float> scratch(p.score->scratch_floats);
      const int64_t r0 = begin * block_rows, n = std::min(rows, end * block_rows) - r0;
      const int64_t bad = p.score->rows(x.z + r0 * b.dim, n, x.mu + r0 * b.dim, scratch.data());
      if (bad >= 0) note_min_index(bad_score, r0 * b.dim + bad);
    });
    if (bad_score.load() != std::numeric_limits<int64_t>::max()) return {StepStatus::kScoreNotFinite, bad_score.load()};
    score = x.mu;
  }
  const int64_t bad = kernel_mean_batch(x.z, score, elements, p.a, p.b, x.mu, threads);
  if (bad >= 0) return {StepStatus::kKernelMeanNotFinite, bad};
  gaussian_y_log_weights(b, c, x.mu, x.y_per_run, p.variance, x.increment, threads);
  const int64_t failed =
      reweight_batch(b, x.log_w, x.increment, p.ess_threshold, x.log_evidence_inc, x.ess, x.resample_flags, threads);
  if (failed >= 0) return {StepStatus::kWeightsDegenerate, failed};
  bool any = false;
  for (int64_t r = 0; r < b.runs; ++r) any = any || x.resample_flags[r] != 0;
  if (any) {
    const int64_t none =
        resample_batch(b, p.scheme, x.resample_flags, p.resampling, x.log_w, x.cdf, x.ancestors, threads);
    if (none >= 0) return {StepStatus::kResamplingFailed, none};
  }
  propagate(b, c, x.mu, any ? x.ancestors : nullptr, p.noise_scale, x.y_per_run, p.kernel_noise, x.z, threads);
  return {};
}

StepResult move_step(const Batch& b, const Coordinates& c, const MoveArrays& x, const MoveParams& p, Threads threads) {
  const int64_t D = b.dim, rows = b.runs * b.particles;
  // Whole 16-row score blocks (kScoreBlock) of about kMoveBlockFloats, and whole runs where
  // the move draws sixteen runs' normals at a time.
  const int64_t unit = propagate_range_unit(b, p.noise_scale);
  int64_t block = std::max<int64_t>(p.score != nullptr && D * kScoreGroupRows <= kScoreGroupFloats ? kScoreGroupRows : 16,
                                    kMoveBlockFloats / D / 16 * 16);
  block = (block + unit - 1) / unit * unit;
  const int64_t blocks = (rows + block - 1) / block;
  constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
  std::atomic<int64_t> bad_score{kNone}, bad_mean{kNone};
  const LatentBlocks latent = p.noise_scale > 0.0 ? latent_blocks(c, D) : LatentBlocks{};
  parallel_for(blocks, threads, std::max<int64_t>(1, (int64_t{1} << 16) / (block * D)), [&](int64_t begin, int64_t end, int) {
    std::vector<float> score(p.score != nullptr ? block * D : 0), mu(block * D);
    std::vector<float> scratch(p.score != nullptr ? p.score->scratch_floats : 0);
    std::vector<float> xi(propagate_range_scratch(b, p.noise_scale));
    for (int64_t k = begin; k < end; ++k) {
      const int64_t r0 = k * block, n = std::min(rows, r0 + block) - r0, count = n * D;
      const float* z = x.z + r0 * D;
      const float* s = x.score == nullptr ? nullptr : x.score + r0 * D;
      const NextRows next(k + 1 < end ? x.z + (r0 + n) * D : nullptr, (std::min(rows, r0 + n + block) - r0 - n) * D);
      if (p.score != nullptr) {
        const int64_t bad = p.score->rows(z, n, score.data(), scratch.data());
        if (bad >= 0) {
          note_min_index(bad_score, r0 * D + bad);
          std::copy(score.begin(), score.begin() + count, x.mu + r0 * D);  // the driver names the value
          continue;
        }
        s = score.data();
      }
      next.part(0);
      const bool mean_not_finite =
          kernel_mean_any_non_finite(z, s, static_cast<float>(p.a), static_cast<float>(p.b), mu.data(), count);
      next.part(1);
      if (mean_not_finite) {
        const int64_t bad = first_non_finite(mu.data(), count);
        note_min_index(bad_mean, r0 * D + bad);
        std::copy(mu.begin(), mu.begin() + count, x.mu + r0 * D);
        continue;
      }
      next.part(2);
      propagate_range(b, c, r0, r0 + n, mu.data(), p.noise_scale, x.y_per_run, p.kernel_noise, latent, xi.data(), x.z);
    }
  });
  if (bad_score.load() != kNone) return {StepStatus::kScoreNotFinite, bad_score.load()};
  if (bad_mean.load() != kNone) return {StepStatus::kKernelMeanNotFinite, bad_mean.load()};
  return {};
}

StepResult choose_by_weight(const Batch& b, const double* log_w, const StreamKey& stream, int32_t* chosen) {
  for (int64_t r = 0; r < b.runs; ++r) {
    const int64_t k = draw_one(log_w + r * b.particles, b.particles, stream_for_run(stream, b, r));
    if (k < 0) return {StepStatus::kWeightsDegenerate, r};
    chosen[r] = static_cast<int32_t>(k);
  }
  return {};
}

}  // namespace condiff
