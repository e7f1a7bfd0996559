// What one instance of the addon (one Node environment: the main thread or a Worker)
// owns: the persistent worker threads its core calls share (worker_pool.h). Set in
// addon.cc; freed when the environment exits, after the last job holding the pool.
#pragma once
#include <memory>

#include "worker_pool.h"

namespace condiff_binding {

struct AddonData {
  std::shared_ptr<condiff::WorkerPool> pool = std::make_shared<condiff::WorkerPool>();
};

}  // namespace condiff_binding
