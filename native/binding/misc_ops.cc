// Small synchronous entries: Philox (MATH.md §6), kernel coefficients (MATH.md §2), the
// huge-page advice for the run's large host buffers, and the probes tests use to see how
// parallel loops behave (threads used, thread starts the system refuses, exceptions thrown
// inside a loop).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iterator>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "core_args.h"
#include "format.h"
#include "job.h"
#include "kernels.h"
#include "ops.h"
#include "parallel.h"
#include "philox.h"
#include "svd.h"

namespace condiff_binding {
namespace {

using namespace condiff;

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

// kernelCoefficients(kernel, schedule[9]) -> [a, b, v]
Napi::Value KernelCoefficientsFn(const Napi::CallbackInfo& info) {
  const KernelKind kind = kernel_arg(info[0]);
  auto q = float64_array(info[1], "schedule");
  require_length(info.Env(), q, 9, "alpha_t, sigma2_t, alpha_s, sigma2_s, alpha_ts, sigma2_ts, h, f_t, g2_t");
  for (int64_t i = 0; i < 9; ++i)
    if (!std::isfinite(q.data[i])) throw_range(info.Env(), "schedule[" + std::to_string(i) + "] must be finite");
  StepSchedule st{q.data[0], q.data[1], q.data[2], q.data[3], q.data[4], q.data[5], q.data[6], q.data[7], q.data[8]};
  if (kind == KernelKind::kDdpm && !(st.sigma2_t > 0.0))
    throw_range(info.Env(), "schedule sigma2_t must be positive for the DDPM kernel, got " + format_number(st.sigma2_t));
  const KernelCoefficients c = kernel_coefficients(kind, st);
  Napi::Float64Array out = Napi::Float64Array::New(info.Env(), 3);
  out[0] = c.a;
  out[1] = c.b;
  out[2] = c.v;
  return out;
}

// thinSvd(rows, cols, a) -> { rank, s, u, vt, sMax, sDropped }: the thin SVD of a
// row-major rows x cols matrix (docs/MATH.md §8), once per problem, synchronous.
Napi::Value ThinSvdFn(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const int64_t rows = integer(info[0], "rows", 1, 1 << 20);
  const int64_t cols = integer(info[1], "cols", 1, kMaxInt32);
  auto a = float64_array(info[2], "a");
  if (rows * cols > (int64_t{1} << 28)) throw_range(env, "rows * cols must be at most 2^28, got " + std::to_string(rows * cols));
  require_length(env, a, rows * cols, "rows x cols, row-major");
  for (int64_t i = 0; i < rows * cols; ++i)
    if (!std::isfinite(a.data[i]))
      throw_range(env, "a[" + std::to_string(i / cols) + "][" + std::to_string(i % cols) + "] must be finite, got " + format_number(a.data[i]));
  const ThinSvd d = thin_svd(a.data, rows, cols);
  if (!d.converged) throw_range(env, "the SVD of the observation matrix did not converge in 60 Jacobi sweeps");
  Napi::Object out = Napi::Object::New(env);
  auto copy = [&](const std::vector<double>& v) {
    Napi::Float64Array x = Napi::Float64Array::New(env, v.size());
    std::copy(v.begin(), v.end(), x.Data());
    return x;
  };
  out.Set("rank", Napi::Number::New(env, static_cast<double>(d.rank)));
  out.Set("s", copy(d.s));
  out.Set("u", copy(d.u));
  out.Set("vt", copy(d.vt));
  out.Set("sMax", Napi::Number::New(env, d.s_max));
  out.Set("sDropped", Napi::Number::New(env, d.s_dropped));
  return out;
}

// ---- Probes of parallel_for, for tests ----

enum class ProbeFailure { kNone, kBadAlloc, kError, kUnknown };

struct Probe {
  int64_t n;
  Threads threads;
  ProbeFailure fail = ProbeFailure::kNone;
};

// parallelProbe(n, threads, options?): options.startLimit (>= 0) runs the loop on a pool
// of its own whose thread starts, and those of the fallback, are refused after that many
// (as a pids limit would refuse them); options.fail ('bad-alloc' | 'error' | 'unknown')
// makes a chunk throw std::bad_alloc, std::runtime_error or an int.
Probe probe_args(const Napi::CallbackInfo& info) {
  Probe p{integer(info[0], "n", 1, kMaxInt32), threads_arg(info[1])};
  if (info[2].IsUndefined()) return p;
  Napi::Object o = object(info[2], "options");
  const Napi::Value limit = o.Get("startLimit");
  if (!limit.IsUndefined()) {
    p.threads.start_limit = static_cast<int>(integer(limit, "options.startLimit", 0, 1024));
    p.threads.pool = std::make_shared<WorkerPool>();
  }
  const Napi::Value fail = o.Get("fail");
  if (!fail.IsUndefined()) {
    const std::string f = fail.IsString() ? fail.As<Napi::String>().Utf8Value() : "";
    if (f == "bad-alloc") p.fail = ProbeFailure::kBadAlloc;
    else if (f == "error") p.fail = ProbeFailure::kError;
    else if (f == "unknown") p.fail = ProbeFailure::kUnknown;
    else throw_range(info.Env(), "options.fail must be 'bad-alloc', 'error' or 'unknown', got " + describe(fail));
  }
  return p;
}

// How many distinct OS threads did work in a parallel_for over n items (so tests can see
// that two threads really split the work); every item must be visited exactly once.
double run_probe(const Probe& p) {
  std::mutex m;
  std::set<std::thread::id> ids;
  std::vector<std::atomic<int>> visits(static_cast<size_t>(p.n));
  parallel_for(p.n, p.threads, 1, [&](int64_t begin, int64_t end, int) {
    {
      std::lock_guard<std::mutex> lock(m);
      ids.insert(std::this_thread::get_id());
    }
    if (begin == 0 && p.fail == ProbeFailure::kBadAlloc) throw std::bad_alloc();
    if (begin == 0 && p.fail == ProbeFailure::kError) throw std::runtime_error("the probe's chunk failed");
    if (begin == 0 && p.fail == ProbeFailure::kUnknown) throw 42;
    for (int64_t i = begin; i < end; ++i) visits[i]++;
    // Each chunk takes a moment, as real work does, so the first worker cannot drain
    // the shared counter before the others have started.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  for (int64_t i = 0; i < p.n; ++i)
    if (visits[i].load() != 1)
      throw std::logic_error("item " + std::to_string(i) + " was visited " + std::to_string(visits[i].load()) + " times");
  return static_cast<double>(ids.size());
}

Napi::Value ParallelProbe(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), run_probe(probe_args(info)));
}

Napi::Value ParallelProbeAsync(const Napi::CallbackInfo& info) {
  const Probe p = probe_args(info);
  return async_call(info).run([p](JobError&) { return run_probe(p); });
}

// adviseHugePages(typedArray) -> boolean. Asks Linux to back the whole pages inside the
// array with transparent huge pages (madvise MADV_HUGEPAGE) before anything touches them:
// a run's state buffers are fresh, so every 4 KiB page costs a fault on first touch
// (measured ~12 µs each on a Firecracker VM: ~60 ms for 20 MB), against one fault per
// 2 MiB page. Only advice: the contents and the answers never change, and where the
// kernel or the platform says no it returns false and nothing else happens.
Napi::Value AdviseHugePages(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const auto wrong = [&] {
    throw_type(env, "array must be a Float32Array, a Float64Array or an Int32Array, got " + describe(info[0]));
  };
  if (!info[0].IsTypedArray()) wrong();
  const Napi::TypedArray a = info[0].As<Napi::TypedArray>();
  const napi_typedarray_type type = a.TypedArrayType();
  if (type != napi_float32_array && type != napi_float64_array && type != napi_int32_array) wrong();
  Napi::ArrayBuffer buffer = a.ArrayBuffer();
  auto* data = static_cast<uint8_t*>(buffer.Data());
  if (data == nullptr || a.ByteLength() == 0) return Napi::Boolean::New(env, false);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) return Napi::Boolean::New(env, false);
  const auto p = static_cast<uintptr_t>(page);
  const auto begin = reinterpret_cast<uintptr_t>(data + a.ByteOffset());
  const uintptr_t end = begin + a.ByteLength();
  // Only the pages wholly inside the array: the ones at its ends may hold other data.
  const uintptr_t first = (begin + p - 1) / p * p, last = end / p * p;
  if (last <= first) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE) == 0);
#else
  return Napi::Boolean::New(env, false);
#endif
}

const OpEntry kOps[] = {
    {"adviseHugePages", AdviseHugePages},
    {"philox4x32", Philox4x32},
    {"kernelCoefficients", KernelCoefficientsFn},
    {"thinSvd", ThinSvdFn},
    {"parallelProbe", ParallelProbe},
    {"parallelProbeAsync", ParallelProbeAsync},
};

}  // namespace

OpTable misc_ops() { return {kOps, std::size(kOps)}; }

}  // namespace condiff_binding
