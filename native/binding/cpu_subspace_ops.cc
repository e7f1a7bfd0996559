// The SVD bootstrap filter's rotations (native/core/subspace.h, docs/MATH.md §9.1) of the CPU
// binding. The filter for a dense observation runs on the CPU backend only, so these take host
// arrays and are parsed here.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>

#include "args.h"
#include "job.h"
#include "ops.h"
#include "path_correction.h"
#include "subspace.h"

namespace condiff_binding {
namespace {

using namespace condiff;

// The directions (vt, r x dim, and the pinned rows `index`), with dim from x's length over
// `rows`; throws naming the argument that does not fit.
struct Directions {
  View<double> vt;
  View<int32_t> index;
  int64_t dim = 0;
  PinnedDirections view() const { return {dim, vt.data, index.data, index.length}; }
};

Directions directions(Napi::Env env, const Napi::Value& vt_value, const Napi::Value& index_value,
                      const View<float>& x, int64_t rows) {
  Directions d{float64_array(vt_value, "vt"), int32_array(index_value, "index"), 0};
  if (rows <= 0 || x.length % rows != 0)
    throw_range(env, std::string(x.name) + " must hold " + std::to_string(rows) + " rows, got " +
                         std::to_string(x.length) + " values");
  d.dim = x.length / rows;
  if (d.dim == 0 || d.vt.length % d.dim != 0)
    throw_range(env, "vt must hold whole rows of " + std::to_string(d.dim) + " values (r x D), got " +
                         std::to_string(d.vt.length) + " values");
  require_indices(env, d.index, d.vt.length / d.dim);
  return d;
}

// Rows per run, and targets (runs x n) to match.
int64_t particles_arg(Napi::Env env, const Napi::Value& v, int64_t rows, const View<float>& targets, int64_t n) {
  const int64_t particles = integer(v, "particles", 1, kMaxInt32);
  if (rows % particles != 0)
    throw_range(env, "particles must divide the row count " + std::to_string(rows) + ", got " + std::to_string(particles));
  require_length(env, targets, rows / particles * n, "one value per run and pinned direction");
  return particles;
}

// svdProject(x, vt, index, out, threads): out (rows x n) = the projections of x's rows.
Napi::Value SvdProject(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = float32_array(info[0], "x");
  auto out = float64_array(info[3], "out");
  const Threads threads = threads_arg(info[4]);
  const int64_t n = int32_array(info[2], "index").length;
  if (n == 0) throw_range(env, "index must name at least one direction, got none");
  const int64_t rows = out.length / n;
  if (out.length % n != 0) throw_range(env, "out must hold index.length values per row, got " + std::to_string(out.length) + " for " + std::to_string(n) + " directions");
  Directions d = directions(env, info[1], info[2], x, rows);
  Async call = async_call(info, x.length * n);
  call.read(x);
  call.read(d.vt);
  call.read(d.index);
  call.write(out);
  return call.run([=](JobError&) {
    project_rows(d.view(), x.data, rows, out.data, threads);
    return 0.0;
  });
}

// svdLogWeights(mu, vt, index, targets, particles, variance, constant, increment, threads)
Napi::Value SvdLogWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto mu = float32_array(info[0], "mu");
  auto targets = float32_array(info[3], "targets");
  const double variance = finite_number(info[5], "variance");
  const double constant = finite_number(info[6], "constant");
  auto increment = float64_array(info[7], "increment");
  const Threads threads = threads_arg(info[8]);
  if (!(variance > 0)) throw_range(env, "variance must be positive, got " + std::to_string(variance));
  const int64_t rows = increment.length;
  Directions d = directions(env, info[1], info[2], mu, rows);
  const int64_t particles = particles_arg(env, info[4], rows, targets, d.index.length);
  Async call = async_call(info, mu.length * d.index.length);
  call.read(mu);
  call.read(d.vt);
  call.read(d.index);
  call.read(targets);
  call.write(increment);
  return call.run([=](JobError&) {
    subspace_log_weights(d.view(), mu.data, rows, particles, targets.data, variance, constant, increment.data, threads);
    return 0.0;
  });
}

// svdPin(z, vt, index, targets, particles, threads): z's rows pinned in place.
Napi::Value SvdPin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto z = float32_array(info[0], "z");
  auto targets = float32_array(info[3], "targets");
  const Threads threads = threads_arg(info[5]);
  const int64_t particles = integer(info[4], "particles", 1, kMaxInt32);
  auto vt = float64_array(info[1], "vt");
  if (vt.length == 0) throw_range(env, "vt must hold at least one row, got none");
  const int64_t runs_times_n = targets.length;
  // rows = z.length / D and D = vt.length / r are not known apart: the caller's D is vt's row
  // length, which index and targets fix together with particles.
  const int64_t n = int32_array(info[2], "index").length;
  if (n == 0 || runs_times_n % n != 0)
    throw_range(env, "targets must hold index.length values per run, got " + std::to_string(runs_times_n) + " for " + std::to_string(n) + " directions");
  const int64_t rows = runs_times_n / n * particles;
  Directions d = directions(env, info[1], info[2], z, rows);
  require_disjoint(env, z, targets);
  Async call = async_call(info, z.length * n);
  call.read(d.vt);
  call.read(d.index);
  call.read(targets);
  call.update(z);
  return call.run([=](JobError&) {
    pin_rows(d.view(), z.data, rows, particles, targets.data, threads);
    return 0.0;
  });
}

