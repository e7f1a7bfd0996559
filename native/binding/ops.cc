// N-API glue for the batched particle operations (native/core/particles.h), the
// resampling building blocks (resampling.h), kernel coefficients (kernels.h) and Philox
// (philox.h). Every entry validates its arguments on the calling thread, then runs the
// core either inline (small, documented as sync) or off the event loop (Promise).
#include "ops.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "args.h"
#include "core_args.h"
#include "format.h"
#include "job.h"
#include "kernels.h"
#include "normals.h"
#include "parallel.h"
#include "particles.h"
#include "philox.h"
#include "resampling.h"
#include "rng.h"

namespace condiff_binding {
namespace {

using namespace condiff;

// ---- Philox, normals, kernel coefficients (sync, small) ----

Napi::Value Philox4x32(const Napi::CallbackInfo& info) {
  auto ctr = uint32_array(info[0], "counter");
  auto key = uint32_array(info[1], "key");
  require_length(info.Env(), ctr, 4, "four counter words");
  require_length(info.Env(), key, 2, "two key words");
  const int rounds = static_cast<int>(integer(info[2], "rounds", 1, 16));
  Words4 c{{ctr.data[0], ctr.data[1], ctr.data[2], ctr.data[3]}};
  const Words4 o = philox4x32(c, key.data[0], key.data[1], rounds);
  Napi::Uint32Array out = Napi::Uint32Array::New(info.Env(), 4);
  for (int i = 0; i < 4; ++i) out[i] = o.v[i];
  return out;
}

// normals(out, stream{seed, run, step, purpose}, firstElement): fills out with
// the normals of elements [first, first + out.length). Async.
Napi::Value Normals(const Napi::CallbackInfo& info) {
  auto out = float32_array(info[0], "out");
  const StreamKey s = stream_arg(info[1], true);
  // MATH.md §6: element / 4 is one 32-bit counter word, so a stream has 2^34 elements.
  const int64_t first = integer(info[2], "firstElement", 0, int64_t{1} << 34);
  if (first + out.length > (int64_t{1} << 34))
    throw_range(info.Env(), "firstElement + out.length must be at most 2^34 (one Philox counter word), got " +
                                std::to_string(first + out.length));
  const Threads threads = threads_arg(info[3]);
  return run_async(
      info.Env(),
      [=](JobError&) {
        parallel_for(out.length, threads, 1 << 14, [&](int64_t b, int64_t e, int) {
          fill_normals(s, static_cast<uint64_t>(first + b), static_cast<uint64_t>(first + e), out.data + b);
        });
        return 0.0;
      },
      {out}, out.length * 4);
}

Napi::Value KernelCoefficientsFn(const Napi::CallbackInfo& info) {
  const int kind = static_cast<int>(integer(info[0], "kernel", 0, 1));
  auto q = float64_array(info[1], "schedule");
  require_length(info.Env(), q, 9, "alpha_t, sigma2_t, alpha_s, sigma2_s, alpha_ts, sigma2_ts, h, f_t, g2_t");
  for (int64_t i = 0; i < 9; ++i)
    if (!std::isfinite(q.data[i])) throw_range(info.Env(), "schedule[" + std::to_string(i) + "] must be finite");
  StepSchedule st{q.data[0], q.data[1], q.data[2], q.data[3], q.data[4], q.data[5], q.data[6], q.data[7], q.data[8]};
  if (kind == 1 && !(st.sigma2_t > 0.0))
    throw_range(info.Env(), "schedule sigma2_t must be positive for the DDPM kernel, got " + condiff::format_number(st.sigma2_t));
  const KernelCoefficients c = kernel_coefficients(static_cast<KernelKind>(kind), st);
  Napi::Float64Array out = Napi::Float64Array::New(info.Env(), 3);
  out[0] = c.a;
  out[1] = c.b;
  out[2] = c.v;
  return out;
}

// ---- Batched sampler operations (async) ----

Napi::Value InitState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Batch b = batch_arg(info[0]);
  Coords c = coords_arg(env, info[1], info[2], b.dim);
  auto y = float32_array(info[3], "yPerRun");
  const StreamKey s = stream_arg(info[4]);
  auto z = float32_array(info[5], "z");
  const Threads threads = threads_arg(info[6]);
  require_length(env, y, b.runs * c.observed.length, "runs x observed");
  require_length(env, z, b.runs * b.particles * b.dim, "runs x particles x dim");
  require_disjoint_from(env, z, y, c.latent, c.observed);
  return run_async(
      env,
      [=](JobError&) {
        init_state(b, c.core(), y.data, s, z.data, threads);
        return 0.0;
      },
      {c.latent, c.observed, y, z}, z.length * 2);
}

Napi::Value ForwardContextPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto y0 = float32_array(info[0], "y0");
  const int64_t runs = integer(info[1], "runs", 1, kMaxInt32);
  const int64_t run_offset = integer(info[2], "runOffset", 0, 4294967295LL - runs + 1);
  auto alpha = float64_array(info[3], "alphaTs");
  auto sigma2 = float64_array(info[4], "sigma2Ts");
  const StreamKey s = stream_arg(info[5]);
  auto out = float32_array(info[6], "out");
  const Threads threads = threads_arg(info[7]);
  const int64_t steps = alpha.length;
  require_length(env, sigma2, steps, "one per step, like alphaTs");
  require_length(env, out, runs * (steps + 1) * y0.length, "(steps + 1) x runs x observed");
  for (int64_t i = 0; i < steps; ++i)
    if (!std::isfinite(alpha.data[i]) || !(sigma2.data[i] >= 0.0) || !std::isfinite(sigma2.data[i]))
      throw_range(env, "alphaTs/sigma2Ts[" + std::to_string(i) + "] must be finite with sigma2 >= 0");
  require_disjoint_from(env, out, y0, alpha, sigma2);
  return run_async(
      env,
      [=](JobError&) {
        forward_context_path(y0.data, y0.length, runs, static_cast<uint32_t>(run_offset), steps, alpha.data,
                             sigma2.data, s, out.data, threads);
        return 0.0;
      },
      {y0, alpha, sigma2, out});
}

