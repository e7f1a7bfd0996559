// Twisted SMC's per-particle operations (native/core/twist.h, docs/MATH.md §10) of the CPU
// binding. tds runs on the CPU backend only, so these take host arrays and are parsed here.
#include <cmath>
#include <iterator>
#include <string>

#include "args.h"
#include "job.h"
#include "ops.h"
#include "twist.h"

namespace condiff_binding {
namespace {

using namespace condiff;

// maskTwist(x, score, alpha, sigma2, observed, values, variance, logTwist, u | null, threads)
//   -> the first row whose x̂₀ is not finite at an observed coordinate, or -1.
Napi::Value MaskTwist(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = float32_array(info[0], "x");
  auto score = float32_array(info[1], "score");
  const double alpha = finite_number(info[2], "alpha");
  const double sigma2 = finite_number(info[3], "sigma2");
  auto observed = int32_array(info[4], "observed");
  auto values = float32_array(info[5], "values");
  const double variance = finite_number(info[6], "variance");
  auto log_twist = float64_array(info[7], "logTwist");
  auto u = float32_array(info[8], "u", true);
  const Threads threads = threads_arg(info[9]);
  if (!(alpha > 0)) throw_range(env, "alpha must be positive, got " + std::to_string(alpha));
  if (!(sigma2 >= 0)) throw_range(env, "sigma2 must be non-negative, got " + std::to_string(sigma2));
  if (!(variance > 0)) throw_range(env, "variance must be positive, got " + std::to_string(variance));
  require_length(env, values, observed.length, "one value per observed index");
  const int64_t rows = log_twist.length;
  if (rows == 0 || x.length % rows != 0) throw_range(env, "x must hold logTwist.length rows, got " + std::to_string(x.length) + " values for " + std::to_string(rows) + " rows");
  const int64_t dim = x.length / rows;
  require_indices(env, observed, dim);
  require_length(env, score, x.length, "same as x");
  if (u.data) {
    require_length(env, u, x.length, "same as x");
    require_disjoint(env, u, x);
    require_disjoint(env, u, score);
  }
  Async call = async_call(info, x.length);
  call.read(x);
  call.read(score);
  call.read(observed);
  call.read(values);
  call.write(log_twist);
  if (u.data) call.write(u);
  return call.run([=](JobError&) {
    return static_cast<double>(mask_twist(x.data, score.data, rows, dim, alpha, sigma2, observed.data, values.data,
                                          observed.length, variance, log_twist.data, u.data, threads));
  });
}

// twistIncrement(xs, mu, muTwisted, v, logTwistS, logTwistT, increment, threads)
Napi::Value TwistIncrement(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto xs = float32_array(info[0], "xs");
  auto mu = float32_array(info[1], "mu");
  auto mut = float32_array(info[2], "muTwisted");
  const double v = finite_number(info[3], "v");
  auto lps = float64_array(info[4], "logTwistS");
  auto lpt = float64_array(info[5], "logTwistT");
  auto increment = float64_array(info[6], "increment");
  const Threads threads = threads_arg(info[7]);
  if (!(v > 0)) throw_range(env, "v must be positive, got " + std::to_string(v));
  const int64_t rows = increment.length;
  if (rows == 0 || xs.length % rows != 0) throw_range(env, "xs must hold increment.length rows, got " + std::to_string(xs.length) + " values for " + std::to_string(rows) + " rows");
  require_length(env, mu, xs.length, "same as xs");
  require_length(env, mut, xs.length, "same as xs");
  require_length(env, lps, rows, "one per row");
  require_length(env, lpt, rows, "one per row");
  require_disjoint(env, increment, lps);
  require_disjoint(env, increment, lpt);
  const int64_t dim = xs.length / rows;
  Async call = async_call(info, xs.length);
  call.read(xs);
  call.read(mu);
  call.read(mut);
  call.read(lps);
  call.read(lpt);
  call.write(increment);
  return call.run([=](JobError&) {
    twist_increment(xs.data, mu.data, mut.data, rows, dim, v, lps.data, lpt.data, increment.data, threads);
    return 0.0;
  });
}

const OpEntry kOps[] = {
    {"maskTwist", MaskTwist},
    {"twistIncrement", TwistIncrement},
};

}  // namespace

OpTable twist_ops() { return {kOps, std::size(kOps)}; }

}  // namespace condiff_binding
