// The public building blocks on the CPU (resampling.h, particles.h): resample and
// gatherRows (parsers shared with the CUDA context, block_args.h), and gatherRowsInPlace.
// Each comes in two forms: synchronous (the work runs now) and async (a Promise; job.h
// says which arrays it copies).
#include <iterator>
#include <memory>
#include <mutex>

#include "addon_data.h"
#include "block_args.h"
#include "job.h"
#include "ops.h"
#include "particles.h"
#include "resampling.h"

namespace condiff_binding {
namespace {

using namespace condiff;
using H = HostArrays;

struct HostResample {
  ResampleArgs<H> args;
  std::shared_ptr<ScratchCache> scratch;  // the addon instance's, kept alive by the job
};

HostResample resample_args(const Napi::CallbackInfo& info) {
  HostResample r{parse_resample<H>(info), nullptr};
  AddonData* data = info.Env().GetInstanceData<AddonData>();
  if (data != nullptr) r.scratch = data->resample_scratch;
  return r;
}

Work resample_work(const HostResample& r) {
  return [r](JobError& err) {
    const ResampleArgs<H>& a = r.args;
    const int64_t n = a.log_w.length;
    // The CDF, and for multinomial and residual their n + 1 Exp(1) draws (drawn once).
    const bool keeps_draws = a.scheme == ResamplingScheme::kMultinomial || a.scheme == ResamplingScheme::kResidual;
    const int64_t words = keeps_draws ? 2 * n + 1 : n;
    std::unique_ptr<uint64_t[]> own;
    uint64_t* cdf = nullptr;
    std::unique_lock<std::mutex> lock;
    if (r.scratch) lock = std::unique_lock<std::mutex>(r.scratch->mutex, std::try_to_lock);
    if (lock.owns_lock()) {
      if (r.scratch->capacity < words || r.scratch->capacity > 4 * words) {
        r.scratch->words.reset();  // free first: the old and new buffers never coexist
        r.scratch->capacity = 0;
        r.scratch->words.reset(new uint64_t[words]);
        r.scratch->capacity = words;
      }
      cdf = r.scratch->words.get();
    } else {
      own.reset(new uint64_t[words]);
      cdf = own.get();
    }
    int64_t nan_at = -1;
    if (!resample_run(a.scheme, a.log_w.data, n, a.stream, cdf, a.out.data, a.threads, keeps_draws ? cdf + n : nullptr,
                      &nan_at))
      err = {JobError::kRange, nan_at >= 0 ? nan_weight_message(nan_at) : std::string(kNothingToDraw)};
    return 0.0;
  };
}

Napi::Value ResampleSync(const Napi::CallbackInfo& info) {
  return run_sync(info.Env(), op_name(info), resample_work(resample_args(info)));
}
Napi::Value ResampleAsync(const Napi::CallbackInfo& info) {
  HostResample r = resample_args(info);
  Async call = async_call(info, r.args.log_w.length * 8);
  call.read(r.args.log_w);
  call.write(r.args.out);
  return call.run(resample_work(r));
}

Work gather_work(const GatherArgs<H>& a) {
  return [a](JobError&) {
    gather_rows(a.rows.data, a.dim, a.ancestors.data, a.ancestors.length, a.out.data, a.threads);
    return 0.0;
  };
}

Napi::Value GatherSync(const Napi::CallbackInfo& info) {
  run_sync(info.Env(), op_name(info), gather_work(parse_gather<H>(info)));
  return info.Env().Undefined();
}
Napi::Value GatherAsync(const Napi::CallbackInfo& info) {
  auto a = parse_gather<H>(info);
  Async call = async_call(info, a.out.length);
  call.read(a.rows);
  call.read(a.ancestors);
  call.write(a.out);
  return call.run(gather_work(a));
}

// gatherRowsInPlace(rows, dim, ancestors, order, threads): order receives the survivor order.
struct InPlaceArgs {
  View<float> rows;
  View<int32_t> ancestors, order;
  int64_t dim;
  Threads threads;
};

InPlaceArgs parse_in_place(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  InPlaceArgs a;
  a.rows = float32_array(info[0], "rows");
  a.dim = integer(info[1], "dim", 1, kMaxInt32);
  a.ancestors = int32_array(info[2], "ancestors");
  a.order = int32_array(info[3], "order");
  a.threads = threads_arg(info[4]);
  const int64_t n = a.ancestors.length;
  require_length(env, a.rows, n * a.dim, "ancestors.length x dim");
  require_length(env, a.order, n, "one per ancestor");
  require_all_disjoint(env, a.rows, a.order, a.ancestors);
  require_in_range(env, "ancestors", a.ancestors.data, n, n);
  return a;
}

Work in_place_work(const InPlaceArgs& a) {
  return [a](JobError&) {
    gather_rows_in_place(a.rows.data, a.dim, a.ancestors.data, a.ancestors.length, a.order.data, a.threads);
    return 0.0;
  };
}

Napi::Value GatherInPlaceSync(const Napi::CallbackInfo& info) {
  run_sync(info.Env(), op_name(info), in_place_work(parse_in_place(info)));
  return info.Env().Undefined();
}
Napi::Value GatherInPlaceAsync(const Napi::CallbackInfo& info) {
  InPlaceArgs a = parse_in_place(info);
  Async call = async_call(info, a.rows.length);
  call.update(a.rows);
  call.read(a.ancestors);
  call.write(a.order);
  return call.run(in_place_work(a));
}

const OpEntry kOps[] = {
    {"resample", ResampleSync},
    {"resampleAsync", ResampleAsync},
    {"gatherRows", GatherSync},
    {"gatherRowsAsync", GatherAsync},
    {"gatherRowsInPlace", GatherInPlaceSync},
    {"gatherRowsInPlaceAsync", GatherInPlaceAsync},
};

}  // namespace

OpTable block_ops() { return {kOps, std::size(kOps)}; }

}  // namespace condiff_binding
