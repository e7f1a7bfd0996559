// The CUDA core's context: device query, memory, transfers, events and the staging and
// workspace memory of operations. Memory and launches only (see device.h).
#include <cuda.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "context_impl.cuh"

namespace condiff {
namespace cuda {

namespace {

// Whether this process holds the primary context of device `ordinal`: the driver API's
// cuDevicePrimaryCtxGetState, reached through the runtime (the addon links no libcuda).
// Neither lookup nor call creates a context. -1 where the driver cannot say.
void* driver_entry_point(const char* symbol) {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
#if CUDART_VERSION >= 12050
  const cudaError_t status = cudaGetDriverEntryPointByVersion(symbol, &fn, 12000, cudaEnableDefault, &found);
#else
  const cudaError_t status = cudaGetDriverEntryPoint(symbol, &fn, cudaEnableDefault, &found);
#endif
  if (status != cudaSuccess || found != cudaDriverEntryPointSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return fn;
}

int primary_context_active(int ordinal) {
  void* get_device = driver_entry_point("cuDeviceGet");
  void* get_state = driver_entry_point("cuDevicePrimaryCtxGetState");
  if (get_device == nullptr || get_state == nullptr) return -1;
  CUdevice device = 0;
  if (reinterpret_cast<CUresult (*)(CUdevice*, int)>(get_device)(&device, ordinal) != CUDA_SUCCESS) return -1;
  unsigned int flags = 0;
  int active = 0;
  if (reinterpret_cast<CUresult (*)(CUdevice, unsigned int*, int*)>(get_state)(device, &flags, &active) != CUDA_SUCCESS)
    return -1;
  return active ? 1 : 0;
}

}  // namespace

DeviceQuery query_device(bool measure_free_memory) {
  DeviceQuery q;
  cudaRuntimeGetVersion(&q.runtime_version);
  cudaDriverGetVersion(&q.driver_version);  // 0 when no driver is installed
  const cudaError_t status = cudaGetDeviceCount(&q.count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear it: the query is not a failure of later calls
    q.count = 0;
    std::string why;
    if (status == cudaErrorInsufficientDriver)
      why = q.driver_version == 0 ? "no CUDA driver is installed"
                                  : "the CUDA driver (" + std::to_string(q.driver_version) +
                                        ") is older than this build's runtime (" + std::to_string(q.runtime_version) + ")";
    else if (status == cudaErrorNoDevice)
      why = "no CUDA device";
    else
      why = "the CUDA runtime could not start";
    q.reason = why + " (cudaGetDeviceCount: " + cudaGetErrorName(status) + ")";
    return q;
  }
  if (q.count == 0) {
    q.reason = "no CUDA device (cudaGetDeviceCount found 0)";
    return q;
  }
  cudaDeviceProp p;
  const cudaError_t prop = cudaGetDeviceProperties(&p, 0);
  if (prop != cudaSuccess) {
    cudaGetLastError();
    q.reason = std::string("device 0 did not answer (") + cudaGetErrorName(prop) + ")";
    return q;
  }
  q.name = p.name;
  q.total_memory = p.totalGlobalMem;
  q.major = p.major;
  q.minor = p.minor;
  q.multiprocessors = p.multiProcessorCount;
  if (p.major < 9) {
    q.reason = std::string("device 0 (") + p.name + ") has compute capability " + std::to_string(p.major) + "." +
               std::to_string(p.minor) + "; this build runs on 9.0 (Hopper) and later";
    return q;
  }
  q.available = true;
  q.primary_context_active = primary_context_active(0);
  if (measure_free_memory) {
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaSetDevice(0) == cudaSuccess && cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
      q.free_memory = free_bytes;
      q.has_free_memory = true;
    } else {
      cudaGetLastError();
    }
    q.primary_context_active = primary_context_active(0);
  }
  return q;
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes > 0) check(cudaMalloc(&data_, bytes), "cudaMalloc");
}
DeviceBuffer::~DeviceBuffer() { reset(); }
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    data_ = o.data_;
    bytes_ = o.bytes_;
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}
void DeviceBuffer::reset() {
  if (data_) cudaFree(data_);  // waits for the work that may still use it
  data_ = nullptr;
  bytes_ = 0;
}

PinnedBuffer::PinnedBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes > 0) check(cudaMallocHost(&data_, bytes), "cudaMallocHost");
}
PinnedBuffer::~PinnedBuffer() {
  if (data_) cudaFreeHost(data_);
}
PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  if (this != &o) {
    if (data_) cudaFreeHost(data_);
    data_ = o.data_;
    bytes_ = o.bytes_;
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

std::string LostState::cause() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cause_;
}
void LostState::mark(const std::string& cause) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (cause_.empty()) cause_ = cause;  // the first failure is the one that explains the rest
}

Event::~Event() { cudaEventDestroy(static_cast<cudaEvent_t>(event_)); }
void Event::wait() const {
  try {
    check(cudaSetDevice(device_), "cudaSetDevice");  // the waiting thread may be a worker
    check(cudaEventSynchronize(static_cast<cudaEvent_t>(event_)), "the device work of this call");
  } catch (const LostError& e) {
    lost_->mark(e.cause());
    throw;
  }
}

Context::Context(int device) : impl_(new Impl), device_(device), lost_(std::make_shared<LostState>()) {
  const DeviceQuery q = query_device();
  if (!q.available) throw Error("no usable CUDA device: " + q.reason);
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking), "cudaStreamCreate");
  impl_->sms = q.multiprocessors;
}

Context::~Context() {
  if (impl_->stream) {
    cudaStreamSynchronize(impl_->stream);
    cudaStreamDestroy(impl_->stream);
  }
}

