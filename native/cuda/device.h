// The CUDA core's C++ interface (no CUDA headers, so the N-API binding and the C++ tests
// compile with the host compiler). A Context owns one device stream and the scratch
// memory of its operations; there is no global mutable state. Every operation has the
// semantics of its CPU counterpart in native/core/particles.h and resampling.h, takes
// device pointers, and is enqueued on the context's stream (asynchronous: call
// synchronize() or wait on an Event before reading results on the host).
// The math lives in the shared headers of native/core (CONDIFF_HD); the .cu files of
// this folder hold launches and memory only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "mixture_score.h"
#include "mixture_structured.h"
#include "particles.h"
#include "resampling.h"
#include "rng.h"

namespace condiff {
namespace cuda {

// A CUDA runtime failure, with the call and cudaGetErrorString in the message.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A sticky failure (an illegal address, a trap, ...): the CUDA context of this process is
// lost and every later call on the device fails. cause() is the failure itself, without
// the advice the message adds.
class LostError : public Error {
 public:
  LostError(const std::string& message, std::string cause) : Error(message), cause_(std::move(cause)) {}
  const std::string& cause() const { return cause_; }

 private:
  std::string cause_;
};

// What the runtime reports about device 0: available, or why not (no driver, no device).
struct DeviceQuery {
  bool available = false;
  std::string reason;  // empty when available
  int count = 0;
  int runtime_version = 0;  // e.g. 13000
  int driver_version = 0;   // 0 when no driver is installed
  std::string name;
  uint64_t total_memory = 0;
  uint64_t free_memory = 0;  // measured only when asked (has_free_memory)
  bool has_free_memory = false;
  int major = 0, minor = 0, multiprocessors = 0;
  // Whether this process holds device 0's primary context (the driver's
  // cuDevicePrimaryCtxGetState): 1 or 0, -1 where the driver cannot say.
  int primary_context_active = -1;
};
// Never creates a CUDA context: a process that loads the CUDA addon and runs on the CPU
// leaves the device alone (a context costs hundreds of MiB of device memory). Only
// measure_free_memory (cudaMemGetInfo, which needs one) creates device 0's primary context.
DeviceQuery query_device(bool measure_free_memory = false);

// Device memory of one allocation (cudaMalloc / cudaFree).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) { o.data_ = nullptr, o.bytes_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  void reset();

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// Page-locked host memory (cudaMallocHost / cudaFreeHost): the host side of transfers
// that overlap with work, and the buffers handed to JS score callbacks.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) { o.data_ = nullptr, o.bytes_ = 0; }
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// Whether a context has seen a sticky failure, and which (shared by its events, which
// the binding waits on from worker threads).
class LostState {
 public:
  // The first sticky failure's cause, or empty.
  std::string cause() const;
  void mark(const std::string& cause);

 private:
  mutable std::mutex mutex_;
  std::string cause_;
};

// A point in a context's stream; wait() blocks the calling thread (any thread) until the
// work enqueued before it is done, and throws the Error of a failed kernel (a LostError,
// recorded in the context's LostState, when it is sticky).
class Event {
 public:
  Event(void* event, int device, std::shared_ptr<LostState> lost)
      : event_(event), device_(device), lost_(std::move(lost)) {}
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void wait() const;

 private:
  void* event_;
  int device_;
  std::shared_ptr<LostState> lost_;
};

// Batch coordinates on the device: the index lists as given, and for each of the D
// coordinates its slot, j >= 0 for latent[j], -1 - j for observed[j]
// (Context::coordinate_slots builds it on the host).
struct DeviceCoordinates {
  const int32_t* slot;
  const int32_t* latent;
  int64_t n_latent;
  const int32_t* observed;
  int64_t n_observed;
};

class Context {
 public:
  explicit Context(int device = 0);  // throws Error when no device answers
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int device() const { return device_; }
  // ---- A lost context ----
  // After a sticky failure (common.cuh is_sticky) every call on the device fails; the
  // context remembers the first cause so that later calls are refused with it rather
  // than with whatever error they happen to meet. Callers that catch a LostError on their
  // own report it here; Event::wait and synchronize() do so themselves.
  std::string lost() const { return lost_->cause(); }
  void mark_lost(const std::string& cause) { lost_->mark(cause); }
  // Throws a LostError naming the first cause when the context is lost.
  void require_usable() const;
  // A sticky failure on purpose (a kernel that traps), for the device checks of the
  // refusal above: the process cannot use the device afterwards.
  void trap_for_tests();

