// The bootstrap filter's and replacement's fused steps and the filter's output choice
// (native/core/smc_step.h) on the CPU: argument parsing and the job only; each step is core
// code with a typed result that settles as { status, index } (job.h).
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
// The optional trailing [mixture, alpha, sigma2] of a step that scores z itself (the
// built-in mixture at its level alpha, sigma2): `score` must then be `mu` itself.
struct MixtureArgs {
  std::shared_ptr<const GaussianMixture> mixture;
  double alpha = 0.0, sigma2 = 0.0;
};

MixtureArgs mixture_args(const Napi::CallbackInfo& info, size_t at, const Batch& b, const View<float>& score,
                         const View<float>& mu) {
  Napi::Env env = info.Env();
  MixtureArgs m;
  if (info[at].IsUndefined()) return m;
  m.mixture = mixture_model(info[at]);
  if (m.mixture == nullptr) throw_type(env, "mixture must be a GaussianMixture, got " + describe(info[at]));
  if (m.mixture->dim() != b.dim)
    throw_range(env, "mixture must have the batch's dimension " + std::to_string(b.dim) + ", got " +
                         std::to_string(m.mixture->dim()));
  m.alpha = positive_arg(info[at + 1], "alpha");
  m.sigma2 = nonnegative_arg(info[at + 2], "sigma2");
  if (!same_memory(span_of(score), span_of(mu)))
    throw_range(env, "score must be mu itself when the step scores with a mixture");
  return m;
}

// The row score of a job's mixture, prepared in the job (off the event loop); `prepared`
// must outlive the returned score's use.
RowScore row_score_of(const MixtureArgs& m, Threads threads, PreparedScore& prepared) {
  prepared = m.mixture->prepare_score(m.alpha, m.sigma2, threads);
  const GaussianMixture* model = m.mixture.get();
  const PreparedScore* q = &prepared;
  RowScore r;
  r.rows = [model, q](const float* z, int64_t n, float* out, float* scratch) { return model->score_rows(*q, z, n, out, scratch); };
  r.scratch_floats = prepared.scratch_floats;
  return r;
}

// What both fused steps open with: batch, latent, observed, z, score, a, b, mu, yPerRun
// (info[0..8]), then, after each step's own arguments, the optional mixture.
struct KernelStepArgs : BatchCoords {
  View<float> z, score, mu, y;
  double a = 0.0, b = 0.0;
  Threads threads;
  MixtureArgs mix;

  void read_head(const Napi::CallbackInfo& info) {
    read_batch_coords(info);
    z = float32_array(info[3], "z");
    score = float32_array(info[4], "score");
    a = finite_number(info[5], "a");
    b = finite_number(info[6], "b");
    mu = float32_array(info[7], "mu");
    y = float32_array(info[8], "yPerRun");
  }

  // Lengths, and mu either the score's memory itself (the kernel mean in place) or apart from it.
  void check_head(Napi::Env env) const {
    const Batch& bt = batch.b;
    require_state(env, z, bt);
    require_state(env, score, bt);
    require_state(env, mu, bt);
    require_context(env, y, bt, c.observed.length);
    if (!same_memory(span_of(mu), span_of(score))) require_disjoint(env, mu, score);
  }

  // The job's arrays: z read then written, the score read, mu (possibly the score's memory:
  // one copy) read then written, the context read.
  void declare_head(Async& call) {
    condiff_binding::read_batch_coords(call, *this);
    call.update(z);
    call.read(score);
    call.update(mu);
    call.read(y);
  }

  // In the job: the mixture's row score, prepared there into `prepared` and `row`; null
  // without a mixture (the step then reads `score`).
  const RowScore* row_score(PreparedScore& prepared, RowScore& row) const {
    if (mix.mixture == nullptr) return nullptr;
    row = row_score_of(mix, threads, prepared);
    return &row;
  }
};

struct SmcStepArgs : KernelStepArgs {
  View<double> log_w, increment, evidence, ess, scratch;
  View<uint8_t> flags;
  View<int32_t> ancestors;
  BootstrapParams params;
};