Napi::Value KernelMean(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto z = float32_array(info[0], "z");
  auto score = float32_array(info[1], "score");
  const double a = finite_number(info[2], "a");
  const double b = finite_number(info[3], "b");
  auto mu = float32_array(info[4], "mu");
  const Threads threads = threads_arg(info[5]);
  require_length(env, score, z.length, "same as z");
  require_length(env, mu, z.length, "same as z");
  require_disjoint(env, mu, z);
  // mu may be the score buffer itself (elementwise, computed in place), not a shifted view of it.
  if (!(mu.data == score.data && mu.length == score.length)) require_disjoint(env, mu, score);
  return run_async(
      env,
      [=](JobError&) {
        return static_cast<double>(kernel_mean_batch(z.data, score.data, z.length, a, b, mu.data, threads));
      },
      {z, score, mu}, z.length);
}

Napi::Value GaussianYLogWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Batch b = batch_arg(info[0]);
  auto obs = int32_array(info[1], "observed");
  require_indices(env, obs, b.dim);
  auto mu = float32_array(info[2], "mu");
  auto y = float32_array(info[3], "yPerRun");
  const double v = finite_number(info[4], "variance");
  if (!(v > 0.0)) throw_range(env, "variance must be positive, got " + condiff::format_number(v));
  auto out = float64_array(info[5], "out");
  const Threads threads = threads_arg(info[6]);
  require_length(env, mu, b.runs * b.particles * b.dim, "runs x particles x dim");
  require_length(env, y, b.runs * obs.length, "runs x observed");
  require_length(env, out, b.runs * b.particles, "runs x particles");
  require_disjoint_from(env, out, mu, y, obs);
  Coordinates c{nullptr, 0, obs.data, obs.length};
  return run_async(
      env,
      [=](JobError&) {
        gaussian_y_log_weights(b, c, mu.data, y.data, v, out.data, threads);
        return 0.0;
      },
      {obs, mu, y, out}, b.runs * b.particles * obs.length);
}

