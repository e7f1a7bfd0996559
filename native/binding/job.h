// Running core work either on the calling thread or off the event loop.
//
// An async call (Async below) keeps every typed array it touches referenced until it
// settles and, when it settles, rejects naming the first one that was detached
// (transferred) or resized meanwhile. What the work touches meanwhile depends on who may
// detach the arrays:
//   - arrays a user may transfer during the call (the public entries): the call works on
//     its own copies, made when it is called (inputs) and copied back when it settles
//     (outputs, only if the call succeeded and every array is still attached), so a
//     transfer can never make the worker read or write memory that another array owns;
//   - arrays on a SharedArrayBuffer (which cannot be detached or shrunk), and every array
//     of the `direct` entries (addon.cc), whose caller (the driver) owns them for the whole
//     call: used in place, zero-copy.
// Workers never touch N-API values: errors travel as strings, and any C++ exception
// (std::bad_alloc included) becomes a JS Error naming the operation. A call completes
// without throwing anything into N-API even while its environment (a Worker being
// terminated) is going away: then it just frees what it holds.
#pragma once
#include <napi.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "format.h"
#include "smc_step.h"

namespace condiff_binding {

struct JobError {
  enum Kind { kNone, kError, kRange } kind = kNone;
  std::string message;
};

// What work returns: a number (an index, or -1), or a step's typed result, which settles
// as { status, index } (status_name).
struct Outcome {
  bool is_step = false;
  double number = 0;
  condiff::StepResult step;
  Outcome(double n = 0) : number(n) {}                             // NOLINT: implicit on purpose
  Outcome(condiff::StepResult r) : is_step(true), step(r) {}       // NOLINT: implicit on purpose
};

using Work = std::function<Outcome(JobError&)>;

// The JS names of StepStatus (lib/native.ts StepStatus).
inline const char* status_name(condiff::StepStatus s) {
  switch (s) {
    case condiff::StepStatus::kOk: return "ok";
    case condiff::StepStatus::kKernelMeanNotFinite: return "kernel-mean-not-finite";
    case condiff::StepStatus::kWeightsDegenerate: return "weights-degenerate";
    case condiff::StepStatus::kResamplingFailed: return "resampling-failed";
    case condiff::StepStatus::kScoreNotFinite: return "score-not-finite";
  }
  return "unknown";
}

inline Napi::Value to_js(Napi::Env env, const Outcome& o) {
  if (!o.is_step) return Napi::Number::New(env, o.number);
  Napi::Object r = Napi::Object::New(env);
  r.Set("status", Napi::String::New(env, status_name(o.step.status)));
  r.Set("index", Napi::Number::New(env, static_cast<double>(o.step.index)));
  return r;
}

// Inside a catch block: the exception being handled as a message naming the operation.
inline std::string exception_message(const char* op) {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return std::string(op) + ": out of memory (std::bad_alloc)";
  } catch (const std::exception& e) {
    return std::string(op) + ": " + e.what();
  } catch (...) {
    return std::string(op) + ": a native exception of an unknown type";
  }
}

// Calls fn() on the main thread; a C++ exception other than a JS error (which passes
// through as it is) becomes a JS Error naming the operation.
template <typename Fn>
auto guard_op(Napi::Env env, const char* op, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw Napi::Error::New(env, exception_message(op));
  }
}

// Runs work, turning any exception into a JobError (on any thread).
inline Outcome run_work(const char* op, const Work& work, JobError& err) {
  try {
    return work(err);
  } catch (...) {
    err = {JobError::kError, exception_message(op)};
    return Outcome();
  }
}

inline Napi::Value error_value(Napi::Env env, const JobError& err) {
  if (err.kind == JobError::kRange) return Napi::RangeError::New(env, err.message).Value();
  return Napi::Error::New(env, err.message).Value();
}

// "123456 bytes (118 MiB)": a size for out-of-memory messages.
inline std::string describe_bytes(double bytes) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  std::string s = condiff::format_number(bytes) + " bytes";
  if (bytes < 1024) return s;
  double v = bytes;
  int unit = -1;
  while (v >= 1024 && unit < 3) v /= 1024, ++unit;
  char buf[32];
  std::snprintf(buf, sizeof buf, " (%.1f %s)", v, kUnits[unit]);
  return s + buf;
}

// A typed array a queued call holds until it settles.
struct HeldArray {
  std::string name;
  napi_ref ref = nullptr;
  // Where its elements were when the call was made; at settlement they must still be
  // there (napi_get_typedarray_info), or the array was detached or resized meanwhile.
  void* data = nullptr;
  size_t bytes = 0;
  // The call's own copy (null: used in place) and whether it is copied back at settlement.
  std::shared_ptr<uint8_t> copy;
  bool copy_in = false, copy_back = false;
  // Results to copy into the array at settlement from memory the call owns (`keep`):
  // the CUDA binding's page-locked staging.
  const void* result = nullptr;
};

