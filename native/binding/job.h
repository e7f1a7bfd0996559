// Running core work either on the calling thread or off the event loop.
// An async job keeps every typed array it touches referenced until it settles and,
// when it settles, rejects if any of them was detached (transferred) meanwhile.
// Workers never touch N-API values: errors travel as strings (MATH-free glue).
#pragma once
#include <napi.h>

#include <functional>
#include <string>
#include <vector>

#include "args.h"

namespace condiff_binding {

struct JobError {
  enum Kind { kNone, kError, kRange } kind = kNone;
  std::string message;
};

// Work returns a double (an index, or -1) or reports an error through JobError.
using Work = std::function<double(JobError&)>;

// A typed array an async job keeps referenced, with the argument name used in errors.
struct Held {
  Napi::TypedArray array;
  std::string name;
  template <typename T>
  Held(const View<T>& v) : array(v.array), name(v.name) {}  // NOLINT: implicit on purpose
};

class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, Work work, const std::vector<Held>& arrays)
      : Napi::AsyncWorker(env, "condiff"), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)) {
    for (const Held& a : arrays) {
      if (a.array.IsEmpty()) continue;
      refs_.push_back(Napi::Persistent(static_cast<Napi::Object>(a.array)));
      names_.push_back(a.name);
    }
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      result_ = work_(error_);
    } catch (const std::exception& e) {
      error_ = {JobError::kError, e.what()};
    }
  }
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
    if (error_.kind == JobError::kRange) {
      deferred_.Reject(Napi::RangeError::New(env, error_.message).Value());
    } else if (error_.kind == JobError::kError) {
      deferred_.Reject(Napi::Error::New(env, error_.message).Value());
    } else {
      deferred_.Resolve(Napi::Number::New(env, result_));
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  std::vector<Napi::ObjectReference> refs_;
  std::vector<std::string> names_;
  JobError error_;
  double result_ = 0;
};

// Queues work off the event loop and returns its Promise.
inline Napi::Value run_async(Napi::Env env, Work work, const std::vector<Held>& arrays) {
  Job* job = new Job(env, std::move(work), arrays);
  Napi::Promise p = job->Promise();
  job->Queue();
  return p;
}

// Work estimated below this many element operations (about 20–60 µs) runs inline and
// returns an already-settled Promise: a thread-pool round trip costs ~20 µs by itself,
// which would dominate small batches. Nothing can detach an array during inline work.
constexpr int64_t kInlineCost = int64_t{1} << 16;

inline Napi::Value run_async(Napi::Env env, Work work, const std::vector<Held>& arrays, int64_t cost) {
  if (cost >= kInlineCost) return run_async(env, std::move(work), arrays);
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  JobError err;
  double result = 0;
  try {
    result = work(err);
  } catch (const std::exception& e) {
    err = {JobError::kError, e.what()};
  }
  if (err.kind == JobError::kRange) {
    deferred.Reject(Napi::RangeError::New(env, err.message).Value());
  } else if (err.kind == JobError::kError) {
    deferred.Reject(Napi::Error::New(env, err.message).Value());
  } else {
    deferred.Resolve(Napi::Number::New(env, result));
  }
  return deferred.Promise();
}

// Runs work now; errors become thrown JS errors.
inline Napi::Value run_sync(Napi::Env env, const Work& work) {
  JobError err;
  double r = 0;
  try {
    r = work(err);
  } catch (const std::exception& e) {  // e.g. bad_alloc for a scratch: a JS Error, not a crash
    err = {JobError::kError, e.what()};
  }
  if (err.kind == JobError::kRange) throw Napi::RangeError::New(env, err.message);
  if (err.kind == JobError::kError) throw Napi::Error::New(env, err.message);
  return Napi::Number::New(env, r);
}

}  // namespace condiff_binding