// reweight(batch, logW, increment, tau, logEvidenceInc, ess, flags, threads) -> first failing run or -1
Napi::Value Reweight(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Batch b = batch_arg(info[0]);
  auto lw = float64_array(info[1], "logWeights");
  auto inc = float64_array(info[2], "increment");
  const double tau = finite_number(info[3], "essThreshold");
  if (tau < 0.0 || tau > 1.0) throw_range(env, "essThreshold must be in [0, 1], got " + condiff::format_number(tau));
  auto ev = float64_array(info[4], "logEvidenceIncrement");
  auto ess = float64_array(info[5], "ess");
  auto flags = uint8_array(info[6], "resampleFlags");
  const Threads threads = threads_arg(info[7]);
  const int64_t rows = b.runs * b.particles;
  require_length(env, lw, rows, "runs x particles");
  require_length(env, inc, rows, "runs x particles");
  require_length(env, ev, b.runs, "one per run");
  require_length(env, ess, b.runs, "one per run");
  require_length(env, flags, b.runs, "one per run");
  require_disjoint_from(env, lw, inc, ev, ess, flags);
  require_disjoint_from(env, ev, inc, ess, flags);
  require_disjoint_from(env, ess, inc, flags);
  require_disjoint_from(env, flags, inc);
  return run_async(
      env,
      [=](JobError&) {
        return static_cast<double>(reweight_batch(b, lw.data, inc.data, tau, ev.data, ess.data, flags.data, threads));
      },
      {lw, inc, ev, ess, flags}, lw.length * 8);
}

Napi::Value ResampleBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Batch b = batch_arg(info[0]);
  const ResamplingScheme scheme = scheme_arg(info[1]);
  auto flags = uint8_array(info[2], "resampleFlags");
  const StreamKey s = stream_arg(info[3]);
  auto lw = float64_array(info[4], "logWeights");
  auto cdf = float64_array(info[5], "scratch");
  auto anc = int32_array(info[6], "ancestors");
  const Threads threads = threads_arg(info[7]);
  const int64_t rows = b.runs * b.particles;
  require_length(env, flags, b.runs, "one per run");
  require_length(env, lw, rows, "runs x particles");
  require_length(env, cdf, rows, "runs x particles");
  require_length(env, anc, rows, "runs x particles");
  require_disjoint_from(env, cdf, lw, flags, anc);
  require_disjoint_from(env, anc, lw, flags);
  require_disjoint_from(env, lw, flags);
  return run_async(
      env,
      [=](JobError&) {
        // The scratch holds 64-bit fixed-point cumulative weights: 8 bytes per particle, like a double.
        uint64_t* words = reinterpret_cast<uint64_t*>(cdf.data);
        return static_cast<double>(resample_batch(b, scheme, flags.data, s, lw.data, words, anc.data, threads));
      },
      {flags, lw, cdf, anc}, lw.length * 8);
}

Napi::Value Propagate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Batch b = batch_arg(info[0]);
  Coords c = coords_arg(env, info[1], info[2], b.dim);
  auto mu = float32_array(info[3], "mu");
  auto anc = int32_array(info[4], "ancestors", true);
  const double noise = finite_number(info[5], "noiseScale");
  if (noise < 0.0) throw_range(env, "noiseScale must be >= 0, got " + condiff::format_number(noise));
  auto y = float32_array(info[6], "yPerRun");
  const StreamKey s = stream_arg(info[7]);
  auto z = float32_array(info[8], "zOut");
  const Threads threads = threads_arg(info[9]);
  const int64_t rows = b.runs * b.particles;
  require_length(env, mu, rows * b.dim, "runs x particles x dim");
  require_length(env, z, rows * b.dim, "runs x particles x dim");
  require_length(env, y, b.runs * c.observed.length, "runs x observed");
  if (anc.data) {
    require_length(env, anc, rows, "runs x particles");
    for (int64_t i = 0; i < rows; ++i)
      if (anc.data[i] < 0 || anc.data[i] >= b.particles)
        throw_range(env, "ancestors[" + std::to_string(i) + "] must be in [0, " + std::to_string(b.particles) +
                             "), got " + std::to_string(anc.data[i]));
  }
  require_disjoint_from(env, z, mu, y, anc, c.latent, c.observed);
  return run_async(
      env,
      [=](JobError&) {
        propagate(b, c.core(), mu.data, anc.data, noise, y.data, s, z.data, threads);
        return 0.0;
      },
      {c.latent, c.observed, mu, anc, y, z}, z.length * 2);
}