SmcStepArgs parse_smc_step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SmcStepArgs a;
  a.read_head(info);
  const Batch& b = a.batch.b;
  BootstrapParams& p = a.params;
  p.a = a.a;
  p.b = a.b;
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
  a.mix = mixture_args(info, 23, b, a.score, a.mu);
  a.check_head(env);
  require_rows(env, a.log_w, b);
  require_rows(env, a.increment, b);
  require_runs(env, a.evidence, b);
  require_runs(env, a.ess, b);
  require_runs(env, a.flags, b);
  require_rows(env, a.scratch, b);
  require_rows(env, a.ancestors, b);
  // Every array written is disjoint from every other array (z is read, then written last),
  // except that mu may be the score buffer itself (check_head).
  require_all_disjoint(env, a.mu, a.z, a.log_w, a.increment, a.evidence, a.ess, a.flags, a.scratch, a.ancestors, a.y,
                       a.c.latent, a.c.observed, a.batch.run_keys);
  require_apart_from(env, a.score, a.z, a.log_w, a.increment, a.evidence, a.ess, a.flags, a.scratch, a.ancestors);
  return a;
}

Napi::Value SmcStep(const Napi::CallbackInfo& info) {
  SmcStepArgs a = parse_smc_step(info);
  Async call = async_call(info, a.z.length * 4);
  a.declare_head(call);
  call.update(a.log_w);
  call.update(a.increment);
  call.update(a.evidence);
  call.update(a.ess);
  call.update(a.flags);
  call.update(a.scratch);
  call.update(a.ancestors);
  return call.run([a](JobError&) {
    BootstrapParams params = a.params;
    PreparedScore prepared;
    RowScore row;
    params.score = a.row_score(prepared, row);
    BootstrapArrays x;
    x.z = a.z.data;
    x.score = params.score != nullptr ? nullptr : a.score.data;
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

// moveStep(batch, latent, observed, z, score, a, b, mu, yPerRun, noiseScale, kernelStream,
//          threads [, mixture, alpha, sigma2]) -> Promise<{ status, index }>
// Replacement's step (move_step): kernel mean and move without weights, to the bits of
// kernelMean then propagate; with a mixture as smcStep's, scoring z itself.
struct MoveStepArgs : KernelStepArgs {
  MoveParams params;
};

MoveStepArgs parse_move_step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MoveStepArgs a;
  a.read_head(info);
  const Batch& b = a.batch.b;
  MoveParams& p = a.params;
  p.a = a.a;
  p.b = a.b;
  p.noise_scale = nonnegative_arg(info[9], "noiseScale");
  p.kernel_noise = stream_arg(info[10]);
  a.threads = threads_arg(info[11]);
  a.mix = mixture_args(info, 12, b, a.score, a.mu);
  a.check_head(env);
  // z is read, then written; mu is written where the step fails.
  require_all_disjoint(env, a.mu, a.z, a.y, a.c.latent, a.c.observed, a.batch.run_keys);
  require_apart_from(env, a.score, a.z);
  return a;
}

Napi::Value MoveStep(const Napi::CallbackInfo& info) {
  MoveStepArgs a = parse_move_step(info);
  Async call = async_call(info, a.z.length * 4);
  a.declare_head(call);
  return call.run([a](JobError&) {
    MoveParams params = a.params;
    PreparedScore prepared;
    RowScore row;
    params.score = a.row_score(prepared, row);
    MoveArrays x;
    x.z = a.z.data;
    x.score = params.score != nullptr ? nullptr : a.score.data;
    x.mu = a.mu.data;
    x.y_per_run = a.y.data;
    return move_step(a.batch.b, a.c.core(), x, params, a.threads);
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
    {"moveStep", MoveStep},
    {"chooseByWeight", ChooseByWeight},
};

}  // namespace

OpTable filter_ops() { return {kOps, std::size(kOps)}; }

}  // namespace condiff_binding
