// Parsers of the public building blocks (resample, gatherRows) and of the mixture score,
// shared by the CPU binding (cpu_block_ops.cc, mixture_wrap.cc, array policy HostArrays)
// and the CUDA context (cuda_block_ops.cc, DeviceArrays); see op_args.h.
#pragma once
#include <napi.h>

#include <string>

#include "args.h"
#include "core_args.h"
#include "op_args.h"

namespace condiff_binding {

// resample(logWeights, scheme, stream{seed, run, step, purpose, index?}, out, threads):
// one run, whose run word is stream.run.
template <class A>
struct ResampleArgs {
  typename A::F64 log_w;
  ResamplingScheme scheme;
  StreamKey stream;
  typename A::I32 out;
  Threads threads;
};
template <class A>
ResampleArgs<A> parse_resample(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ResampleArgs<A> a;
  a.log_w = A::f64(info[0], "logWeights");
  if (a.log_w.length < 1) throw_range(env, "logWeights must have at least one element, got 0");
  if (a.log_w.length > kMaxInt32) throw_range(env, "logWeights must have at most 2^31 - 1 elements");
  a.scheme = scheme_arg(info[1]);
  a.stream = stream_arg(info[2], true);
  a.out = A::i32(info[3], "out");
  require_length(env, a.out, a.log_w.length, "one ancestor per weight");
  require_disjoint(env, a.out, a.log_w);
  a.threads = threads_arg(info[4]);
  return a;
}

// The message of a resample whose weights leave nothing to draw (MATH.md §4).
constexpr const char* kNothingToDraw =
    "logWeights must contain a finite value, and no +Infinity, got none that can be drawn (every weight is "
    "-Infinity or NaN, or one is +Infinity)";

// The message of a resample given a NaN log-weight: a bug upstream, never a zero weight
// (MATH.md §5); -Infinity is the log of a zero weight.
inline std::string nan_weight_message(int64_t k) {
  return "logWeights[" + std::to_string(k) +
         "] must not be NaN (a NaN log-weight means a bug upstream; a zero weight is -Infinity), got NaN";
}

// gatherRows(rows, dim, ancestors, out, threads): out[i] = rows[ancestors[i]].
template <class A>
struct GatherArgs {
  typename A::F32 rows, out;
  int64_t dim, source_rows;
  typename A::I32 ancestors;
  bool device_ancestors;  // checked on the device, reported at completion
  Threads threads;
};
template <class A>
GatherArgs<A> parse_gather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GatherArgs<A> a;
  a.rows = A::f32(info[0], "rows");
  a.dim = integer(info[1], "dim", 1, kMaxInt32);
  a.ancestors = A::i32(info[2], "ancestors");
  a.out = A::f32(info[3], "out");
  a.threads = threads_arg(info[4]);
  if (a.rows.length % a.dim != 0)
    throw_range(env, "rows must have a length divisible by dim " + std::to_string(a.dim) + ", got " +
                         std::to_string(a.rows.length));
  a.source_rows = a.rows.length / a.dim;
  require_length(env, a.out, a.ancestors.length * a.dim, "ancestors.length x dim");
  const int32_t* anc = host_ints(a.ancestors);
  if (anc != nullptr) require_in_range(env, "ancestors", anc, a.ancestors.length, a.source_rows);
  a.device_ancestors = anc == nullptr && a.ancestors.length > 0;
  require_disjoint_from(env, a.out, a.rows, a.ancestors);
  return a;
}

// The mixture score's arguments after the mixture: (z, alpha, sigma2, out, threads) from
// info[first], for a mixture of dimension `dim` (GaussianMixture.score on the CPU,
// ctx.mixtureScore on the device).
template <class A>
struct MixtureScoreArgs {
  typename A::F32 z, out;
  double alpha, sigma2;
  int64_t rows;
  Threads threads;
};
template <class A>
MixtureScoreArgs<A> parse_mixture_score(const Napi::CallbackInfo& info, size_t first, int64_t dim) {
  Napi::Env env = info.Env();
  MixtureScoreArgs<A> a;
  a.z = A::f32(info[first], "z");
  a.alpha = positive_arg(info[first + 1], "alpha");
  a.sigma2 = positive_arg(info[first + 2], "sigma2", " (the score at t = 0 is not defined)");
  a.out = A::f32(info[first + 3], "out");
  a.threads = threads_arg(info[first + 4]);
  if (a.z.length % dim != 0)
    throw_range(env, "z must have a length divisible by the mixture's dim " + std::to_string(dim) + ", got " +
                         std::to_string(a.z.length));
  a.rows = a.z.length / dim;
  require_length(env, a.out, a.z.length, "same as z");
  require_disjoint(env, a.out, a.z);
  return a;
}

}  // namespace condiff_binding
