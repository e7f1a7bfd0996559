// The batched particle operations on the device (native/cuda/device.h): each parses its
// arguments with the parser the CPU binding uses (op_args.h), stages them (cuda_call.h),
// enqueues the operation and returns the call's Promise.
#include <cmath>
#include <cstring>

#include "cuda_context.h"
#include "op_args.h"
#include "weights.h"

namespace condiff_binding {

using D = DeviceArrays;

Napi::Value ContextWrap::Normals(const Napi::CallbackInfo& info) {
  auto a = parse_normals<D>(info);
  Call c = call(info);
  c.ctx().normals(a.stream, static_cast<uint64_t>(a.first), a.out.length, c.out_as<float>(a.out));
  return c.finish(info.Env());
}

Napi::Value ContextWrap::InitState(const Napi::CallbackInfo& info) {
  auto a = parse_init_state<D>(info);
  Call c = call(info);
  const Batch b = c.batch(a.batch);
  c.ctx().init_state(b, c.coords(a.c, b.dim), c.in_as<float>(a.y), a.stream, c.out_as<float>(a.z));
  return c.finish(info.Env());
}

Napi::Value ContextWrap::ForwardContextPath(const Napi::CallbackInfo& info) {
  auto a = parse_context_path<D>(info);
  Call c = call(info);
  const double* alpha = c.staged(a.alpha.data, a.steps);
  const double* sigma2 = c.staged(a.sigma2.data, a.steps);
  const uint32_t* keys = present(a.run_keys) ? c.staged(a.run_keys.data, a.run_keys.length) : nullptr;
  c.ctx().forward_context_path(c.in_as<float>(a.y0), a.y0.length, a.runs, static_cast<uint32_t>(a.run_offset), a.steps,
                               alpha, sigma2, a.stream, c.out_as<float>(a.out), keys);
  return c.finish(info.Env());
}

// Resolves to 0: the device does not check the mean (Backend.kernelMeanChecks).
Napi::Value ContextWrap::KernelMean(const Napi::CallbackInfo& info) {
  auto a = parse_kernel_mean<D>(info);
  Call c = call(info);
  const float* z = c.in_as<float>(a.z);
  float* mu = a.in_place ? c.inout_as<float>(a.score) : c.out_as<float>(a.mu);
  const float* score = a.in_place ? mu : c.in_as<float>(a.score);
  c.ctx().kernel_mean(z, score, a.z.length, a.a, a.b, mu);
  return c.finish(info.Env());
}

Napi::Value ContextWrap::GaussianYLogWeights(const Napi::CallbackInfo& info) {
  auto a = parse_y_weights<D>(info);
  Call c = call(info);
  const Batch b = c.batch(a.batch);
  c.ctx().gaussian_y_log_weights(b, c.staged(a.observed.data, a.observed.length), a.observed.length,
                                 c.in_as<float>(a.mu), c.in_as<float>(a.y), a.variance,
                                 condiff::gaussian_log_norm(a.observed.length, a.variance), c.out_as<double>(a.out));
  return c.finish(info.Env());
}

// Resolves to the first run whose weights are all -inf/NaN, or -1.
Napi::Value ContextWrap::Reweight(const Napi::CallbackInfo& info) {
  auto a = parse_reweight<D>(info);
  Call c = call(info);
  const Batch b = c.batch(a.batch);
  auto ok = c.result_slot(b.runs);
  c.ctx().reweight(b, c.inout_as<double>(a.log_w), c.in_as<double>(a.increment), a.tau, c.inout_as<double>(a.evidence),
                   c.inout_as<double>(a.ess), c.inout_as<uint8_t>(a.flags), static_cast<uint8_t*>(ok.first));
  return c.finish(info.Env(), first_failed(ok.second, b.runs));
}

// Resolves to the first run with no positive weight, or -1.
Napi::Value ContextWrap::ResampleBatch(const Napi::CallbackInfo& info) {
  auto a = parse_resample_batch<D>(info);
  Call c = call(info);
  const Batch b = c.batch(a.batch);
  auto ok = c.result_slot(b.runs);
  // The scratch holds 64-bit fixed-point cumulative weights: 8 bytes per particle, like a double.
  c.ctx().resample(b, a.scheme, c.in_as<uint8_t>(a.flags), a.stream, c.inout_as<double>(a.log_w), true,
                   -std::log(static_cast<double>(b.particles)), c.out_as<uint64_t>(a.scratch),
                   c.out_as<int32_t>(a.ancestors), static_cast<uint8_t*>(ok.first));
  return c.finish(info.Env(), first_failed(ok.second, b.runs));
}

Napi::Value ContextWrap::Propagate(const Napi::CallbackInfo& info) {
  auto a = parse_propagate<D>(info);
  Call c = call(info);
  const Batch b = c.batch(a.batch);
  const cu::DeviceCoordinates dc = c.coords(a.c, b.dim);
  if (a.device_ancestors) c.check_device_indices(a.ancestors, b.particles);
  c.ctx().propagate(b, dc, c.in_as<float>(a.mu), c.in_as<int32_t>(a.ancestors), a.noise, c.in_as<float>(a.y),
                    a.stream, c.out_as<float>(a.z));
  return c.finish(info.Env());
}

Napi::Value ContextWrap::Langevin(const Napi::CallbackInfo& info) {
  auto a = parse_langevin<D>(info);
  Call c = call(info);
  const Batch b = c.batch(a.batch);
  c.ctx().langevin_step(b, c.coords(a.c, b.dim), c.in_as<float>(a.score), a.rule, a.step, a.snr_alpha, a.stream,
                        c.inout_as<float>(a.z));
  return c.finish(info.Env());
}

Napi::Value ContextWrap::Renoise(const Napi::CallbackInfo& info) {
  auto a = parse_renoise<D>(info);
  Call c = call(info);
  const Batch b = c.batch(a.batch);
  c.ctx().renoise(b, c.coords(a.c, b.dim), a.alpha_ts, a.sigma2_ts, c.in_as<float>(a.y), a.stream,
                  c.inout_as<float>(a.z));
  return c.finish(info.Env());
}

// Resolves to the first non-finite index, or -1.
Napi::Value ContextWrap::FirstNonFinite(const Napi::CallbackInfo& info) {
  auto a = parse_first_non_finite<D>(info);
  Call c = call(info);
  auto slot = c.result_slot(sizeof(int64_t));
  c.ctx().first_non_finite(c.in_as<float>(a.values), a.values.length, static_cast<int64_t*>(slot.first));
  const size_t offset = slot.second;
  return c.finish(info.Env(), [offset](const char* pinned) -> Outcome {
    int64_t r;
    std::memcpy(&r, pinned + offset, sizeof r);
    return static_cast<double>(r);
  });
}

Napi::Value ContextWrap::PredictionToScore(const Napi::CallbackInfo& info) {
  auto a = parse_prediction<D>(info);
  Call c = call(info);
  c.ctx().prediction_to_score(c.in_as<float>(a.z), c.in_as<float>(a.prediction), a.z.length, a.kind, a.alpha, a.sigma2,
                              c.out_as<float>(a.out));
  return c.finish(info.Env());
}

}  // namespace condiff_binding
