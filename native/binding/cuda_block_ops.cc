// The public building blocks (resample, gatherRows; one run: stream.run is the run word)
// and the Gaussian-mixture score on the device, with the CPU binding's parsers
// (block_args.h).
#include "block_args.h"
#include "cuda_context.h"
#include "mixture.h"
#include "ops.h"

namespace condiff_binding {

using D = DeviceArrays;

namespace {

// A NaN log-weight is refused as on the CPU (the public resample passes host arrays; a
// DeviceArray's NaN weighs nothing, MATH.md §5).
void refuse_nan(Napi::Env env, const ResampleArgs<D>& a) {
  if (!a.log_w.is_host()) return;
  const double* lw = static_cast<const double*>(a.log_w.host_data);
  for (int64_t k = 0; k < a.log_w.length; ++k)
    if (lw[k] != lw[k]) throw_range(env, nan_weight_message(k));
}

ResultFn enqueue_resample(Call& c, ResampleArgs<D>& a) {
  const Batch b{1, a.log_w.length, 1, a.stream.run};
  void* cdf = c.ctx().stage(static_cast<size_t>(a.log_w.length) * sizeof(uint64_t));
  auto ok = c.result_slot(1);
  c.ctx().resample(b, a.scheme, nullptr, a.stream, static_cast<double*>(c.in(a.log_w)), false, 0.0,
                   static_cast<uint64_t*>(cdf), c.out_as<int32_t>(a.out), static_cast<uint8_t*>(ok.first));
  const size_t offset = ok.second;
  return [offset](const char* pinned) -> Outcome {
    if (!pinned[offset]) throw RangeProblem{kNothingToDraw};
    return 0.0;
  };
}

void enqueue_gather(Call& c, GatherArgs<D>& a) {
  if (a.device_ancestors) c.check_device_indices(a.ancestors, a.source_rows);
  c.ctx().gather_rows(c.in_as<float>(a.rows), a.source_rows, a.dim, c.in_as<int32_t>(a.ancestors), a.ancestors.length,
                      c.out_as<float>(a.out));
}

}  // namespace

Napi::Value ContextWrap::ResampleSync(const Napi::CallbackInfo& info) {
  auto a = parse_resample<D>(info);
  refuse_nan(info.Env(), a);
  Call c = call(info);
  ResultFn done = enqueue_resample(c, a);
  return c.finish_sync(info.Env(), done);
}

Napi::Value ContextWrap::ResampleAsync(const Napi::CallbackInfo& info) {
  auto a = parse_resample<D>(info);
  refuse_nan(info.Env(), a);
  Call c = call(info);
  ResultFn done = enqueue_resample(c, a);
  return c.finish(info.Env(), done);
}

Napi::Value ContextWrap::GatherSync(const Napi::CallbackInfo& info) {
  auto a = parse_gather<D>(info);
  Call c = call(info);
  enqueue_gather(c, a);
  c.finish_sync(info.Env());
  return info.Env().Undefined();
}

Napi::Value ContextWrap::GatherAsync(const Napi::CallbackInfo& info) {
  auto a = parse_gather<D>(info);
  Call c = call(info);
  enqueue_gather(c, a);
  return c.finish(info.Env());
}

// mixtureScore(mixture, z, alpha, sigma2, out, threads): GaussianMixture.score on the device.
Napi::Value ContextWrap::MixtureScore(const Napi::CallbackInfo& info) {
  std::shared_ptr<const condiff::GaussianMixture> model = mixture_model(info[0]);
  if (!model) throw_type(info.Env(), "mixture must be a GaussianMixture of this addon, got " + describe(info[0]));
  auto a = parse_mixture_score<D>(info, 1, model->dim());
  Call c = call(info);
  // The path the CPU runs (mixture_structure.h): a structured model never expands to J dense precisions.
  if (model->path() == condiff::ScorePath::kDense) {
    c.ctx().mixture_score(model->prepare(a.alpha, a.sigma2), c.in_as<float>(a.z), a.rows, c.out_as<float>(a.out));
  } else {
    c.ctx().mixture_score_structured(model->prepare_structured(a.alpha, a.sigma2, a.threads), c.in_as<float>(a.z), a.rows,
                                     c.out_as<float>(a.out));
  }
  return c.finish(info.Env());
}

}  // namespace condiff_binding
