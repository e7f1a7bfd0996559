// What one instance of the addon (one Node environment: the main thread or a Worker)
// owns: the persistent worker threads its core calls share (worker_pool.h) and, in the
// CUDA-enabled build, the DeviceArray class. N-API keeps one instance-data pointer per
// environment, so everything an instance owns lives here. Set in addon.cc; freed when the
// environment exits (the pool after the last job holding it).
#pragma once
#include <napi.h>

#include <memory>

#include "worker_pool.h"

namespace condiff_binding {

struct AddonData {
  std::shared_ptr<condiff::WorkerPool> pool = std::make_shared<condiff::WorkerPool>();
  Napi::FunctionReference cuda_device_array;  // set by register_cuda (cuda_binding.cc)
};

}  // namespace condiff_binding
