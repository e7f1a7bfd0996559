// Launch helpers and error checks shared by the CUDA core's .cu files (no math here).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "device.h"

namespace condiff {
namespace cuda {

// Errors after which the CUDA context of this process is unusable: every later call
// returns the same error, and only a new process can use the device again.
inline bool is_sticky(cudaError_t status) {
  switch (status) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorLaunchTimeout:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
      return true;
    default:
      return false;
  }
}

// Throws Error for a failed call. The runtime's last error is cleared first: a caught
// failure (an out-of-memory, say) must not resurface as the error of the next, unrelated
// launch check. A sticky error cannot be cleared: it throws a LostError whose message
// says so, and the Context then refuses every later call with its cause
// (Context::require_usable).
inline void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();
  std::string cause = std::string("CUDA error in ") + what + ": " + cudaGetErrorName(status) + " (" +
                      cudaGetErrorString(status) + ")";
  if (is_sticky(status))
    throw LostError(cause + "; the device is unusable in this process after this error (the CUDA context is lost): "
                            "restart the process to use the GPU again",
                    cause);
  throw Error(cause);
}

// After a launch: configuration errors show at once, execution errors at the next wait.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items: enough to fill the device, no more.
inline unsigned grid_for(int64_t n, int sms, int threads = kThreads) {
  const int64_t want = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(want, int64_t{sms} * 32)));
}

// Blocks for one thread per item (no grid-stride loop); n < 2^31 * threads.
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  return static_cast<unsigned>(std::max<int64_t>(1, (n + threads - 1) / threads));
}

__device__ inline int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline int64_t grid_stride() { return static_cast<int64_t>(blockDim.x) * gridDim.x; }

// What every operation's launch needs from the context.
struct Launch {
  cudaStream_t stream;
  int sms;
};

}  // namespace cuda
}  // namespace condiff