// One queued call: the work, the arrays it holds, and the Promise it settles.
class Job {
 public:
  Job(const char* op, Work work) : op_(op), work_(std::move(work)) {}
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  std::vector<HeldArray> arrays;
  // Memory the work or the settlement uses (copies, staging), freed with the job.
  std::vector<std::shared_ptr<const void>> keep;

  // Queues the work and returns its Promise; the job then owns itself (deleted when it
  // completes). On failure the caller still owns it.
  Napi::Value queue(Napi::Env env) {
    napi_value name, promise;
    NAPI_THROW_IF_FAILED(env, napi_create_string_utf8(env, op_, NAPI_AUTO_LENGTH, &name), Napi::Value());
    NAPI_THROW_IF_FAILED(env, napi_create_async_work(env, nullptr, name, execute, complete, this, &work_handle_),
                         Napi::Value());
    NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &deferred_, &promise), Napi::Value());
    NAPI_THROW_IF_FAILED(env, napi_queue_async_work(env, work_handle_), Napi::Value());
    return Napi::Value(env, promise);
  }

  // Frees the references and the async work (the caller's part when queue() failed).
  void release(napi_env env) noexcept {
    for (HeldArray& a : arrays)
      if (a.ref != nullptr) napi_delete_reference(env, a.ref), a.ref = nullptr;
    if (work_handle_ != nullptr) napi_delete_async_work(env, work_handle_), work_handle_ = nullptr;
  }

 private:
  static void execute(napi_env, void* self) noexcept {
    Job* job = static_cast<Job*>(self);
    job->result_ = run_work(job->op_, job->work_, job->error_);
  }

  // On the environment's thread; never lets an exception reach N-API. In an environment
  // that is being torn down (a terminated Worker), N-API calls fail: the job then settles
  // nothing (no JS can observe it any more) and only frees what it holds.
  static void complete(napi_env env, napi_status status, void* self) noexcept {
    std::unique_ptr<Job> job(static_cast<Job*>(self));
    if (status != napi_cancelled) {
      napi_handle_scope scope;
      if (napi_open_handle_scope(env, &scope) == napi_ok) {
        try {
          job->settle(Napi::Env(env));
        } catch (...) {
          job->give_up(env);
        }
        napi_close_handle_scope(env, scope);
      }
    }
    job->release(env);
  }

  // Checks the arrays, copies results back, and settles the Promise. Statuses are checked
  // by hand where an environment being torn down makes calls fail (settling), so that
  // path allocates no error objects.
  void settle(Napi::Env env) {
    for (const HeldArray& a : arrays) {
      napi_value v, buffer;
      napi_typedarray_type type;
      size_t length = 0;
      void* data = nullptr;
      bool detached = false;
      if (napi_get_reference_value(env, a.ref, &v) != napi_ok || v == nullptr ||
          napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, nullptr) != napi_ok ||
          napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok)
        return give_up(env);
      if (detached || (a.bytes > 0 && (data != a.data || length * element_size(type) != a.bytes))) {
        const std::string what = detached ? " was detached (transferred)" : " was resized";
        return conclude(env, false,
                        Napi::TypeError::New(env, a.name + what +
                                                      " while the call was in flight; arrays must stay attached "
                                                      "until the call settles")
                            .Value());
      }
    }
    if (error_.kind != JobError::kNone) return conclude(env, false, error_value(env, error_));
    for (const HeldArray& a : arrays) {
      const void* from = a.copy_back ? a.copy.get() : a.result;
      if (from != nullptr && a.bytes > 0) std::memcpy(a.data, from, a.bytes);
    }
    conclude(env, true, to_js(env, result_));
  }

  void conclude(napi_env env, bool resolve, napi_value value) noexcept {
    if (deferred_ == nullptr) return;
    const napi_status s = resolve ? napi_resolve_deferred(env, deferred_, value) : napi_reject_deferred(env, deferred_, value);
    if (s == napi_ok) deferred_ = nullptr;
  }

  // Settling failed: in a live environment (out of memory, say) the Promise still rejects;
  // in one being torn down every call fails and nothing more can be done.
  void give_up(napi_env env) noexcept {
    if (deferred_ == nullptr) return;
    napi_value message, error;
    const char* text = "the call finished but its result could not be delivered";
    if (napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message) != napi_ok) return;
    if (napi_create_error(env, nullptr, message, &error) != napi_ok) return;
    conclude(env, false, error);
  }

  const char* op_;
  Work work_;
  napi_async_work work_handle_ = nullptr;
  napi_deferred deferred_ = nullptr;
  JobError error_;
  Outcome result_;
};

// Work estimated below this many element operations (about 20–60 µs) runs inline and
// returns an already-settled Promise: a thread-pool round trip costs ~20 µs by itself,
// which would dominate small batches. Nothing can detach an array during inline work.
constexpr int64_t kInlineCost = int64_t{1} << 16;
// A cost that always queues (work whose size the caller does not estimate).
constexpr int64_t kAlwaysQueue = INT64_MAX;