Napi::Value Langevin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Batch b = batch_arg(info[0]);
  Coords c = coords_arg(env, info[1], info[2], b.dim);
  auto score = float32_array(info[3], "score");
  const int rule = static_cast<int>(integer(info[4], "rule", 0, 1));
  const double g = finite_number(info[5], "stepParameter");
  const double alpha = finite_number(info[6], "snrAlpha");
  if (!(g >= 0.0)) throw_range(env, "stepParameter must be >= 0, got " + condiff::format_number(g));
  const StreamKey s = stream_arg(info[7]);
  auto z = float32_array(info[8], "z");
  const Threads threads = threads_arg(info[9]);
  require_length(env, z, b.runs * b.particles * b.dim, "runs x particles x dim");
  require_length(env, score, z.length, "same as z");
  require_disjoint_from(env, z, score, c.latent, c.observed);
  return run_async(
      env,
      [=](JobError&) {
        langevin_step(b, c.core(), score.data, rule, g, alpha, s, z.data, threads);
        return 0.0;
      },
      {c.latent, c.observed, score, z}, z.length * 2);
}

Napi::Value Renoise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Batch b = batch_arg(info[0]);
  Coords c = coords_arg(env, info[1], info[2], b.dim);
  const double a = finite_number(info[3], "alphaTs");
  const double v = finite_number(info[4], "sigma2Ts");
  if (v < 0.0) throw_range(env, "sigma2Ts must be >= 0, got " + condiff::format_number(v));
  auto y = float32_array(info[5], "yPerRun");
  const StreamKey s = stream_arg(info[6]);
  auto z = float32_array(info[7], "z");
  const Threads threads = threads_arg(info[8]);
  require_length(env, z, b.runs * b.particles * b.dim, "runs x particles x dim");
  require_length(env, y, b.runs * c.observed.length, "runs x observed");
  require_disjoint_from(env, z, y, c.latent, c.observed);
  return run_async(
      env,
      [=](JobError&) {
        renoise(b, c.core(), a, v, y.data, s, z.data, threads);
        return 0.0;
      },
      {c.latent, c.observed, y, z}, z.length * 2);
}

Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
  auto x = float32_array(info[0], "values");
  const Threads threads = threads_arg(info[1]);
  return run_async(
      info.Env(), [=](JobError&) { return static_cast<double>(first_non_finite(x.data, x.length, threads)); },
      {x}, x.length);
}

Napi::Value PredictionToScore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto z = float32_array(info[0], "z");
  auto p = float32_array(info[1], "prediction");
  const int kind = static_cast<int>(integer(info[2], "parameterization", 0, 2));
  const double alpha = finite_number(info[3], "alpha");
  const double sigma2 = finite_number(info[4], "sigma2");
  if (!(sigma2 > 0.0)) throw_range(env, "sigma2 must be positive, got " + std::to_string(sigma2));
  auto out = float32_array(info[5], "out");
  const Threads threads = threads_arg(info[6]);
  require_length(env, p, z.length, "same as z");
  require_length(env, out, z.length, "same as z");
  require_disjoint_from(env, out, z, p);
  return run_async(
      env,
      [=](JobError&) {
        prediction_to_score(z.data, p.data, z.length, kind, alpha, sigma2, out.data, threads);
        return 0.0;
      },
      {z, p, out}, z.length);
}

