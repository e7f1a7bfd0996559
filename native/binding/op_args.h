// One parser per operation, shared by the CPU binding (cpu_*_ops.cc, array policy
// HostArrays) and the CUDA context (cuda_*_ops.cc, DeviceArrays): each reads the
// arguments in order, checks types, lengths, overlaps and host indices, and returns them
// typed. Nothing here runs work, so both bindings check a call alike before any of it.
#pragma once
#include <napi.h>

#include <cmath>
#include <string>

#include "args.h"
#include "core_args.h"
#include "format.h"

namespace condiff_binding {

// ---- Numbers with a sign or range (cheap preconditions: the native layer is reachable
// directly, so it does not rely on the TypeScript checks) ----

inline double positive_arg(const Napi::Value& v, const char* name, const char* why = "") {
  const double x = finite_number(v, name);
  if (!(x > 0.0)) throw_range(v.Env(), std::string(name) + " must be positive" + why + ", got " + condiff::format_number(x));
  return x;
}

inline double nonnegative_arg(const Napi::Value& v, const char* name) {
  const double x = finite_number(v, name);
  if (!(x >= 0.0)) throw_range(v.Env(), std::string(name) + " must be >= 0, got " + condiff::format_number(x));
  return x;
}

inline double ess_threshold_arg(const Napi::Value& v) {
  const double tau = finite_number(v, "essThreshold");
  if (tau < 0.0 || tau > 1.0)
    throw_range(v.Env(), "essThreshold must be in [0, 1], got " + condiff::format_number(tau));
  return tau;
}

// ---- The batched particle operations (particles.h) ----

// normals(out, stream{seed, run, step, purpose, index?}, firstElement, threads)
template <class A>
struct NormalsArgs {
  typename A::F32 out;
  StreamKey stream;
  int64_t first;
  Threads threads;
};
template <class A>
NormalsArgs<A> parse_normals(const Napi::CallbackInfo& info) {
  NormalsArgs<A> a;
  a.out = A::f32(info[0], "out");
  a.stream = stream_arg(info[1], true);
  // MATH.md §6: element / 4 is one 32-bit counter word, so a stream has 2^34 elements.
  a.first = integer(info[2], "firstElement", 0, int64_t{1} << 34);
  if (a.first + a.out.length > (int64_t{1} << 34))
    throw_range(info.Env(), "firstElement + out.length must be at most 2^34 (one Philox counter word), got " +
                                std::to_string(a.first + a.out.length));
  a.threads = threads_arg(info[3]);
  return a;
}

// initState(batch, latent, observed, yPerRun, stream, z, threads)
template <class A>
struct InitStateArgs : BatchCoords {
  typename A::F32 y, z;
  StreamKey stream;
  Threads threads;
};
template <class A>
InitStateArgs<A> parse_init_state(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  InitStateArgs<A> a;
  a.read_batch_coords(info);
  const Batch& b = a.batch.b;
  a.y = A::f32(info[3], "yPerRun");
  a.stream = stream_arg(info[4]);
  a.z = A::f32(info[5], "z");
  a.threads = threads_arg(info[6]);
  require_context(env, a.y, b, a.c.observed.length);
  require_state(env, a.z, b);
  require_disjoint_from(env, a.z, a.y, a.c.latent, a.c.observed, a.batch.run_keys);
  return a;
}

// The transitions of steps [begin, end) of a context path: alpha finite, sigma2 finite and >= 0.
inline void require_transitions(Napi::Env env, const View<double>& alpha, const View<double>& sigma2, int64_t begin,
                                int64_t end) {
  for (int64_t i = begin; i < end; ++i)
    if (!std::isfinite(alpha.data[i]) || !(sigma2.data[i] >= 0.0) || !std::isfinite(sigma2.data[i]))
      throw_range(env, "alphaTs/sigma2Ts[" + std::to_string(i) + "] must be finite with sigma2 >= 0");
}

// forwardContextPath(y0, runs, runOffset, alphaTs, sigma2Ts, stream, out, threads, runKeys?)
template <class A>
struct ContextPathArgs {
  typename A::F32 y0, out;
  int64_t runs, run_offset, steps;
  View<double> alpha, sigma2;  // host arrays: the schedule
  StreamKey stream;
  Threads threads;
  View<uint32_t> run_keys;
};
template <class A>
ContextPathArgs<A> parse_context_path(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ContextPathArgs<A> a;
  a.y0 = A::f32(info[0], "y0");
  a.runs = integer(info[1], "runs", 1, kMaxInt32);
  a.run_offset = integer(info[2], "runOffset", 0, 4294967295LL - a.runs + 1);
  a.alpha = float64_array(info[3], "alphaTs");
  a.sigma2 = float64_array(info[4], "sigma2Ts");
  a.stream = stream_arg(info[5]);
  a.out = A::f32(info[6], "out");
  a.threads = threads_arg(info[7]);
  a.run_keys = run_keys_arg(info[8], "runKeys", a.runs);
  a.steps = a.alpha.length;
  require_length(env, a.sigma2, a.steps, "one per step, like alphaTs");
  require_length(env, a.out, a.runs * (a.steps + 1) * a.y0.length, "(steps + 1) x runs x observed");
  require_transitions(env, a.alpha, a.sigma2, 0, a.steps);
  require_disjoint_from(env, a.out, a.y0, a.alpha, a.sigma2, a.run_keys);
  return a;
}

// forwardContextSegment(start, runs, runOffset, first, alphaTs, sigma2Ts, stream, out,
// threads, runKeys?): out's slices are grid indices first + 1 .. first + count, from start
// (runs x observed) at grid index first.
template <class A>
struct ContextSegmentArgs {
  typename A::F32 start, out;
  int64_t runs, run_offset, d_obs, first, count;
  View<double> alpha, sigma2;
  StreamKey stream;
  Threads threads;
  View<uint32_t> run_keys;
};
template <class A>
ContextSegmentArgs<A> parse_context_segment(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ContextSegmentArgs<A> a;
  a.start = A::f32(info[0], "start");
  a.runs = integer(info[1], "runs", 1, kMaxInt32);
  a.run_offset = integer(info[2], "runOffset", 0, 4294967295LL - a.runs + 1);
  a.alpha = float64_array(info[4], "alphaTs");
  a.sigma2 = float64_array(info[5], "sigma2Ts");
  const int64_t steps = a.alpha.length;
  if (steps < 1) throw_range(env, "alphaTs must hold at least one step, got none");
  a.first = integer(info[3], "first", 0, steps - 1);
  a.stream = stream_arg(info[6]);
  a.out = A::f32(info[7], "out");
  a.threads = threads_arg(info[8]);
  a.run_keys = run_keys_arg(info[9], "runKeys", a.runs);
  require_length(env, a.sigma2, steps, "one per step, like alphaTs");
  if (a.start.length == 0 || a.start.length % a.runs != 0)
    throw_range(env, "start must hold runs x observed values (a positive multiple of runs = " + std::to_string(a.runs) +
                         "), got " + std::to_string(a.start.length));
  a.d_obs = a.start.length / a.runs;
  const int64_t slice = a.start.length;
  if (a.out.length == 0 || a.out.length % slice != 0)
    throw_range(env, "out must hold whole slices of runs x observed = " + std::to_string(slice) + " values, got " +
                         std::to_string(a.out.length));
  a.count = a.out.length / slice;
  if (a.first + a.count > steps)
    throw_range(env, "out must hold at most steps - first = " + std::to_string(steps - a.first) + " slices (first " +
                         std::to_string(a.first) + ", " + std::to_string(steps) + " steps), got " + std::to_string(a.count));
  require_transitions(env, a.alpha, a.sigma2, a.first, a.first + a.count);
  require_disjoint_from(env, a.out, a.start, a.alpha, a.sigma2, a.run_keys);
  return a;
}

// kernelMean(z, score, a, b, mu, threads); mu may be the score array itself (in place).
template <class A>
struct KernelMeanArgs {
  typename A::F32 z, score, mu;
  double a, b;
  bool in_place;
  Threads threads;
};
template <class A>
KernelMeanArgs<A> parse_kernel_mean(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KernelMeanArgs<A> a;
  a.z = A::f32(info[0], "z");
  a.score = A::f32(info[1], "score");
  a.a = finite_number(info[2], "a");
  a.b = finite_number(info[3], "b");
  a.mu = A::f32(info[4], "mu");
  a.threads = threads_arg(info[5]);
  require_length(env, a.score, a.z.length, "same as z");
  require_length(env, a.mu, a.z.length, "same as z");
  require_disjoint(env, a.mu, a.z);
  // Elementwise, so mu may be the score buffer itself, but not a shifted view of it.
  a.in_place = same_memory(span_of(a.mu), span_of(a.score));
  if (!a.in_place) require_disjoint(env, a.mu, a.score);
  return a;
}

// gaussianYLogWeights(batch, observed, mu, yPerRun, variance, out, threads)
template <class A>
struct YWeightsArgs {
  BatchArg batch;
  View<int32_t> observed;
  typename A::F32 mu, y;
  double variance;
  typename A::F64 out;
  Threads threads;
};
template <class A>
YWeightsArgs<A> parse_y_weights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  YWeightsArgs<A> a;
  a.batch = batch_arg(info[0]);
  const Batch& b = a.batch.b;
  a.observed = int32_array(info[1], "observed");
  require_indices(env, a.observed, b.dim);
  a.mu = A::f32(info[2], "mu");
  a.y = A::f32(info[3], "yPerRun");
  a.variance = positive_arg(info[4], "variance");
  a.out = A::f64(info[5], "out");
  a.threads = threads_arg(info[6]);
  require_state(env, a.mu, b);
  require_context(env, a.y, b, a.observed.length);
  require_rows(env, a.out, b);
  require_disjoint_from(env, a.out, a.mu, a.y, a.observed);
  return a;
}

