// The state a Context owns (internal to the .cu files): its stream, the staging blocks
// of the current operation, the algorithm workspace and the page-locked staging of
// downloads into pageable memory.
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
  PinnedBuffer host_chunk;  // download_pageable's staging, kHostChunkBytes once used
  Launch launch() const { return {stream, sms}; }
};

}  // namespace cuda
}  // namespace condiff
