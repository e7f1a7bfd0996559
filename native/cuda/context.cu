// The CUDA core's context: device query, memory, transfers, events and the staging and
// workspace memory of operations. Memory and launches only (see device.h).
#include <cstring>

#include "context_impl.cuh"

namespace condiff {
namespace cuda {

DeviceQuery query_device() {
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
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaSetDevice(0) == cudaSuccess && cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
    q.free_memory = free_bytes;
  } else {
    cudaGetLastError();
  }
  q.available = true;
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

Event::~Event() { cudaEventDestroy(static_cast<cudaEvent_t>(event_)); }
void Event::wait() const {
  check(cudaSetDevice(device_), "cudaSetDevice");  // the waiting thread may be a worker
  check(cudaEventSynchronize(static_cast<cudaEvent_t>(event_)), "the device work of this call");
}

Context::Context(int device) : impl_(new Impl), device_(device) {
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
  return std::unique_ptr<Event>(new Event(e, device_));
}

void Context::begin_operation() {
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