// svdPathCorrection(path, starts, alpha, sigma2, log2piSigma2, log2pi, out, threads): out[q] =
// the path term of run q's evidence correction (native/core/path_correction.h). S + 1 =
// alpha.length (entry 0 unused), runs = out.length, rank = starts.length, path (S + 1) x runs x
// rank; starts[i] in [0, S + 1] (S + 1: never pinned).
Napi::Value SvdPathCorrection(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto path = float32_array(info[0], "path");
  auto starts = int32_array(info[1], "starts");
  auto alpha = float64_array(info[2], "alpha");
  auto sigma2 = float64_array(info[3], "sigma2");
  auto log_2pi_sigma2 = float64_array(info[4], "log2piSigma2");
  const double log_2pi = finite_number(info[5], "log2pi");
  auto out = float64_array(info[6], "out");
  const Threads threads = threads_arg(info[7]);
  if (alpha.length == 0) throw_range(env, "alpha must hold S + 1 values (the grid's), got none");
  const int64_t steps = alpha.length - 1, runs = out.length, rank = starts.length;
  require_length(env, sigma2, alpha.length, "S + 1, as alpha");
  require_length(env, log_2pi_sigma2, alpha.length, "S + 1, as alpha");
  // In double: the product is exact below 2^53, past any typed array's length.
  if (static_cast<double>(path.length) != static_cast<double>(steps + 1) * static_cast<double>(runs) * static_cast<double>(rank))
    throw_range(env, "path must hold (S + 1) x runs x rank = " + std::to_string(steps + 1) + " x " + std::to_string(runs) +
                         " x " + std::to_string(rank) + " values, got " + std::to_string(path.length));
  require_in_range(env, "starts", starts.data, rank, steps + 2);
  for (int64_t k = 1; k <= steps; ++k) {
    if (!std::isfinite(alpha.data[k])) throw_range(env, "alpha[" + std::to_string(k) + "] must be finite, got " + std::to_string(alpha.data[k]));
    if (!(sigma2.data[k] > 0) || !std::isfinite(sigma2.data[k]))
      throw_range(env, "sigma2[" + std::to_string(k) + "] must be positive and finite, got " + std::to_string(sigma2.data[k]));
    if (!std::isfinite(log_2pi_sigma2.data[k]))
      throw_range(env, "log2piSigma2[" + std::to_string(k) + "] must be finite, got " + std::to_string(log_2pi_sigma2.data[k]));
  }
  require_disjoint_from(env, out, path, starts, alpha, sigma2, log_2pi_sigma2);
  Async call = async_call(info, path.length);
  call.read(path);
  call.read(starts);
  call.read(alpha);
  call.read(sigma2);
  call.read(log_2pi_sigma2);
  call.write(out);
  return call.run([=](JobError&) {
    const PathTransitions tr{steps, alpha.data, sigma2.data, log_2pi_sigma2.data, log_2pi};
    if (rank > 0) pinned_path_correction(path.data, runs, rank, starts.data, tr, out.data, threads);
    else std::fill(out.data, out.data + runs, 0.0);
    return 0.0;
  });
}

const OpEntry kOps[] = {
    {"svdProject", SvdProject},
    {"svdLogWeights", SvdLogWeights},
    {"svdPin", SvdPin},
    {"svdPathCorrection", SvdPathCorrection},
};

}  // namespace

OpTable subspace_ops() { return {kOps, std::size(kOps)}; }

}  // namespace condiff_binding