// reweight(batch, logWeights, increment, essThreshold, logEvidenceIncrement, ess,
//          resampleFlags, threads)
template <class A>
struct ReweightArgs {
  BatchArg batch;
  typename A::F64 log_w, increment, evidence, ess;
  double tau;
  typename A::U8 flags;
  Threads threads;
};
template <class A>
ReweightArgs<A> parse_reweight(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ReweightArgs<A> a;
  a.batch = batch_arg(info[0]);
  const Batch& b = a.batch.b;
  a.log_w = A::f64(info[1], "logWeights");
  a.increment = A::f64(info[2], "increment");
  a.tau = ess_threshold_arg(info[3]);
  a.evidence = A::f64(info[4], "logEvidenceIncrement");
  a.ess = A::f64(info[5], "ess");
  a.flags = A::u8(info[6], "resampleFlags");
  a.threads = threads_arg(info[7]);
  require_rows(env, a.log_w, b);
  require_rows(env, a.increment, b);
  require_runs(env, a.evidence, b);
  require_runs(env, a.ess, b);
  require_runs(env, a.flags, b);
  require_all_disjoint(env, a.log_w, a.evidence, a.ess, a.flags, a.increment);
  return a;
}

// resampleBatch(batch, scheme, resampleFlags, stream, logWeights, scratch, ancestors, threads)
template <class A>
struct ResampleBatchArgs {
  BatchArg batch;
  ResamplingScheme scheme;
  typename A::U8 flags;
  StreamKey stream;
  typename A::F64 log_w, scratch;
  typename A::I32 ancestors;
  Threads threads;
};
template <class A>
ResampleBatchArgs<A> parse_resample_batch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ResampleBatchArgs<A> a;
  a.batch = batch_arg(info[0]);
  const Batch& b = a.batch.b;
  a.scheme = scheme_arg(info[1]);
  a.flags = A::u8(info[2], "resampleFlags");
  a.stream = stream_arg(info[3]);
  a.log_w = A::f64(info[4], "logWeights");
  a.scratch = A::f64(info[5], "scratch");
  a.ancestors = A::i32(info[6], "ancestors");
  a.threads = threads_arg(info[7]);
  require_runs(env, a.flags, b);
  require_rows(env, a.log_w, b);
  require_rows(env, a.scratch, b);
  require_rows(env, a.ancestors, b);
  require_all_disjoint(env, a.scratch, a.ancestors, a.log_w, a.flags, a.batch.run_keys);
  return a;
}

