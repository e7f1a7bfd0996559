// What one instance of the addon (one Node environment: the main thread or a Worker)
// owns: the persistent worker threads its core calls share (worker_pool.h) and, in the
// CUDA-enabled build, the DeviceArray class. N-API keeps one instance-data pointer per
// environment, so everything an instance owns lives here. Set in addon.cc; freed when the
// environment exits (the pool after the last job holding it).
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "worker_pool.h"

namespace condiff_binding {

struct OpCall;  // ops.h

// The public resample's scratch (its fixed-point CDF, 8N bytes, and 8(N + 1) more for the
// Exp(1) draws of multinomial and residual), kept between calls: a
// loop of resample() calls at N = 10^7 otherwise faulted in 80 MB of fresh pages each time.
// One call uses it at a time (try_lock); a concurrent call allocates its own. It is
// reallocated when too small or more than 4x too large, so it never holds much more than
// the last call needed.
struct ScratchCache {
  std::mutex mutex;
  std::unique_ptr<uint64_t[]> words;
  int64_t capacity = 0;
};

struct AddonData {
  std::shared_ptr<ScratchCache> resample_scratch = std::make_shared<ScratchCache>();
  std::shared_ptr<condiff::WorkerPool> pool = std::make_shared<condiff::WorkerPool>();
  Napi::FunctionReference cuda_device_array;  // set by register_cuda (cuda_binding.cc)
  // The data of every exported operation (ops.h OpCall), alive as long as the functions.
  std::vector<std::unique_ptr<OpCall>> op_calls;
  ~AddonData();
};

}  // namespace condiff_binding