// smcStep(batch, latent, observed, z, score, a, b, mu, yPerRun, variance, logW, increment,
//         essThreshold, logEvidenceInc, ess, flags, scheme, resamplingStream, scratch,
//         ancestors, noiseScale, kernelStream, status, threads) -> Promise<code>
// One bootstrap-filter step after the score, in one job: the kernel mean (checked), the
// Y-block log-weights, the reweighting, the resampling of the flagged runs and the
// propagation into z, i.e. kernelMean, gaussianYLogWeights, reweight, resampleBatch and
// propagate in that order, on the same arrays and streams, to the same bits. Each of those
// calls cost a round trip through the thread pool (~50-100 µs here, measured as 9% of a
// D = 8 step on two threads with one thread idle). code: 0 done; 1 a kernel mean is not
// finite (status[0] = its flat index); 2 every weight of a run is -inf or NaN (status[0] =
// the run); 3 resampling found no positive weight (status[0] = the run). z is unchanged
// unless the code is 0.
Napi::Value SmcStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Batch b = batch_arg(info[0]);
  Coords c = coords_arg(env, info[1], info[2], b.dim);
  auto z = float32_array(info[3], "z");
  auto score = float32_array(info[4], "score");
  const double ka = finite_number(info[5], "a");
  const double kb = finite_number(info[6], "b");
  auto mu = float32_array(info[7], "mu");
  auto y = float32_array(info[8], "yPerRun");
  const double v = finite_number(info[9], "variance");
  if (!(v > 0.0)) throw_range(env, "variance must be positive, got " + condiff::format_number(v));
  auto lw = float64_array(info[10], "logWeights");
  auto inc = float64_array(info[11], "increment");
  const double tau = finite_number(info[12], "essThreshold");
  if (tau < 0.0 || tau > 1.0) throw_range(env, "essThreshold must be in [0, 1], got " + condiff::format_number(tau));
  auto ev = float64_array(info[13], "logEvidenceIncrement");
  auto ess = float64_array(info[14], "ess");
  auto flags = uint8_array(info[15], "resampleFlags");
  const ResamplingScheme scheme = scheme_arg(info[16]);
  const StreamKey rs = stream_arg(info[17]);
  auto cdf = float64_array(info[18], "scratch");
  auto anc = int32_array(info[19], "ancestors");
  const double noise = finite_number(info[20], "noiseScale");
  if (noise < 0.0) throw_range(env, "noiseScale must be >= 0, got " + condiff::format_number(noise));
  const StreamKey ks = stream_arg(info[21]);
  auto status = float64_array(info[22], "status");
  const Threads threads = threads_arg(info[23]);
  const int64_t rows = b.runs * b.particles, elems = rows * b.dim;
  require_length(env, z, elems, "runs x particles x dim");
  require_length(env, score, elems, "runs x particles x dim");
  require_length(env, mu, elems, "runs x particles x dim");
  require_length(env, y, b.runs * c.observed.length, "runs x observed");
  require_length(env, lw, rows, "runs x particles");
  require_length(env, inc, rows, "runs x particles");
  require_length(env, ev, b.runs, "one per run");
  require_length(env, ess, b.runs, "one per run");
  require_length(env, flags, b.runs, "one per run");
  require_length(env, cdf, rows, "runs x particles");
  require_length(env, anc, rows, "runs x particles");
  require_length(env, status, 1, "one status slot");
  // Every array written is disjoint from every other array (z is read, then written last),
  // except that mu may be the score buffer itself (the kernel mean is computed in place).
  require_disjoint_from(env, mu, z, y, lw, inc, ev, ess, flags, cdf, anc, status, c.latent, c.observed);
  if (!(mu.data == score.data && mu.length == score.length)) require_disjoint(env, mu, score);
  require_disjoint_from(env, z, score, y, lw, inc, ev, ess, flags, cdf, anc, status, c.latent, c.observed);
  require_disjoint_from(env, lw, score, y, inc, ev, ess, flags, cdf, anc, status, c.latent, c.observed);
  require_disjoint_from(env, inc, score, y, ev, ess, flags, cdf, anc, status, c.latent, c.observed);
  require_disjoint_from(env, ev, score, y, ess, flags, cdf, anc, status, c.latent, c.observed);
  require_disjoint_from(env, ess, score, y, flags, cdf, anc, status, c.latent, c.observed);
  require_disjoint_from(env, flags, score, y, cdf, anc, status, c.latent, c.observed);
  require_disjoint_from(env, cdf, score, y, anc, status, c.latent, c.observed);
  require_disjoint_from(env, anc, score, y, status, c.latent, c.observed);
  require_disjoint_from(env, status, score, y, c.latent, c.observed);
  return run_async(
      env,
      [=](JobError&) {
        const int64_t bad = kernel_mean_batch(z.data, score.data, elems, ka, kb, mu.data, threads);
        if (bad >= 0) {
          status.data[0] = static_cast<double>(bad);
          return 1.0;
        }
        gaussian_y_log_weights(b, c.core(), mu.data, y.data, v, inc.data, threads);
        const int64_t failed = reweight_batch(b, lw.data, inc.data, tau, ev.data, ess.data, flags.data, threads);
        if (failed >= 0) {
          status.data[0] = static_cast<double>(failed);
          return 2.0;
        }
        bool any = false;
        for (int64_t r = 0; r < b.runs; ++r) any = any || flags.data[r] != 0;
        if (any) {
          uint64_t* words = reinterpret_cast<uint64_t*>(cdf.data);  // fixed-point CDF, 8 bytes a particle
          const int64_t none = resample_batch(b, scheme, flags.data, rs, lw.data, words, anc.data, threads);
          if (none >= 0) {
            status.data[0] = static_cast<double>(none);
            return 3.0;
          }
        }
        propagate(b, c.core(), mu.data, any ? anc.data : nullptr, noise, y.data, ks, z.data, threads);
        return 0.0;
      },
      {c.latent, c.observed, z, score, mu, y, lw, inc, ev, ess, flags, cdf, anc, status}, elems * 4);
}

