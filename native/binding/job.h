// Running core work either on the calling thread or off the event loop.
// An async job keeps every typed array it touches referenced until it settles and,
// when it settles, rejects if any of them was detached (transferred) meanwhile.
// Workers never touch N-API values: errors travel as strings, and any C++ exception
// (std::bad_alloc included) becomes a JS Error naming the operation.
#pragma once
#include <napi.h>

#include <functional>
#include <new>
#include <string>
#include <vector>

#include "args.h"
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

// A typed array an async job keeps referenced, with the argument name used in errors.
struct Held {
  Napi::TypedArray array;
  std::string name;
  template <typename T>
  Held(const View<T>& v) : array(v.array), name(v.name) {}  // NOLINT: implicit on purpose
};

class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, const char* op, Work work, const std::vector<Held>& arrays)
      : Napi::AsyncWorker(env, op),
        deferred_(Napi::Promise::Deferred::New(env)),
        op_(op),
        work_(std::move(work)) {
    for (const Held& a : arrays) {
      if (a.array.IsEmpty()) continue;
      refs_.push_back(Napi::Persistent(static_cast<Napi::Object>(a.array)));
      names_.push_back(a.name);
    }
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { result_ = run_work(op_, work_, error_); }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    for (size_t i = 0; i < refs_.size(); ++i) {
      Napi::TypedArray a = refs_[i].Value().As<Napi::TypedArray>();
      if (a.ArrayBuffer().IsDetached()) {
        deferred_.Reject(Napi::TypeError::New(env, names_[i] +
                                                       " was detached (transferred) while the call was in flight; "
                                                       "arrays must stay attached until the call settles")
                             .Value());
        return;
      }
    }
    if (error_.kind != JobError::kNone) {
      deferred_.Reject(error_value(env, error_));
    } else {
      deferred_.Resolve(to_js(env, result_));
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  const char* op_;
  Work work_;
  std::vector<Napi::ObjectReference> refs_;
  std::vector<std::string> names_;
  JobError error_;
  Outcome result_;
};

// Queues work off the event loop and returns its Promise. `op` names the operation in
// errors (a string literal: it outlives the job).
inline Napi::Value run_async(Napi::Env env, const char* op, Work work, const std::vector<Held>& arrays) {
  Job* job = new Job(env, op, std::move(work), arrays);
  Napi::Promise p = job->Promise();
  job->Queue();
  return p;
}

// Work estimated below this many element operations (about 20–60 µs) runs inline and
// returns an already-settled Promise: a thread-pool round trip costs ~20 µs by itself,
// which would dominate small batches. Nothing can detach an array during inline work.
constexpr int64_t kInlineCost = int64_t{1} << 16;

inline Napi::Value run_async(Napi::Env env, const char* op, Work work, const std::vector<Held>& arrays,
                             int64_t cost) {
  if (cost >= kInlineCost) return run_async(env, op, std::move(work), arrays);
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  JobError err;
  const Outcome result = run_work(op, work, err);
  if (err.kind != JobError::kNone) {
    deferred.Reject(error_value(env, err));
  } else {
    deferred.Resolve(to_js(env, result));
  }
  return deferred.Promise();
}

// Runs work now; errors become thrown JS errors.
inline Napi::Value run_sync(Napi::Env env, const char* op, const Work& work) {
  JobError err;
  const Outcome result = run_work(op, work, err);
  if (err.kind == JobError::kRange) throw Napi::RangeError::New(env, err.message);
  if (err.kind == JobError::kError) throw Napi::Error::New(env, err.message);
  return to_js(env, result);
}

}  // namespace condiff_binding
