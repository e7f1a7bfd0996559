// One call of the CUDA context: its inputs staged on the device, its outputs given
// device memory and copied back through page-locked staging (a recycled block for small
// results, the context's bounded chunk for large ones), and a completion that waits
// for the device off the event loop (job.h) and turns what it finds into the settled value
// or a JS error naming the operation. Workers never touch N-API values, nor host arrays a
// user could transfer meanwhile: the staged results reach them when the call settles, on
// the main thread, after the detachment check (job.h).
#pragma once
#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core_args.h"
#include "cuda_arrays.h"
#include "device.h"
#include "job.h"

namespace condiff_binding {

// Thrown by a completion function: becomes a RangeError when the call settles.
struct RangeProblem {
  std::string message;
};

// Reads a call's results from the pinned block when the device is done.
using ResultFn = std::function<Outcome(const char* pinned)>;

// Page-locked staging, recycled: taken on the main thread, given back by the worker that
// completes a call.
class PinnedPool {
 public:
  cu::PinnedBuffer take(size_t bytes);
  // Keeps a few buffers (up to 8 of up to 256 MiB) for the next calls; the blocks hold
  // small results only (large ones use the context's chunk), so most are kept.
  void give(cu::PinnedBuffer b);

 private:
  std::mutex mutex_;
  std::vector<cu::PinnedBuffer> free_;
};

// A host array a call holds until it settles; `out` >= 0 names its download (Pending::outs).
struct HeldHost {
  Napi::TypedArray array;
  const char* name;
  void* data;
  size_t bytes;
  int out = -1;
};

// What one call leaves for its completion: device-to-host copies (into host arrays, or
// internal results read by `result`), and the objects to keep alive meanwhile.
struct Pending {
  struct Out {
    const void* device;
    void* host;  // null: internal, read by `result` from the pinned block
    size_t bytes, offset;
  };
  std::vector<Out> outs;
  size_t total = 0;
  std::vector<HeldHost> held;
  std::vector<std::shared_ptr<const void>> keep;
  ResultFn result;
};

class Call {
 public:
  Call(std::shared_ptr<cu::Context> ctx, std::shared_ptr<PinnedPool> pool, const char* op);
  cu::Context& ctx() { return *ctx_; }
  // Device addresses of an array argument: an input (uploaded if on the host), an output
  // (device scratch copied back to a host array), or both.
  void* in(Arr& a);
  void* out(Arr& a);
  void* inout(Arr& a);
  template <typename T>
  const T* in_as(Arr& a) {
    return static_cast<const T*>(in(a));
  }
  template <typename T>
  T* out_as(Arr& a) {
    return static_cast<T*>(out(a));
  }
  template <typename T>
  T* inout_as(Arr& a) {
    return static_cast<T*>(inout(a));
  }
  // Device scratch for a result the completion reads; returns (device address, offset).
  std::pair<void*, size_t> result_slot(size_t bytes);
  // A device copy of a small host array (an empty one gets a valid, unread address).
  template <typename T>
  const T* staged(const T* host, int64_t count) {
    if (count == 0) return static_cast<const T*>(ctx_->stage(1));
    return static_cast<const T*>(ctx_->stage_upload(host, sizeof(T) * static_cast<size_t>(count)));
  }
  // The batch with its run-key table (if any) staged on the device (batch.h).
  condiff::Batch batch(const BatchArg& a);
  // Device copies of the batch coordinates (slots built on the host).
  cu::DeviceCoordinates coords(const Coords& c, int64_t dim);
  // Keeps a host array referenced (and checked for detachment) until the call settles.
  void hold(const Arr& a);
  // Copies device memory into a host array when the device is done (through pinned staging).
  void copy_out(const void* device, const Arr& host);
  // Checks a device-resident index array (values in [0, limit)); the call then rejects
  // with "<name>[i] must be in [0, limit), got x" when one is not.
  void check_device_indices(Arr& idx, int64_t limit);
  // A Promise that settles when the device is done (job.h: typed arrays stay referenced
  // and are checked for detachment), to result's value (default: 0).
  Napi::Value finish(Napi::Env env, ResultFn result = nullptr);
  // The same, waiting on this thread (the synchronous building blocks).
  Napi::Value finish_sync(Napi::Env env, ResultFn result = nullptr);

 private:
  // The completion; `to_host`: it also copies the downloads into the host arrays (the
  // synchronous building blocks, which nothing can detach meanwhile).
  Work complete(ResultFn result, bool to_host);
  void add_out(const void* device, void* host, size_t bytes);
  cu::PinnedBuffer enqueue_downloads();

  std::shared_ptr<cu::Context> ctx_;
  std::shared_ptr<PinnedPool> pool_;
  const char* op_;
  Pending pending_;
  // Host results above cu::Context::kHostChunkBytes: copied through the context's bounded
  // staging (download_pageable), not through a page-locked block of their size.
  std::vector<Pending::Out> chunked_;
  std::vector<ResultFn> checks_;  // run before `result` at completion
  std::shared_ptr<cu::PinnedBuffer> pinned_;  // the downloads' block, once complete() made it
};

// First run whose ok byte is 0, or -1 (reweight, resampleBatch).
ResultFn first_failed(size_t offset, int64_t runs);

}  // namespace condiff_binding