// ---- Public building blocks: resample and gatherRows, sync or async ----

struct ResampleArgs {
  View<double> lw;
  View<int32_t> out;
  std::shared_ptr<ScratchCache> scratch;  // the addon instance's, kept alive by the job
  ResamplingScheme scheme;
  StreamKey stream;
  Threads threads;
};

ResampleArgs resample_args(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ResampleArgs a;
  a.lw = float64_array(info[0], "logWeights");
  if (a.lw.length < 1) throw_range(env, "logWeights must have at least one element, got 0");
  if (a.lw.length > kMaxInt32) throw_range(env, "logWeights must have at most 2^31 - 1 elements");
  a.scheme = scheme_arg(info[1]);
  a.stream = stream_arg(info[2], true);
  a.out = int32_array(info[3], "out");
  require_length(env, a.out, a.lw.length, "one ancestor per weight");
  require_disjoint(env, a.out, a.lw);
  a.threads = threads_arg(info[4]);
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data != nullptr) a.scratch = data->resample_scratch;
  return a;
}

Work resample_work(const ResampleArgs& a) {
  return [a](JobError& err) {
    const int64_t n = a.lw.length;
    // The CDF, and for multinomial and residual their n + 1 Exp(1) draws (drawn once).
    const bool keeps_draws = a.scheme == ResamplingScheme::kMultinomial || a.scheme == ResamplingScheme::kResidual;
    const int64_t words = keeps_draws ? 2 * n + 1 : n;
    std::unique_ptr<uint64_t[]> own;
    uint64_t* cdf = nullptr;
    std::unique_lock<std::mutex> lock;
    if (a.scratch) lock = std::unique_lock<std::mutex>(a.scratch->mutex, std::try_to_lock);
    if (lock.owns_lock()) {
      if (a.scratch->capacity < words || a.scratch->capacity > 4 * words) {
        a.scratch->words.reset();  // free first: the old and new buffers never coexist
        a.scratch->words.reset(new uint64_t[words]);
        a.scratch->capacity = words;
      }
      cdf = a.scratch->words.get();
    } else {
      own.reset(new uint64_t[words]);
      cdf = own.get();
    }
    if (!resample_run(a.scheme, a.lw.data, n, a.stream, cdf, a.out.data, a.threads, keeps_draws ? cdf + n : nullptr)) {
      err = {JobError::kRange, "logWeights must contain a finite value, and no +Infinity, got none that can be drawn (every "
                               "weight is -Infinity or NaN, or one is +Infinity)"};
    }
    return 0.0;
  };
}

Napi::Value ResampleSync(const Napi::CallbackInfo& info) {
  ResampleArgs a = resample_args(info);
  return run_sync(info.Env(), resample_work(a));
}
Napi::Value ResampleAsync(const Napi::CallbackInfo& info) {
  ResampleArgs a = resample_args(info);
  return run_async(info.Env(), resample_work(a), {a.lw, a.out}, a.lw.length * 8);
}