  // ---- Memory and transfers, ordered on the stream ----
  void upload(void* device, const void* host, size_t bytes);
  // Into host memory that is page-locked (is_pinned), or small: a pageable destination
  // gets a DMA that the driver stages through its own buffers, blocking this thread.
  void download(void* host, const void* device, size_t bytes);
  // Into pageable host memory of any size, through the context's page-locked staging of
  // kHostChunkBytes (allocated on first use, never more): chunk by chunk in stream order,
  // each chunk's host copy done by a host function on the stream, so the calling thread
  // does not wait. `host` must stay valid until the work enqueued before the next
  // record() is done (the binding holds the array until its call settles).
  void download_pageable(void* host, const void* device, size_t bytes);
  // 16 MiB: one chunk's DMA takes ~0.5 ms at PCIe 5 rates, far above the ~10 µs a host
  // function costs, and the staging stays small next to any state worth chunking.
  static constexpr size_t kHostChunkBytes = size_t{16} << 20;
  void copy(void* dst, const void* src, size_t bytes);
  void fill_bytes(void* device, int value, size_t bytes);
  // Whether host memory is page-locked (transfers to and from it are asynchronous).
  static bool is_pinned(const void* host);
  void synchronize();
  std::unique_ptr<Event> record();
  // Staging for one operation's small host inputs and outputs: valid until the next
  // begin_operation(). Stream order makes reuse safe: a later upload into the same bytes
  // runs after the kernels that read them. Refuses (require_usable) on a lost context.
  void begin_operation();
  void* stage(size_t bytes);
  void* stage_upload(const void* host, size_t bytes);
  // Slots of latent/observed coordinates (see DeviceCoordinates), host side.
  static void coordinate_slots(const int32_t* latent, int64_t n_latent, const int32_t* observed, int64_t n_observed,
                               int64_t dim, int32_t* slots);

  // ---- Operations (particles.h, resampling.h semantics) ----
  void normals(const StreamKey& s, uint64_t first, int64_t count, float* out);
  void init_state(const Batch& b, const DeviceCoordinates& c, const float* y_per_run, const StreamKey& s, float* z);
  // run_keys (device memory, optional): a run-key table as in Batch (batch.h).
  void forward_context_path(const float* y0, int64_t d_obs, int64_t runs, uint32_t run_offset, int64_t steps,
                            const double* alpha_ts, const double* sigma2_ts, const StreamKey& s, float* path,
                            const uint32_t* run_keys = nullptr);
  void kernel_mean(const float* z, const float* score, int64_t count, double a, double b, float* mu);
  void gaussian_y_log_weights(const Batch& b, const int32_t* observed, int64_t n_observed, const float* mu,
                              const float* y_per_run, double v, double log_norm, double* out);
  // Per run: log_w <- normalised(log_w + increment), log-evidence increment, ESS, resample
  // flag; ok[r] = 0 for a run whose weights are all -inf/NaN.
  void reweight(const Batch& b, double* log_w, const double* increment, double tau, double* log_evidence_inc,
                double* ess, uint8_t* resample_flag, uint8_t* ok);
  // (propagate: an ancestor outside [0, n) moves NaN; see check_indices.)
  // Resamples the runs whose flag is set (flags may be null: every run); others get the
  // identity. With reset_weights, resampled runs get log_w = uniform_log_weight.
  // ok[r] = 0 for a resampled run with no positive weight. cdf: runs * n words.
  void resample(const Batch& b, ResamplingScheme scheme, const uint8_t* flags, const StreamKey& s, double* log_w,
                bool reset_weights, double uniform_log_weight, uint64_t* cdf, int32_t* ancestors, uint8_t* ok);
  void propagate(const Batch& b, const DeviceCoordinates& c, const float* mu, const int32_t* ancestors,
                 double noise_scale, const float* y_per_run, const StreamKey& s, float* z_out);
  void langevin_step(const Batch& b, const DeviceCoordinates& c, const float* score, int rule, double gamma_or_r,
                     double snr_alpha, const StreamKey& s, float* z);
  void renoise(const Batch& b, const DeviceCoordinates& c, double alpha_ts, double sigma2_ts,
               const float* y_per_run, const StreamKey& s, float* z);
  // The first non-finite index (or -1) is written to *result (device).
  void first_non_finite(const float* x, int64_t count, int64_t* result);
  void prediction_to_score(const float* z, const float* prediction, int64_t count, int kind, double alpha,
                           double sigma2, float* out);
  // out[i] = rows[ancestors[i]]; an ancestor outside [0, source_rows) gives a row of NaN
  // (check_indices reports it).
  void gather_rows(const float* rows, int64_t source_rows, int64_t dim, const int32_t* ancestors, int64_t count,
                   float* out);
  // For index arrays that live on the device: report[0] = the first i with idx[i] outside
  // [0, limit) (or -1), report[1] = idx[report[0]]. Kernels given such an index read no
  // memory through it (they write NaN), so the call can report a RangeError afterwards.
  void check_indices(const int32_t* idx, int64_t count, int64_t limit, int64_t* report);
  // The Gaussian-mixture score of MATH.md §7 for the quantities q = model.prepare(alpha, sigma2)
  // (uploaded here), rows x q.dim.
  void mixture_score(const MixtureStep& q, const float* z, int64_t rows, float* out);
  // The same for a structured model's q = model.prepare_structured(alpha, sigma2, threads)
  // (q.path is not kDense), at the cost of its path (mixture_structure.h).
  void mixture_score_structured(const StructuredStep& q, const float* z, int64_t rows, float* out);

 private:
  void* scratch(size_t bytes);  // algorithm workspace, valid for one operation
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int device_ = 0;
  std::shared_ptr<LostState> lost_;
};

}  // namespace cuda
}  // namespace condiff
