// The bootstrap filter's fused step and its output choice (native/core/smc_step.h) on the
// CPU: argument parsing and the job only; the step itself is core code with a typed
// result that settles as { status, index } (job.h).
#include <iterator>
#include <memory>
#include <string>

#include "job.h"
#include "op_args.h"
#include "ops.h"
#include "smc_step.h"

namespace condiff_binding {
namespace {

using namespace condiff;

// smcStep(batch, latent, observed, z, score, a, b, mu, yPerRun, variance, logWeights,
//         increment, essThreshold, logEvidenceIncrement, ess, resampleFlags, scheme,
//         resamplingStream, scratch, ancestors, noiseScale, kernelStream, threads
//         [, mixture, alpha, sigma2])
//   -> Promise<{ status, index }>
// With a GaussianMixture (and its level alpha, sigma2), the step scores z itself, each
// run's rows where it uses them, and `score` must be `mu`: the score of a run whose score
// is not finite is left there ('score-not-finite' names the element).
struct SmcStepArgs : BatchCoords {
  View<float> z, score, mu, y;
  View<double> log_w, increment, evidence, ess, scratch;
  View<uint8_t> flags;
  View<int32_t> ancestors;
  BootstrapParams params;
  Threads threads;
  std::shared_ptr<const GaussianMixture> mixture;
  double alpha = 0.0, sigma2 = 0.0;
};

SmcStepArgs parse_smc_step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SmcStepArgs a;
  a.read_batch_coords(info);
  const Batch& b = a.batch.b;
  a.z = float32_array(info[3], "z");
  a.score = float32_array(info[4], "score");
  BootstrapParams& p = a.params;
  p.a = finite_number(info[5], "a");
  p.b = finite_number(info[6], "b");
  a.mu = float32_array(info[7], "mu");
  a.y = float32_array(info[8], "yPerRun");
  p.variance = positive_arg(info[9], "variance");
  a.log_w = float64_array(info[10], "logWeights");
  a.increment = float64_array(info[11], "increment");
  p.ess_threshold = ess_threshold_arg(info[12]);
  a.evidence = float64_array(info[13], "logEvidenceIncrement");
  a.ess = float64_array(info[14], "ess");
  a.flags = uint8_array(info[15], "resampleFlags");
  p.scheme = scheme_arg(info[16]);
  p.resampling = stream_arg(info[17]);
  a.scratch = float64_array(info[18], "scratch");
  a.ancestors = int32_array(info[19], "ancestors");
  p.noise_scale = nonnegative_arg(info[20], "noiseScale");
  p.kernel_noise = stream_arg(info[21]);
  a.threads = threads_arg(info[22]);
  if (!info[23].IsUndefined()) {
    a.mixture = mixture_model(info[23]);
    if (a.mixture == nullptr) throw_type(env, "mixture must be a GaussianMixture, got " + describe(info[23]));
    if (a.mixture->dim() != b.dim)
      throw_range(env, "mixture must have the batch's dimension " + std::to_string(b.dim) + ", got " +
                           std::to_string(a.mixture->dim()));
    a.alpha = positive_arg(info[24], "alpha");
    a.sigma2 = nonnegative_arg(info[25], "sigma2");
    if (!same_memory(span_of(a.score), span_of(a.mu)))
      throw_range(env, "score must be mu itself when the step scores with a mixture");
  }
  require_state(env, a.z, b);
  require_state(env, a.score, b);
  require_state(env, a.mu, b);
  require_context(env, a.y, b, a.c.observed.length);
  require_rows(env, a.log_w, b);
  require_rows(env, a.increment, b);
  require_runs(env, a.evidence, b);
  require_runs(env, a.ess, b);
  require_runs(env, a.flags, b);
  require_rows(env, a.scratch, b);
  require_rows(env, a.ancestors, b);
  // Every array written is disjoint from every other array (z is read, then written last),
  // except that mu may be the score buffer itself (the kernel mean is computed in place).
  if (!same_memory(span_of(a.mu), span_of(a.score))) require_disjoint(env, a.mu, a.score);
  require_all_disjoint(env, a.mu, a.z, a.log_w, a.increment, a.evidence, a.ess, a.flags, a.scratch, a.ancestors, a.y,
                       a.c.latent, a.c.observed, a.batch.run_keys);
  require_apart_from(env, a.score, a.z, a.log_w, a.increment, a.evidence, a.ess, a.flags, a.scratch, a.ancestors);
  return a;
}

Napi::Value SmcStep(const Napi::CallbackInfo& info) {
  SmcStepArgs a = parse_smc_step(info);
  Async call = async_call(info, a.z.length * 4);
  read_batch_coords(call, a);
  call.update(a.z);
  call.read(a.score);
  call.update(a.mu);  // possibly the score's memory itself: one copy, read then written
  call.read(a.y);
  call.update(a.log_w);
  call.update(a.increment);
  call.update(a.evidence);
  call.update(a.ess);
  call.update(a.flags);
  call.update(a.scratch);
  call.update(a.ancestors);
  return call.run([a](JobError&) {
    BootstrapParams params = a.params;
    RowScore row_score;
    PreparedScore prepared;
    if (a.mixture != nullptr) {
      prepared = a.mixture->prepare_score(a.alpha, a.sigma2, a.threads);
      const GaussianMixture* m = a.mixture.get();
      const PreparedScore* q = &prepared;
      row_score.rows = [m, q](const float* z, int64_t n, float* out, float* scratch) {
        return m->score_rows(*q, z, n, out, scratch);
      };
      row_score.scratch_floats = prepared.scratch_floats;
      params.score = &row_score;
    }
    BootstrapArrays x;
    x.z = a.z.data;
    x.score = a.mixture != nullptr ? nullptr : a.score.data;
    x.mu = a.mu.data;
    x.y_per_run = a.y.data;
    x.log_w = a.log_w.data;
    x.increment = a.increment.data;
    x.log_evidence_inc = a.evidence.data;
    x.ess = a.ess.data;
    x.resample_flags = a.flags.data;
    x.cdf = reinterpret_cast<uint64_t*>(a.scratch.data);  // fixed-point CDF, 8 bytes a particle
    x.ancestors = a.ancestors.data;
    return bootstrap_step(a.batch.b, a.c.core(), x, params, a.threads);
  });
}

// chooseByWeight(batch, logWeights, stream, out Int32Array(runs)) -> { status, index }.
// Sync: O(runs x particles).
Napi::Value ChooseByWeight(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const BatchArg batch = batch_arg(info[0]);
  const Batch& b = batch.b;
  const View<double> log_w = float64_array(info[1], "logWeights");
  const StreamKey stream = stream_arg(info[2]);
  const View<int32_t> out = int32_array(info[3], "out");
  require_length(env, log_w, b.runs * b.particles, "runs x particles");
  require_length(env, out, b.runs, "one per run");
  require_disjoint_from(env, out, log_w, batch.run_keys);
  return run_sync(env, op_name(info), [&](JobError&) { return choose_by_weight(b, log_w.data, stream, out.data); });
}

const OpEntry kOps[] = {
    {"smcStep", SmcStep},
    {"chooseByWeight", ChooseByWeight},
};

}  // namespace

OpTable filter_ops() { return {kOps, std::size(kOps)}; }

}  // namespace condiff_binding