// propagate(batch, latent, observed, mu, ancestors | null, noiseScale, yPerRun, stream, zOut, threads)
template <class A>
struct PropagateArgs : BatchCoords {
  typename A::F32 mu, y, z;
  typename A::I32 ancestors;  // absent: the identity
  bool device_ancestors;      // ancestors live on the device: checked there, reported at completion
  double noise;
  StreamKey stream;
  Threads threads;
};
template <class A>
PropagateArgs<A> parse_propagate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PropagateArgs<A> a;
  a.read_batch_coords(info);
  const Batch& b = a.batch.b;
  a.mu = A::f32(info[3], "mu");
  a.ancestors = A::i32(info[4], "ancestors", true);
  a.noise = nonnegative_arg(info[5], "noiseScale");
  a.y = A::f32(info[6], "yPerRun");
  a.stream = stream_arg(info[7]);
  a.z = A::f32(info[8], "zOut");
  a.threads = threads_arg(info[9]);
  require_state(env, a.mu, b);
  require_state(env, a.z, b);
  require_context(env, a.y, b, a.c.observed.length);
  a.device_ancestors = false;
  if (present(a.ancestors)) {
    require_rows(env, a.ancestors, b);
    const int32_t* anc = host_ints(a.ancestors);
    if (anc != nullptr) require_in_range(env, "ancestors", anc, a.ancestors.length, b.particles);
    else a.device_ancestors = true;
  }
  require_disjoint_from(env, a.z, a.mu, a.y, a.ancestors, a.c.latent, a.c.observed, a.batch.run_keys);
  return a;
}