// Every ancestor names one of n rows.
void require_ancestors(Napi::Env env, const View<int32_t>& anc, int64_t n) {
  for (int64_t i = 0; i < anc.length; ++i)
    if (anc.data[i] < 0 || anc.data[i] >= n)
      throw_range(env, "ancestors[" + std::to_string(i) + "] must be in [0, " + std::to_string(n) + "), got " +
                           std::to_string(anc.data[i]));
}

struct GatherArgs {
  View<float> rows, out;
  View<int32_t> anc;
  int64_t dim;
  Threads threads;
};

GatherArgs gather_args(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GatherArgs a;
  a.rows = float32_array(info[0], "rows");
  a.dim = integer(info[1], "dim", 1, kMaxInt32);
  a.anc = int32_array(info[2], "ancestors");
  a.out = float32_array(info[3], "out");
  a.threads = threads_arg(info[4]);
  if (a.rows.length % a.dim != 0)
    throw_range(env, "rows must have a length divisible by dim " + std::to_string(a.dim) + ", got " +
                         std::to_string(a.rows.length));
  const int64_t n = a.rows.length / a.dim;
  require_length(env, a.out, a.anc.length * a.dim, "ancestors.length x dim");
  require_ancestors(env, a.anc, n);
  require_disjoint(env, a.out, a.rows);
  require_disjoint(env, a.out, a.anc);
  return a;
}

Work gather_work(const GatherArgs& a) {
  return [a](JobError&) {
    gather_rows(a.rows.data, a.dim, a.anc.data, a.anc.length, a.out.data, a.threads);
    return 0.0;
  };
}

Napi::Value GatherSync(const Napi::CallbackInfo& info) {
  run_sync(info.Env(), gather_work(gather_args(info)));
  return info.Env().Undefined();
}
Napi::Value GatherAsync(const Napi::CallbackInfo& info) {
  GatherArgs a = gather_args(info);
  return run_async(info.Env(), gather_work(a), {a.rows, a.anc, a.out}, a.out.length);
}

struct InPlaceArgs {
  View<float> rows;
  View<int32_t> anc, order;
  int64_t dim;
  Threads threads;
};

// gatherRowsInPlace(rows, dim, ancestors, order, threads): order receives the survivor order.
InPlaceArgs in_place_args(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  InPlaceArgs a;
  a.rows = float32_array(info[0], "rows");
  a.dim = integer(info[1], "dim", 1, kMaxInt32);
  a.anc = int32_array(info[2], "ancestors");
  a.order = int32_array(info[3], "order");
  a.threads = threads_arg(info[4]);
  const int64_t n = a.anc.length;
  require_length(env, a.rows, n * a.dim, "ancestors.length x dim");
  require_length(env, a.order, n, "one per ancestor");
  require_disjoint(env, a.rows, a.anc);
  require_disjoint(env, a.rows, a.order);
  require_disjoint(env, a.order, a.anc);
  require_ancestors(env, a.anc, n);
  return a;
}

Work in_place_work(const InPlaceArgs& a) {
  return [a](JobError&) {
    gather_rows_in_place(a.rows.data, a.dim, a.anc.data, a.anc.length, a.order.data, a.threads);
    return 0.0;
  };
}

Napi::Value GatherInPlaceSync(const Napi::CallbackInfo& info) {
  run_sync(info.Env(), in_place_work(in_place_args(info)));
  return info.Env().Undefined();
}
Napi::Value GatherInPlaceAsync(const Napi::CallbackInfo& info) {
  InPlaceArgs a = in_place_args(info);
  return run_async(info.Env(), in_place_work(a), {a.rows, a.anc, a.order}, a.rows.length);
}