// One async call of the binding. Declare each array the work uses, with what it does to
// it, before creating the work: a declaration may point the view at the call's own copy.
//
//   Async call(env, op, direct, cost);
//   call.read(a.rows); call.read(a.ancestors); call.write(a.out);
//   return call.run(work(a));
//
// `direct`: the caller owns every array for the whole call (they are used in place).
class Async {
 public:
  Async(Napi::Env env, const char* op, bool direct, int64_t cost = kAlwaysQueue)
      : env_(env), op_(op), direct_(direct), inline_(cost < kInlineCost) {}

  // The work only reads the array.
  template <typename T>
  void read(View<T>& v) {
    add(v, true, false);
  }
  // The work writes every element when it succeeds (nothing is copied in).
  template <typename T>
  void write(View<T>& v) {
    add(v, false, true);
  }
  // The work reads and writes the array (or may leave some elements as they were).
  template <typename T>
  void update(View<T>& v) {
    add(v, true, true);
  }

  // Runs the work inline (small work: an already-settled Promise) or queues it.
  Napi::Value run(Work work) {
    if (inline_) {
      Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env_);
      JobError err;
      const Outcome result = run_work(op_, work, err);
      if (err.kind != JobError::kNone) {
        deferred.Reject(error_value(env_, err));
      } else {
        deferred.Resolve(to_js(env_, result));
      }
      return deferred.Promise();
    }
    auto job = std::make_unique<Job>(op_, std::move(work));
    job->arrays = std::move(arrays_);
    job->keep = std::move(keep_);
    arrays_.clear();
    try {
      Napi::Value promise = job->queue(env_);
      job.release();  // owned by its async work now
      return promise;
    } catch (...) {
      job->release(env_);
      throw;
    }
  }

  // For the CUDA binding: hold a host array (checked for detachment at settlement), and
  // copy `bytes` from `result` (kept alive by `owner`) into it when the call succeeds.
  void hold(const Napi::TypedArray& array, const char* name, void* data, size_t bytes, const void* result = nullptr) {
    HeldArray h;
    h.name = name;
    h.data = data;
    h.bytes = bytes;
    h.result = result;
    reference(h, array);
  }
  void keep(std::shared_ptr<const void> owner) { keep_.push_back(std::move(owner)); }
  bool is_inline() const { return inline_; }

  ~Async() {
    for (HeldArray& a : arrays_)
      if (a.ref != nullptr) napi_delete_reference(env_, a.ref);
  }
  Async(const Async&) = delete;
  Async& operator=(const Async&) = delete;

 private:
  void reference(HeldArray& h, const Napi::TypedArray& array) {
    NAPI_THROW_IF_FAILED_VOID(env_, napi_create_reference(env_, array, 1, &h.ref));
    arrays_.push_back(std::move(h));
  }

  template <typename T>
  void add(View<T>& v, bool in, bool out) {
    if (inline_ || v.array.IsEmpty()) return;
    const size_t bytes = static_cast<size_t>(v.length) * sizeof(T);
    HeldArray h;
    h.name = v.name;
    h.data = v.data;
    h.bytes = bytes;
    if (!direct_ && !v.shared && bytes > 0) {
      // The same memory declared twice (an output computed in place) shares one copy.
      HeldArray* same = nullptr;
      for (HeldArray& a : arrays_)
        if (a.copy && a.data == v.data && a.bytes == bytes) same = &a;
      if (same != nullptr) {
        if (in && !same->copy_in) std::memcpy(same->copy.get(), v.data, bytes), same->copy_in = true;
        same->copy_back = same->copy_back || out;
        h.copy = same->copy;
      } else {
        uint8_t* p = new (std::nothrow) uint8_t[bytes];
        if (p == nullptr)
          throw Napi::RangeError::New(env_, std::string(op_) + ": out of memory: cannot allocate " +
                                                describe_bytes(static_cast<double>(bytes)) + " to copy " + v.name +
                                                " for the call (an async call works on copies of arrays that "
                                                "could be transferred meanwhile; arrays on a SharedArrayBuffer "
                                                "are used in place)");
        h.copy.reset(p, std::default_delete<uint8_t[]>());
        if (in) std::memcpy(p, v.data, bytes);
        h.copy_in = in;
        h.copy_back = out;
      }
      v.data = reinterpret_cast<T*>(h.copy.get());
    }
    reference(h, v.array);
  }

  Napi::Env env_;
  const char* op_;
  bool direct_, inline_;
  std::vector<HeldArray> arrays_;
  std::vector<std::shared_ptr<const void>> keep_;
};

// Runs work now; errors become thrown JS errors.
inline Napi::Value run_sync(Napi::Env env, const char* op, const Work& work) {
  JobError err;
  const Outcome result = run_work(op, work, err);
  if (err.kind == JobError::kRange) throw Napi::RangeError::New(env, err.message);
  if (err.kind == JobError::kError) throw Napi::Error::New(env, err.message);
  return to_js(env, result);
}

}  // namespace condiff_binding
