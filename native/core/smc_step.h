// Steps of the bootstrap particle filter and of replacement (MATH.md §3) that the driver
// may run as one native call, and the filter's per-run output choice, with typed outcomes: a status and the
// index it concerns, never a magic number.
#pragma once
#include <cstdint>
#include <functional>

#include "batch.h"
#include "particles.h"
#include "resampling.h"
#include "rng.h"
#include "worker_pool.h"

namespace condiff {

// How a step ended. The binding names these for JS ('ok', 'kernel-mean-not-finite',
// 'weights-degenerate', 'resampling-failed').
enum class StepStatus : int {
  kOk = 0,
  kKernelMeanNotFinite = 1,  // index: flat element of the kernel mean (the score overflowed float32)
  kWeightsDegenerate = 2,    // index: run whose weights are all -inf or NaN (MATH.md §4)
  kResamplingFailed = 3,     // index: run in which resampling found no positive weight
  kScoreNotFinite = 4,       // index: flat element of the score (a step given a RowScore)
};

struct StepResult {
  StepStatus status = StepStatus::kOk;
  int64_t index = -1;  // what `status` concerns; -1 when kOk
};

// The arrays of one bootstrap step; every pointer is distinct memory except that `mu` may
// be `score` itself (the kernel mean is computed in place). Rows are runs x particles.
struct BootstrapArrays {
  float* z;                    // rows x D: Z_t in, Z_s out
  const float* score;          // rows x D: the score at Z_t
  float* mu;                   // rows x D: kernel means (see bootstrap_step)
  const float* y_per_run;      // runs x d_Y: the context at s
  double* log_w;               // rows: normalised log-weights, updated
  double* increment;           // rows: this step's log-potential (written)
  double* log_evidence_inc;    // runs (written)
  double* ess;                 // runs (written)
  uint8_t* resample_flags;     // runs (written)
  uint64_t* cdf;               // rows: resampling scratch
  int32_t* ancestors;          // rows (written where a run resamples)
};

// A score the step computes itself, a run's rows at a time where it uses them (the
// built-in mixture: GaussianMixture::score_rows on a PreparedScore). rows(z, n, out,
// scratch) writes the score of n rows of z and returns the flat index in them of the first
// non-finite value, or -1; each worker gives it scratch_floats of its own.
// Each row's score depends on that row alone (not on which rows are scored with it), so a
// step may score a run's rows in any grouping: the fused filter step scores several small
// runs in one call.
struct RowScore {
  std::function<int64_t(const float*, int64_t, float*, float*)> rows;
  int64_t scratch_floats = 0;
};

struct BootstrapParams {
  double a, b;             // kernel mean a z + b s (MATH.md §2)
  double variance;         // the Gaussian potential's variance (MATH.md §3)
  double ess_threshold;    // resample a run when ESS < threshold * N
  ResamplingScheme scheme;
  StreamKey resampling;    // MATH.md §5 draws (per run: batch.h)
  double noise_scale;      // sqrt(v), 0 for the noiseless last step
  StreamKey kernel_noise;  // MATH.md §2 draws (per run: batch.h)
  // When set, the step scores z itself and BootstrapArrays::score is not read; the score
  // of a run that fails it is left in mu (kScoreNotFinite names the element).
  const RowScore* score = nullptr;
};

// One bootstrap-filter step after the score (or with it, given p.score: a non-finite
// score is reported before anything else): kernel_mean_batch (checked),
// gaussian_y_log_weights, reweight_batch, resample_batch of the flagged runs and
// propagate, in that order, on the same arrays and streams, giving the same bits as those
// five calls (smc_step.cc says how: run by run, each run's means in a worker's buffer,
// or stage by stage over the batch). Runs that do not resample get identity ancestors.
// `mu` holds the kernel means afterwards only on the batch path; on kKernelMeanNotFinite it
// holds them for the run that failed. On any failure the outputs of the runs other than
// the one named are unspecified (the caller abandons the step), and z is unchanged only
// when every run failed at its mean.
StepResult bootstrap_step(const Batch& b, const Coordinates& c, const BootstrapArrays& x, const BootstrapParams& p,
                          Threads threads);

// The arrays of one move step (replacement's). Rows are runs x particles.
struct MoveArrays {
  float* z;                // rows x D: Z_t in, Z_s out
  const float* score;      // rows x D: the score at Z_t (not read given MoveParams::score)
  float* mu;               // rows x D: written only where the step fails (see move_step)
  const float* y_per_run;  // runs x d_Y: the context at s
};

struct MoveParams {
  double a, b;             // kernel mean a z + b s (MATH.md §2)
  double noise_scale;      // sqrt(v), 0 for the noiseless last step
  StreamKey kernel_noise;  // MATH.md §2 draws (per run: batch.h)
  const RowScore* score = nullptr;  // when set, the step scores z itself
};

// The backward kernel's step without weights (replacement, MATH.md §3, Algorithm 1): the
// score (given p.score), kernel_mean_batch (checked) and propagate without ancestors, in
// that order, giving the same bits as those calls, a block of rows at a time so that a
// block's score and means stay in a worker's buffers and the state is read and written
// once. Failures are those of the separate calls: the first non-finite score element
// (kScoreNotFinite), else the first non-finite mean (kKernelMeanNotFinite); mu then holds
// the failing block's score or means at their places, and z and the rest of mu are
// unspecified (the caller abandons the step).
StepResult move_step(const Batch& b, const Coordinates& c, const MoveArrays& x, const MoveParams& p, Threads threads);

// One particle per run drawn by its final weight, never uniformly (MATH.md §3): chosen[r]
// from draw_one with run r's stream (batch.h). kWeightsDegenerate names the first run with
// no positive weight; chosen is then filled only for the runs before it.
StepResult choose_by_weight(const Batch& b, const double* log_w, const StreamKey& stream, int32_t* chosen);

}  // namespace condiff