// chooseByWeight(batch, logW, stream, out Int32Array(runs)) -> first failing run or -1. Sync (O(N)).
Napi::Value ChooseByWeight(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Batch b = batch_arg(info[0]);
  auto lw = float64_array(info[1], "logWeights");
  const StreamKey s = stream_arg(info[2]);
  auto out = int32_array(info[3], "out");
  require_length(env, lw, b.runs * b.particles, "runs x particles");
  require_length(env, out, b.runs, "one per run");
  require_disjoint(env, out, lw);
  for (int64_t r = 0; r < b.runs; ++r) {
    StreamKey sr = s;
    sr.run = b.run_offset + static_cast<uint32_t>(r);
    const int64_t k = draw_one(lw.data + r * b.particles, b.particles, sr);
    if (k < 0) return Napi::Number::New(env, static_cast<double>(r));
    out.data[r] = static_cast<int32_t>(k);
  }
  return Napi::Number::New(env, -1);
}

// parallelProbe(n, threads): how many distinct OS threads did work in a parallel_for
// over n items (lets tests check that two threads really split the work).
Napi::Value ParallelProbe(const Napi::CallbackInfo& info) {
  const int64_t n = integer(info[0], "n", 1, kMaxInt32);
  const Threads threads = threads_arg(info[1]);
  std::mutex m;
  std::set<std::thread::id> ids;
  parallel_for(n, threads, 1, [&](int64_t, int64_t, int) {
    {
      std::lock_guard<std::mutex> lock(m);
      ids.insert(std::this_thread::get_id());
    }
    // Each chunk takes a moment, as real work does, so the first worker cannot drain
    // the shared counter before the others have started.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  return Napi::Number::New(info.Env(), static_cast<double>(ids.size()));
}

}  // namespace

void register_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("philox4x32", Napi::Function::New(env, Philox4x32));
  exports.Set("normals", Napi::Function::New(env, Normals));
  exports.Set("kernelCoefficients", Napi::Function::New(env, KernelCoefficientsFn));
  exports.Set("initState", Napi::Function::New(env, InitState));
  exports.Set("forwardContextPath", Napi::Function::New(env, ForwardContextPath));
  exports.Set("kernelMean", Napi::Function::New(env, KernelMean));
  exports.Set("gaussianYLogWeights", Napi::Function::New(env, GaussianYLogWeights));
  exports.Set("reweight", Napi::Function::New(env, Reweight));
  exports.Set("resampleBatch", Napi::Function::New(env, ResampleBatch));
  exports.Set("propagate", Napi::Function::New(env, Propagate));
  exports.Set("smcStep", Napi::Function::New(env, SmcStep));
  exports.Set("langevin", Napi::Function::New(env, Langevin));
  exports.Set("renoise", Napi::Function::New(env, Renoise));
  exports.Set("firstNonFinite", Napi::Function::New(env, FirstNonFinite));
  exports.Set("predictionToScore", Napi::Function::New(env, PredictionToScore));
  exports.Set("resample", Napi::Function::New(env, ResampleSync));
  exports.Set("resampleAsync", Napi::Function::New(env, ResampleAsync));
  exports.Set("gatherRows", Napi::Function::New(env, GatherSync));
  exports.Set("gatherRowsAsync", Napi::Function::New(env, GatherAsync));
  exports.Set("gatherRowsInPlace", Napi::Function::New(env, GatherInPlaceSync));
  exports.Set("gatherRowsInPlaceAsync", Napi::Function::New(env, GatherInPlaceAsync));
  exports.Set("chooseByWeight", Napi::Function::New(env, ChooseByWeight));
  exports.Set("parallelProbe", Napi::Function::New(env, ParallelProbe));
  // The purpose numbering of native/core/rng.h, so TypeScript never restates it.
  Napi::Object purposes = Napi::Object::New(env);
  const std::pair<const char*, Purpose> names[] = {
      {"initial", Purpose::kInitial},           {"contextPath", Purpose::kContextPath},
      {"kernelNoise", Purpose::kKernelNoise},   {"resampling", Purpose::kResampling},
      {"outputChoice", Purpose::kOutputChoice}, {"langevin", Purpose::kLangevin},
      {"repaintNoise", Purpose::kRepaintNoise}, {"repaintKernel", Purpose::kRepaintKernel},
      {"exactComponent", Purpose::kExactComponent}, {"exactNormal", Purpose::kExactNormal},
      {"user", Purpose::kUser}};
  for (const auto& [name, p] : names) purposes.Set(name, Napi::Number::New(env, purpose_word(p)));
  exports.Set("purposes", purposes);
}

}  // namespace condiff_binding