// langevin(batch, latent, observed, score, rule, stepParameter, snrAlpha, stream, z, threads)
template <class A>
struct LangevinArgs : BatchCoords {
  typename A::F32 score, z;
  int rule;
  double step, snr_alpha;
  StreamKey stream;
  Threads threads;
};
template <class A>
LangevinArgs<A> parse_langevin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LangevinArgs<A> a;
  a.read_batch_coords(info);
  const Batch& b = a.batch.b;
  a.score = A::f32(info[3], "score");
  a.rule = langevin_rule_arg(info[4]);
  a.step = nonnegative_arg(info[5], "stepParameter");
  a.snr_alpha = finite_number(info[6], "snrAlpha");
  a.stream = stream_arg(info[7]);
  a.z = A::f32(info[8], "z");
  a.threads = threads_arg(info[9]);
  require_state(env, a.z, b);
  require_length(env, a.score, a.z.length, "same as z");
  require_disjoint_from(env, a.z, a.score, a.c.latent, a.c.observed, a.batch.run_keys);
  return a;
}

// renoise(batch, latent, observed, alphaTs, sigma2Ts, yPerRun, stream, z, threads)
template <class A>
struct RenoiseArgs : BatchCoords {
  double alpha_ts, sigma2_ts;
  typename A::F32 y, z;
  StreamKey stream;
  Threads threads;
};
template <class A>
RenoiseArgs<A> parse_renoise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RenoiseArgs<A> a;
  a.read_batch_coords(info);
  const Batch& b = a.batch.b;
  a.alpha_ts = finite_number(info[3], "alphaTs");
  a.sigma2_ts = nonnegative_arg(info[4], "sigma2Ts");
  a.y = A::f32(info[5], "yPerRun");
  a.stream = stream_arg(info[6]);
  a.z = A::f32(info[7], "z");
  a.threads = threads_arg(info[8]);
  require_state(env, a.z, b);
  require_context(env, a.y, b, a.c.observed.length);
  require_disjoint_from(env, a.z, a.y, a.c.latent, a.c.observed, a.batch.run_keys);
  return a;
}

// firstNonFinite(values, threads)
template <class A>
struct FirstNonFiniteArgs {
  typename A::F32 values;
  Threads threads;
};
template <class A>
FirstNonFiniteArgs<A> parse_first_non_finite(const Napi::CallbackInfo& info) {
  FirstNonFiniteArgs<A> a;
  a.values = A::f32(info[0], "values");
  a.threads = threads_arg(info[1]);
  return a;
}

// predictionToScore(z, prediction, parameterization, alpha, sigma2, out, threads)
template <class A>
struct PredictionArgs {
  typename A::F32 z, prediction, out;
  int kind;
  double alpha, sigma2;
  Threads threads;
};
template <class A>
PredictionArgs<A> parse_prediction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PredictionArgs<A> a;
  a.z = A::f32(info[0], "z");
  a.prediction = A::f32(info[1], "prediction");
  a.kind = parameterization_arg(info[2]);
  a.alpha = finite_number(info[3], "alpha");
  a.sigma2 = positive_arg(info[4], "sigma2");
  a.out = A::f32(info[5], "out");
  a.threads = threads_arg(info[6]);
  require_length(env, a.prediction, a.z.length, "same as z");
  require_length(env, a.out, a.z.length, "same as z");
  require_disjoint_from(env, a.out, a.z, a.prediction);
  return a;
}

}  // namespace condiff_binding
