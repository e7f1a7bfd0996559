#include "smc_step.h"

namespace condiff {

StepResult bootstrap_step(const Batch& b, const Coordinates& c, const BootstrapArrays& x, const BootstrapParams& p,
                          Threads threads) {
  const int64_t elements = b.runs * b.particles * b.dim;
  const int64_t bad = kernel_mean_batch(x.z, x.score, elements, p.a, p.b, x.mu, threads);
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

StepResult choose_by_weight(const Batch& b, const double* log_w, const StreamKey& stream, int32_t* chosen) {
  for (int64_t r = 0; r < b.runs; ++r) {
    const int64_t k = draw_one(log_w + r * b.particles, b.particles, stream_for_run(stream, b, r));
    if (k < 0) return {StepStatus::kWeightsDegenerate, r};
    chosen[r] = static_cast<int32_t>(k);
  }
  return {};
}

}  // namespace condiff
