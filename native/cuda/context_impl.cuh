// The state a Context owns (internal to the .cu files): its stream, the staging blocks
// of the current operation and the algorithm workspace.
#pragma once
#include <vector>

#include "common.cuh"

namespace condiff {
namespace cuda {

struct Context::Impl {
  cudaStream_t stream = nullptr;
  int sms = 1;
  std::vector<DeviceBuffer> stage_blocks;  // the last is the one being filled
  size_t stage_used = 0;
  DeviceBuffer work;
  Launch launch() const { return {stream, sms}; }
};

}  // namespace cuda
}  // namespace condiff