void Context::upload(void* device, const void* host, size_t bytes) {
  if (bytes) check(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, impl_->stream), "upload");
}
void Context::download(void* host, const void* device, size_t bytes) {
  if (bytes) check(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, impl_->stream), "download");
}
namespace {

// One chunk of download_pageable: owned by the host function that copies it (leaked only
// when the context is lost before it runs, since a lost context runs no host function).
struct HostCopy {
  void* host;
  const void* pinned;
  size_t bytes;
};

void CUDART_CB copy_chunk_to_host(void* data) {
  std::unique_ptr<HostCopy> c(static_cast<HostCopy*>(data));
  std::memcpy(c->host, c->pinned, c->bytes);
}

}  // namespace

// One staging chunk is enough: the stream runs its work in order, so the DMA of chunk
// i + 1 waits for the host copy of chunk i whatever the number of chunks staged, and that
// same order makes reusing the chunk safe, across calls too.
void Context::download_pageable(void* host, const void* device, size_t bytes) {
  if (bytes == 0) return;
  if (impl_->host_chunk.bytes() == 0) impl_->host_chunk = PinnedBuffer(kHostChunkBytes);
  void* pinned = impl_->host_chunk.data();
  try {
    for (size_t offset = 0; offset < bytes; offset += kHostChunkBytes) {
      const size_t n = std::min(kHostChunkBytes, bytes - offset);
      check(cudaMemcpyAsync(pinned, static_cast<const char*>(device) + offset, n, cudaMemcpyDeviceToHost,
                            impl_->stream),
            "download");
      std::unique_ptr<HostCopy> c(new HostCopy{static_cast<char*>(host) + offset, pinned, n});
      check(cudaLaunchHostFunc(impl_->stream, copy_chunk_to_host, c.get()), "cudaLaunchHostFunc");
      c.release();
    }
  } catch (...) {
    // The chunks already queued finish now, while the caller still guarantees `host`.
    cudaStreamSynchronize(impl_->stream);
    cudaGetLastError();
    throw;
  }
}

void Context::copy(void* dst, const void* src, size_t bytes) {
  if (bytes) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, impl_->stream), "device copy");
}
void Context::fill_bytes(void* device, int value, size_t bytes) {
  if (bytes) check(cudaMemsetAsync(device, value, bytes, impl_->stream), "cudaMemsetAsync");
}
bool Context::is_pinned(const void* host) {
  cudaPointerAttributes a;
  if (cudaPointerGetAttributes(&a, host) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return a.type == cudaMemoryTypeHost;
}

// Waits through a blocking-sync event rather than cudaStreamSynchronize: the runtime's
// default wait spins a CPU core for as long as the device works, which the CPU backend's
// threads (or other requests of a server) need.
void Context::synchronize() { record()->wait(); }

std::unique_ptr<Event> Context::record() {
  cudaEvent_t e;
  // cudaEventBlockingSync: a waiting thread sleeps until the work is done instead of spinning.
  check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming | cudaEventBlockingSync), "cudaEventCreate");
  const cudaError_t status = cudaEventRecord(e, impl_->stream);
  if (status != cudaSuccess) {
    cudaEventDestroy(e);
    check(status, "cudaEventRecord");
  }
  return std::unique_ptr<Event>(new Event(e, device_, lost_));
}

void Context::require_usable() const {
  const std::string cause = lost_->cause();
  if (!cause.empty())
    throw LostError("the CUDA context of this process was lost after an earlier error (" + cause +
                        "), so it refuses further calls: restart the process to use the GPU again",
                    cause);
}

namespace {
__global__ void trap_kernel() { __trap(); }
}  // namespace

void Context::trap_for_tests() {
  trap_kernel<<<1, 1, 0, impl_->stream>>>();
  check_launch("trap_kernel");
}

void Context::begin_operation() {
  require_usable();
  auto& blocks = impl_->stage_blocks;
  if (blocks.size() > 1) {
    // Consolidate into one block as large as all of them (freeing waits for their users).
    size_t total = 0;
    for (const auto& b : blocks) total += b.bytes();
    blocks.clear();
    blocks.emplace_back(total);
  }
  impl_->stage_used = 0;
}

void* Context::stage(size_t bytes) {
  constexpr size_t kAlign = 256;
  bytes = (bytes + kAlign - 1) / kAlign * kAlign;
  auto& blocks = impl_->stage_blocks;
  if (blocks.empty() || impl_->stage_used + bytes > blocks.back().bytes()) {
    blocks.emplace_back(std::max<size_t>({bytes, size_t{1} << 20, blocks.empty() ? 0 : 2 * blocks.back().bytes()}));
    impl_->stage_used = 0;
  }
  void* p = static_cast<char*>(blocks.back().data()) + impl_->stage_used;
  impl_->stage_used += bytes;
  return p;
}

void* Context::stage_upload(const void* host, size_t bytes) {
  void* p = stage(bytes);
  upload(p, host, bytes);
  return p;
}

void* Context::scratch(size_t bytes) {
  if (impl_->work.bytes() < bytes) {
    impl_->work.reset();
    impl_->work = DeviceBuffer(bytes + bytes / 4);
  }
  return impl_->work.data();
}

void Context::coordinate_slots(const int32_t* latent, int64_t n_latent, const int32_t* observed, int64_t n_observed,
                               int64_t dim, int32_t* slots) {
  for (int64_t i = 0; i < dim; ++i) slots[i] = 0;
  for (int64_t j = 0; j < n_latent; ++j) slots[latent[j]] = static_cast<int32_t>(j);
  for (int64_t j = 0; j < n_observed; ++j) slots[observed[j]] = -1 - static_cast<int32_t>(j);
}

}  // namespace cuda
}  // namespace condiff
