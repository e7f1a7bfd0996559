// The batched particle operations (native/core/particles.h) of the CPU binding: each entry
// parses its arguments with the shared parser (op_args.h), declares what the work does to
// each array (job.h Async: read, write every element, or update), then runs the core
// inline (small work) or off the event loop, and returns a Promise.
#include <iterator>

#include "job.h"
#include "normals.h"
#include "op_args.h"
#include "ops.h"
#include "parallel.h"
#include "particles.h"

namespace condiff_binding {
namespace {

using namespace condiff;
using H = HostArrays;

// normals(out, stream{seed, run, step, purpose, index?}, firstElement, threads): the normals
// of elements [first, first + out.length).
Napi::Value Normals(const Napi::CallbackInfo& info) {
  auto a = parse_normals<H>(info);
  Async call = async_call(info, a.out.length * 4);
  call.write(a.out);
  return call.run(
      [a](JobError&) {
        parallel_for(a.out.length, a.threads, 1 << 14, [&](int64_t b, int64_t e, int) {
          fill_normals(a.stream, static_cast<uint64_t>(a.first + b), static_cast<uint64_t>(a.first + e), a.out.data + b);
        });
        return 0.0;
      });
}

Napi::Value InitState(const Napi::CallbackInfo& info) {
  auto a = parse_init_state<H>(info);
  Async call = async_call(info, a.z.length * 2);
  read_batch_coords(call, a);
  call.read(a.y);
  call.update(a.z);
  return call.run(
      [a](JobError&) {
        init_state(a.batch.b, a.c.core(), a.y.data, a.stream, a.z.data, a.threads);
        return 0.0;
      });
}

Napi::Value ForwardContextPath(const Napi::CallbackInfo& info) {
  auto a = parse_context_path<H>(info);
  Async call = async_call(info);
  call.read(a.y0);
  call.read(a.alpha);
  call.read(a.sigma2);
  call.read(a.run_keys);
  call.update(a.out);
  return call.run([a](JobError&) {
    forward_context_path(a.y0.data, a.y0.length, a.runs, static_cast<uint32_t>(a.run_offset), a.steps, a.alpha.data,
                         a.sigma2.data, a.stream, a.out.data, a.threads, a.run_keys.data);
    return 0.0;
  });
}

Napi::Value ForwardContextSegment(const Napi::CallbackInfo& info) {
  auto a = parse_context_segment<H>(info);
  Async call = async_call(info, a.out.length * 4);
  call.read(a.start);
  call.read(a.alpha);
  call.read(a.sigma2);
  call.read(a.run_keys);
  call.write(a.out);
  return call.run([a](JobError&) {
    forward_context_segment(a.start.data, a.d_obs, a.runs, static_cast<uint32_t>(a.run_offset), a.first, a.count,
                            a.alpha.data, a.sigma2.data, a.stream, a.out.data, a.threads, a.run_keys.data);
    return 0.0;
  });
}

// kernelMean(...) -> the first non-finite index of mu, or -1.
Napi::Value KernelMean(const Napi::CallbackInfo& info) {
  auto a = parse_kernel_mean<H>(info);
  Async call = async_call(info, a.z.length);
  call.read(a.z);
  call.read(a.score);
  call.write(a.mu);  // possibly the score's memory itself: one copy, read then written
  return call.run(
      [a](JobError&) {
        return static_cast<double>(kernel_mean_batch(a.z.data, a.score.data, a.z.length, a.a, a.b, a.mu.data, a.threads));
      });
}

Napi::Value GaussianYLogWeights(const Napi::CallbackInfo& info) {
  auto a = parse_y_weights<H>(info);
  const Batch& b = a.batch.b;
  Async call = async_call(info, b.runs * b.particles * a.observed.length);
  read_batch(call, a.batch);
  call.read(a.observed);
  call.read(a.mu);
  call.read(a.y);
  call.update(a.out);
  return call.run(
      [a](JobError&) {
        const Coordinates c{nullptr, 0, a.observed.data, a.observed.length};
        gaussian_y_log_weights(a.batch.b, c, a.mu.data, a.y.data, a.variance, a.out.data, a.threads);
        return 0.0;
      });
}

// reweight(...) -> the first run whose weights are all -inf/NaN, or -1.
Napi::Value Reweight(const Napi::CallbackInfo& info) {
  auto a = parse_reweight<H>(info);
  Async call = async_call(info, a.log_w.length * 8);
  read_batch(call, a.batch);
  call.update(a.log_w);
  call.read(a.increment);
  call.update(a.evidence);
  call.update(a.ess);
  call.update(a.flags);
  return call.run(
      [a](JobError&) {
        return static_cast<double>(reweight_batch(a.batch.b, a.log_w.data, a.increment.data, a.tau, a.evidence.data,
                                                  a.ess.data, a.flags.data, a.threads));
      });
}

// resampleBatch(...) -> the first run with no positive weight, or -1.
Napi::Value ResampleBatch(const Napi::CallbackInfo& info) {
  auto a = parse_resample_batch<H>(info);
  Async call = async_call(info, a.log_w.length * 8);
  read_batch(call, a.batch);
  call.read(a.flags);
  call.update(a.log_w);
  call.update(a.scratch);
  call.update(a.ancestors);
  return call.run(
      [a](JobError&) {
        // The scratch holds 64-bit fixed-point cumulative weights: 8 bytes per particle, like a double.
        uint64_t* words = reinterpret_cast<uint64_t*>(a.scratch.data);
        return static_cast<double>(resample_batch(a.batch.b, a.scheme, a.flags.data, a.stream, a.log_w.data, words,
                                                  a.ancestors.data, a.threads));
      });
}

Napi::Value Propagate(const Napi::CallbackInfo& info) {
  auto a = parse_propagate<H>(info);
  Async call = async_call(info, a.z.length * 2);
  read_batch_coords(call, a);
  call.read(a.mu);
  call.read(a.ancestors);
  call.read(a.y);
  call.update(a.z);
  return call.run(
      [a](JobError&) {
        propagate(a.batch.b, a.c.core(), a.mu.data, a.ancestors.data, a.noise, a.y.data, a.stream, a.z.data, a.threads);
        return 0.0;
      });
}

Napi::Value Langevin(const Napi::CallbackInfo& info) {
  auto a = parse_langevin<H>(info);
  Async call = async_call(info, a.z.length * 2);
  read_batch_coords(call, a);
  call.read(a.score);
  call.update(a.z);
  return call.run(
      [a](JobError&) {
        langevin_step(a.batch.b, a.c.core(), a.score.data, a.rule, a.step, a.snr_alpha, a.stream, a.z.data, a.threads);
        return 0.0;
      });
}

Napi::Value Renoise(const Napi::CallbackInfo& info) {
  auto a = parse_renoise<H>(info);
  Async call = async_call(info, a.z.length * 2);
  read_batch_coords(call, a);
  call.read(a.y);
  call.update(a.z);
  return call.run(
      [a](JobError&) {
        renoise(a.batch.b, a.c.core(), a.alpha_ts, a.sigma2_ts, a.y.data, a.stream, a.z.data, a.threads);
        return 0.0;
      });
}

Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
  auto a = parse_first_non_finite<H>(info);
  Async call = async_call(info, a.values.length);
  call.read(a.values);
  return call.run(
      [a](JobError&) { return static_cast<double>(first_non_finite(a.values.data, a.values.length, a.threads)); });
}

Napi::Value PredictionToScore(const Napi::CallbackInfo& info) {
  auto a = parse_prediction<H>(info);
  Async call = async_call(info, a.z.length);
  call.read(a.z);
  call.read(a.prediction);
  call.write(a.out);
  return call.run(
      [a](JobError&) {
        prediction_to_score(a.z.data, a.prediction.data, a.z.length, a.kind, a.alpha, a.sigma2, a.out.data, a.threads);
        return 0.0;
      });
}

const OpEntry kOps[] = {
    {"normals", Normals},
    {"initState", InitState},
    {"forwardContextPath", ForwardContextPath},
    {"forwardContextSegment", ForwardContextSegment},
    {"kernelMean", KernelMean},
    {"gaussianYLogWeights", GaussianYLogWeights},
    {"reweight", Reweight},
    {"resampleBatch", ResampleBatch},
    {"propagate", Propagate},
    {"langevin", Langevin},
    {"renoise", Renoise},
    {"firstNonFinite", FirstNonFinite},
    {"predictionToScore", PredictionToScore},
};

}  // namespace

OpTable particle_ops() { return {kOps, std::size(kOps)}; }

}  // namespace condiff_binding
