// The `cuda` export of the CUDA-enabled addon (CMakeLists.txt, CONDIFF_WITH_CUDA):
//   cuda.query()              -> { available, reason, name, totalMemory, ... } (never throws)
//   new cuda.Context()        -> a device stream with the operations of ops.cc, same names,
//                                arguments and checks; every array argument may be a host
//                                typed array (copied in, and out for outputs) or a
//                                DeviceArray of the same element type (used in place)
//   ctx.alloc(type, length)   -> DeviceArray ('float32' | 'float64' | 'int32' | 'uint8')
//   ctx.hostArray(type, n)    -> a typed array over page-locked memory (fast transfers)
//   ctx.upload / download     -> copies between host arrays and DeviceArrays
//   ctx.copy(source, target)  -> device to device
//   ctx.mixtureScore(...)     -> the GaussianMixture score on the device
// Each call validates on the calling thread, enqueues its transfers and kernels on the
// context's stream, and returns a Promise that settles when the device is done (a worker
// thread waits; it never touches N-API values). Index lists that must be validated
// element by element (latent, observed) are host Int32Arrays; device-resident ancestors
// are checked on the device and reported as a RangeError when the call settles.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "args.h"
#include "core_args.h"
#include "device.h"
#include "format.h"
#include "job.h"
#include "kernels.h"
#include "mixture.h"
#include "ops.h"
#include "weights.h"

namespace condiff_binding {
namespace {

using namespace condiff;
namespace cu = condiff::cuda;

// ---- Element types ----

enum class Elem { kF32, kF64, kI32, kU8 };

struct ElemInfo {
  const char* name;        // as JS names it
  const char* array_name;  // "a Float32Array"
  napi_typedarray_type type;
  size_t size;
};

ElemInfo info_of(Elem e) {
  switch (e) {
    case Elem::kF32: return {"float32", "a Float32Array", napi_float32_array, 4};
    case Elem::kF64: return {"float64", "a Float64Array", napi_float64_array, 8};
    case Elem::kI32: return {"int32", "an Int32Array", napi_int32_array, 4};
    case Elem::kU8: return {"uint8", "a Uint8Array", napi_uint8_array, 1};
  }
  return {"", "", napi_uint8_array, 1};
}

Elem elem_arg(const Napi::Value& v, const char* name) {
  if (!v.IsString()) throw_type(v.Env(), std::string(name) + " must be 'float32', 'float64', 'int32' or 'uint8', got " + describe(v));
  const std::string s = v.As<Napi::String>().Utf8Value();
  for (Elem e : {Elem::kF32, Elem::kF64, Elem::kI32, Elem::kU8})
    if (s == info_of(e).name) return e;
  throw_range(v.Env(), std::string(name) + " must be 'float32', 'float64', 'int32' or 'uint8', got \"" + s + "\"");
}

// ---- Per-environment data (no globals): the DeviceArray constructor ----


const napi_type_tag kDeviceArrayTag = {0x636f6e6469666621ull, 0x6465766172726179ull};
const napi_type_tag kContextTag = {0x636f6e6469666621ull, 0x637564616374786eull};

// ---- DeviceArray: device memory owned by a JS object ----

struct DeviceArrayInit {
  Elem type;
  int64_t length;
};

class DeviceArrayWrap : public Napi::ObjectWrap<DeviceArrayWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DeviceArray",
                       {InstanceAccessor("type", &DeviceArrayWrap::Type, nullptr),
                        InstanceAccessor("length", &DeviceArrayWrap::Length, nullptr),
                        InstanceAccessor("byteLength", &DeviceArrayWrap::ByteLength, nullptr),
                        InstanceMethod("free", &DeviceArrayWrap::Free)});
  }

  // Only ctx.alloc creates these (its first argument is an External).
  explicit DeviceArrayWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceArrayWrap>(info) {
    if (info.Length() < 1 || !info[0].IsExternal())
      throw_type(info.Env(), "DeviceArray cannot be constructed directly: use ctx.alloc(type, length)");
    const DeviceArrayInit* init = info[0].As<Napi::External<DeviceArrayInit>>().Data();
    type_ = init->type;
    length_ = init->length;
    const size_t bytes = static_cast<size_t>(length_) * info_of(type_).size;
    try {
      buffer_ = std::make_shared<cu::DeviceBuffer>(bytes);
    } catch (const cu::Error& e) {
      throw_range(info.Env(), std::string("length: cannot allocate ") + std::to_string(bytes) +
                                  " bytes of device memory (" + e.what() + ")");
    }
    accounted_ = static_cast<int64_t>(bytes);
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), accounted_);
    info.This().As<Napi::Object>().TypeTag(&kDeviceArrayTag);
  }

  void Finalize(Napi::Env env) override {
    if (accounted_) Napi::MemoryManagement::AdjustExternalMemory(env, -accounted_);
  }

  Elem type() const { return type_; }
  int64_t length() const { return length_; }
  // The memory, or null once freed.
  const std::shared_ptr<cu::DeviceBuffer>& buffer() const { return buffer_; }

 private:
  Napi::Value Type(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), info_of(type_).name); }
  Napi::Value Length(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(length_)); }
  Napi::Value ByteLength(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(length_) * double(info_of(type_).size));
  }
  // Frees the device memory now (calls in flight that use it finish first: cudaFree waits).
  Napi::Value Free(const Napi::CallbackInfo& info) {
    buffer_.reset();
    if (accounted_) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -accounted_);
    accounted_ = 0;
    return info.Env().Undefined();
  }

  Elem type_ = Elem::kF32;
  int64_t length_ = 0;
  int64_t accounted_ = 0;
  std::shared_ptr<cu::DeviceBuffer> buffer_;
};

// ---- Array arguments: a host typed array or a DeviceArray ----

struct Arr {
  const char* name = "";
  Elem type = Elem::kF32;
  int64_t length = 0;
  bool null = false;
  Napi::TypedArray host;  // set for host arrays
  void* host_data = nullptr;
  std::shared_ptr<cu::DeviceBuffer> device;  // set for DeviceArrays
  void* ptr = nullptr;  // the device address once staged
  size_t bytes() const { return static_cast<size_t>(length) * info_of(type).size; }
  bool is_host() const { return !host.IsEmpty(); }
  template <typename T>
  T* dev() const {
    return static_cast<T*>(ptr);
  }
};

Arr arr(const Napi::Value& v, const char* name, Elem type, bool allow_null = false) {
  Arr a;
  a.name = name;
  a.type = type;
  const ElemInfo ei = info_of(type);
  if (allow_null && (v.IsNull() || v.IsUndefined())) {
    a.null = true;
    return a;
  }
  if (v.IsObject() && v.As<Napi::Object>().CheckTypeTag(&kDeviceArrayTag)) {
    DeviceArrayWrap* d = DeviceArrayWrap::Unwrap(v.As<Napi::Object>());
    if (d->type() != type)
      throw_type(v.Env(), std::string(name) + " must be " + ei.array_name + " or a " + ei.name + " DeviceArray, got a " +
                              info_of(d->type()).name + " DeviceArray");
    if (!d->buffer()) throw_type(v.Env(), std::string(name) + " must be a live DeviceArray, got one that was freed");
    a.device = d->buffer();
    a.length = d->length();
    return a;
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != ei.type)
    throw_type(v.Env(), std::string(name) + " must be " + ei.array_name + " or a " + ei.name + " DeviceArray, got " +
                            describe(v));
  switch (type) {  // args.h takes the pointer (byteOffset, detached buffers)
    case Elem::kF32: {
      auto h = float32_array(v, name);
      a.host = h.array, a.host_data = h.data, a.length = h.length;
      break;
    }
    case Elem::kF64: {
      auto h = float64_array(v, name);
      a.host = h.array, a.host_data = h.data, a.length = h.length;
      break;
    }
    case Elem::kI32: {
      auto h = int32_array(v, name);
      a.host = h.array, a.host_data = h.data, a.length = h.length;
      break;
    }
    case Elem::kU8: {
      auto h = uint8_array(v, name);
      a.host = h.array, a.host_data = h.data, a.length = h.length;
      break;
    }
  }
  return a;
}

void need_length(Napi::Env env, const Arr& a, int64_t expected, const std::string& why) {
  if (a.length != expected)
    throw_range(env, std::string(a.name) + " must have length " + std::to_string(expected) + " (" + why + "), got " +
                         std::to_string(a.length));
}

// `out` must not share memory with `in` (host ranges overlap, or the same DeviceArray).
void need_disjoint(Napi::Env env, const Arr& out, const Arr& in) {
  if (out.null || in.null) return;
  bool overlap = false;
  if (out.is_host() && in.is_host() && out.length > 0 && in.length > 0) {
    const char* a = static_cast<const char*>(out.host_data);
    const char* b = static_cast<const char*>(in.host_data);
    overlap = a < b + in.bytes() && b < a + out.bytes();
  } else if (out.device && in.device) {
    overlap = out.device == in.device;
  }
  if (overlap) throw_range(env, std::string(out.name) + " must not share memory with " + in.name + ", but they overlap");
}

template <typename... Ins>
void need_disjoint_from(Napi::Env env, const Arr& out, const Ins&... ins) {
  (need_disjoint(env, out, ins), ...);
}

// Thrown by a completion function: becomes a RangeError when the call settles.
struct RangeProblem {
  std::string message;
};

// ---- Page-locked staging, recycled ----

// Taken on the main thread, given back by the worker that completes a call.
class PinnedPool {
 public:
  cu::PinnedBuffer take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (size_t i = 0; i < free_.size(); ++i)
        if (free_[i].bytes() >= bytes) {
          cu::PinnedBuffer b = std::move(free_[i]);
          free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
          return b;
        }
    }
    return cu::PinnedBuffer(std::max<size_t>(bytes, 4096));
  }
  // Keeps a few buffers for the next calls; big ones (whole-state copies) go back at once.
  void give(cu::PinnedBuffer b) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (b.bytes() > 0 && b.bytes() <= (size_t{256} << 20) && free_.size() < 8) free_.push_back(std::move(b));
  }

 private:
  std::mutex mutex_;
  std::vector<cu::PinnedBuffer> free_;
};

// What one call leaves for its completion: device-to-host copies (into user arrays, or
// internal results read by `result`), and the objects to keep alive meanwhile.
struct Pending {
  struct Out {
    const void* device;
    void* host;  // null: internal, read by `result` from the pinned block
    size_t bytes, offset;
  };
  std::vector<Out> outs;
  size_t total = 0;
  std::vector<Held> held;
  std::vector<std::shared_ptr<const void>> keep;
  std::function<double(const char* pinned)> result;
};

// The completion of a call (job.h's Work, run off the event loop or, for the synchronous
// building blocks, on it): waits for the device, copies the results to the host arrays,
// reads the internal ones, and gives the pinned block back.
Work completion(std::shared_ptr<Pending> pending, std::shared_ptr<cu::Event> event,
                std::shared_ptr<cu::PinnedBuffer> pinned, std::shared_ptr<PinnedPool> pool) {
  return [pending, event, pinned, pool](JobError& err) -> double {
    double r = 0;
    try {
      event->wait();
      const char* base = static_cast<const char*>(pinned->data());
      for (const auto& o : pending->outs)
        if (o.host) std::memcpy(o.host, base + o.offset, o.bytes);
      if (pending->result) r = pending->result(base);
    } catch (const RangeProblem& p) {
      err = {JobError::kRange, p.message};
    } catch (const std::exception& e) {
      err = {JobError::kError, e.what()};
    }
    pool->give(std::move(*pinned));
    return r;
  };
}

// ---- The context ----

class ContextWrap : public Napi::ObjectWrap<ContextWrap> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit ContextWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ContextWrap>(info) {
    try {
      ctx_ = std::make_shared<cu::Context>(0);
    } catch (const cu::Error& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
    pool_ = std::make_shared<PinnedPool>();
    info.This().As<Napi::Object>().TypeTag(&kContextTag);
  }

 private:
  // One call's staging: inputs uploaded, outputs given device scratch and copied back.
  class Call {
   public:
    explicit Call(ContextWrap* w) : w_(w), ctx_(*w->ctx_) { ctx_.begin_operation(); }
    cu::Context& ctx() { return ctx_; }
    void* in(Arr& a) {
      if (a.null) return nullptr;
      if (a.is_host()) {
        a.ptr = a.length ? ctx_.stage_upload(a.host_data, a.bytes()) : ctx_.stage(1);
        hold(a);
      } else {
        a.ptr = a.device->data();
        pending_.keep.push_back(a.device);
      }
      return a.ptr;
    }
    void* out(Arr& a) {
      if (a.null) return nullptr;
      if (!a.is_host()) return in(a);
      a.ptr = ctx_.stage(std::max<size_t>(1, a.bytes()));
      copy_out(a.ptr, a);
      return a.ptr;
    }
    void* inout(Arr& a) {
      if (a.null) return nullptr;
      in(a);
      if (a.is_host()) add_out(a.ptr, a.host_data, a.bytes());
      return a.ptr;
    }
    // Device scratch for a result the completion reads; returns (device address, offset).
    std::pair<void*, size_t> result_slot(size_t bytes) {
      void* p = ctx_.stage(bytes);
      add_out(p, nullptr, bytes);
      return {p, pending_.outs.back().offset};
    }
    // A device copy of a small host array (an empty one gets a valid, unread address).
    template <typename T>
    const T* staged(const T* host, int64_t count) {
      if (count == 0) return static_cast<const T*>(ctx_.stage(1));
      return static_cast<const T*>(ctx_.stage_upload(host, sizeof(T) * static_cast<size_t>(count)));
    }
    // Keeps a host array referenced (and checked for detachment) until the call settles.
    void hold(const Arr& a) { pending_.held.push_back(Held(View<uint8_t>{nullptr, 0, a.host, a.name})); }
    // Copies device memory into a host array when the device is done (through pinned staging).
    void copy_out(const void* device, const Arr& host) {
      hold(host);
      add_out(device, host.host_data, host.bytes());
    }
    // A Promise that settles when the device is done (job.h: typed arrays stay referenced
    // and are checked for detachment).
    Napi::Value finish(Napi::Env env, std::function<double(const char*)> result = nullptr) {
      std::vector<Held> held = std::move(pending_.held);
      return run_async(env, complete(std::move(result)), held);
    }
    // The same, waiting on this thread (the synchronous building blocks).
    double finish_sync(Napi::Env env, std::function<double(const char*)> result = nullptr) {
      return run_sync(env, complete(std::move(result))).As<Napi::Number>().DoubleValue();
    }

   private:
    Work complete(std::function<double(const char*)> result) {
      pending_.result = std::move(result);
      pending_.keep.push_back(w_->ctx_);  // the stream outlives the call
      auto pinned = std::make_shared<cu::PinnedBuffer>(enqueue_downloads());
      std::shared_ptr<cu::Event> event = ctx_.record();
      return completion(std::make_shared<Pending>(std::move(pending_)), event, pinned, w_->pool_);
    }
    void add_out(const void* device, void* host, size_t bytes) {
      pending_.outs.push_back({device, host, bytes, pending_.total});
      pending_.total += (bytes + 63) / 64 * 64;
    }
    cu::PinnedBuffer enqueue_downloads() {
      cu::PinnedBuffer pinned = pending_.total ? w_->pool_->take(pending_.total) : cu::PinnedBuffer();
      for (const auto& o : pending_.outs)
        ctx_.download(static_cast<char*>(pinned.data()) + o.offset, o.device, o.bytes);
      return pinned;
    }
    ContextWrap* w_;
    cu::Context& ctx_;
    Pending pending_;
  };

  // Device copies of the batch coordinates (slots built on the host).
  static cu::DeviceCoordinates device_coords(Call& call, const Coords& c, int64_t dim) {
    std::vector<int32_t> slots(dim);
    cu::Context::coordinate_slots(c.latent.data, c.latent.length, c.observed.data, c.observed.length, dim, slots.data());
    return {call.staged(slots.data(), dim), call.staged(c.latent.data, c.latent.length), c.latent.length,
            call.staged(c.observed.data, c.observed.length), c.observed.length};
  }

  // Reads the ancestors report of check_indices at completion.
  static std::function<double(const char*)> index_report(size_t offset, const char* name, int64_t limit,
                                                         double value = 0) {
    const std::string n = name;
    return [offset, n, limit, value](const char* pinned) -> double {
      int64_t report[2];
      std::memcpy(report, pinned + offset, sizeof report);
      if (report[0] >= 0)
        throw RangeProblem{n + "[" + std::to_string(report[0]) + "] must be in [0, " + std::to_string(limit) +
                           "), got " + std::to_string(report[1])};
      return value;
    };
  }

  // First run whose ok byte is 0, or -1.
  static std::function<double(const char*)> first_failed(size_t offset, int64_t runs) {
    return [offset, runs](const char* pinned) -> double {
      const uint8_t* ok = reinterpret_cast<const uint8_t*>(pinned + offset);
      for (int64_t r = 0; r < runs; ++r)
        if (!ok[r]) return static_cast<double>(r);
      return -1.0;
    };
  }

  Napi::Value Alloc(const Napi::CallbackInfo& info) {
    const Elem type = elem_arg(info[0], "type");
    const int64_t length = integer(info[1], "length", 0, int64_t{1} << 40);
    AddonData* data = info.Env().GetInstanceData<AddonData>();
    DeviceArrayInit init{type, length};
    return data->cuda_device_array.New({Napi::External<DeviceArrayInit>::New(info.Env(), &init)});
  }

  // hostArray(type, length): a typed array over page-locked memory, freed when collected.
  Napi::Value HostArray(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Elem type = elem_arg(info[0], "type");
    const int64_t length = integer(info[1], "length", 1, int64_t{1} << 34);
    const size_t bytes = static_cast<size_t>(length) * info_of(type).size;
    cu::PinnedBuffer* buffer;
    try {
      buffer = new cu::PinnedBuffer(bytes);
    } catch (const cu::Error& e) {
      throw_range(env, std::string("length: cannot allocate ") + std::to_string(bytes) + " bytes of page-locked memory (" +
                           e.what() + ")");
    }
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, buffer->data(), bytes,
                                                  [](Napi::Env, void*, cu::PinnedBuffer* b) { delete b; }, buffer);
    napi_value typed;
    NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, info_of(type).type, static_cast<size_t>(length), ab, 0, &typed),
                         Napi::Value());
    return Napi::Value(env, typed);
  }

  // upload(host, device) / download(device, host): whole arrays of equal length. Page-locked
  // host arrays (hostArray) are copied directly and asynchronously; others through the
  // context's page-locked staging (download) or the driver's (upload).
  Napi::Value Upload(const Napi::CallbackInfo& info) { return Transfer(info, true); }
  Napi::Value Download(const Napi::CallbackInfo& info) { return Transfer(info, false); }
  Napi::Value Transfer(const Napi::CallbackInfo& info, bool up) {
    Napi::Env env = info.Env();
    const Napi::Value& dv = up ? info[1] : info[0];
    const Napi::Value& hv = up ? info[0] : info[1];
    if (!dv.IsObject() || !dv.As<Napi::Object>().CheckTypeTag(&kDeviceArrayTag))
      throw_type(env, "device must be a DeviceArray, got " + describe(dv));
    const Elem type = DeviceArrayWrap::Unwrap(dv.As<Napi::Object>())->type();
    Arr d = arr(dv, "device", type), h = arr(hv, "host", type);
    if (!h.is_host()) throw_type(env, std::string("host must be ") + info_of(type).array_name + ", got a DeviceArray");
    need_length(env, h, d.length, "the DeviceArray's length");
    Call call(this);
    call.in(d);
    if (up || cu::Context::is_pinned(h.host_data)) {
      call.hold(h);
      if (up) call.ctx().upload(d.ptr, h.host_data, h.bytes());
      else call.ctx().download(h.host_data, d.ptr, h.bytes());
    } else {
      call.copy_out(d.ptr, h);
    }
    return call.finish(env);
  }

  // copy(source, target): device to device, two DeviceArrays of one type and length (the
  // copy bandwidth the benchmarks compare with).
  Napi::Value Copy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject() || !info[0].As<Napi::Object>().CheckTypeTag(&kDeviceArrayTag))
      throw_type(env, "source must be a DeviceArray, got " + describe(info[0]));
    const Elem type = DeviceArrayWrap::Unwrap(info[0].As<Napi::Object>())->type();
    Arr src = arr(info[0], "source", type), dst = arr(info[1], "target", type);
    if (dst.is_host()) throw_type(env, std::string("target must be a ") + info_of(type).name + " DeviceArray, got a typed array");
    need_length(env, dst, src.length, "the source's length");
    need_disjoint(env, dst, src);
    Call call(this);
    call.ctx().copy(call.out(dst), call.in(src), src.bytes());
    return call.finish(env);
  }

  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    try {
      ctx_->synchronize();
    } catch (const cu::Error& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
    return info.Env().Undefined();
  }

  // normals(out, stream{seed, run, step, purpose}, firstElement, threads)
  Napi::Value Normals(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Arr out = arr(info[0], "out", Elem::kF32);
    const StreamKey s = stream_arg(info[1], true);
    const int64_t first = integer(info[2], "firstElement", 0, int64_t{1} << 34);
    if (first + out.length > (int64_t{1} << 34))
      throw_range(env, "firstElement + out.length must be at most 2^34 (one Philox counter word), got " +
                           std::to_string(first + out.length));
    threads_arg(info[3]);
    Call call(this);
    call.ctx().normals(s, static_cast<uint64_t>(first), out.length, static_cast<float*>(call.out(out)));
    return call.finish(env);
  }

  Napi::Value InitState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Batch b = batch_arg(info[0]);
    Coords c = coords_arg(env, info[1], info[2], b.dim);
    Arr y = arr(info[3], "yPerRun", Elem::kF32);
    const StreamKey s = stream_arg(info[4]);
    Arr z = arr(info[5], "z", Elem::kF32);
    threads_arg(info[6]);
    need_length(env, y, b.runs * c.observed.length, "runs x observed");
    need_length(env, z, b.runs * b.particles * b.dim, "runs x particles x dim");
    need_disjoint(env, z, y);
    Call call(this);
    const cu::DeviceCoordinates dc = device_coords(call, c, b.dim);
    call.ctx().init_state(b, dc, static_cast<const float*>(call.in(y)), s, static_cast<float*>(call.out(z)));
    return call.finish(env);
  }

  Napi::Value ForwardContextPath(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Arr y0 = arr(info[0], "y0", Elem::kF32);
    const int64_t runs = integer(info[1], "runs", 1, kMaxInt32);
    const int64_t run_offset = integer(info[2], "runOffset", 0, 4294967295LL - runs + 1);
    auto alpha = float64_array(info[3], "alphaTs");
    auto sigma2 = float64_array(info[4], "sigma2Ts");
    const StreamKey s = stream_arg(info[5]);
    Arr out = arr(info[6], "out", Elem::kF32);
    threads_arg(info[7]);
    const int64_t steps = alpha.length;
    require_length(env, sigma2, steps, "one per step, like alphaTs");
    need_length(env, out, runs * (steps + 1) * y0.length, "(steps + 1) x runs x observed");
    for (int64_t i = 0; i < steps; ++i)
      if (!std::isfinite(alpha.data[i]) || !(sigma2.data[i] >= 0.0) || !std::isfinite(sigma2.data[i]))
        throw_range(env, "alphaTs/sigma2Ts[" + std::to_string(i) + "] must be finite with sigma2 >= 0");
    need_disjoint(env, out, y0);
    Call call(this);
    const double* a = call.staged(alpha.data, steps);
    const double* v = call.staged(sigma2.data, steps);
    call.ctx().forward_context_path(static_cast<const float*>(call.in(y0)), y0.length, runs,
                                    static_cast<uint32_t>(run_offset), steps, a, v, s,
                                    static_cast<float*>(call.out(out)));
    return call.finish(env);
  }

  Napi::Value KernelMean(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Arr z = arr(info[0], "z", Elem::kF32);
    Arr score = arr(info[1], "score", Elem::kF32);
    const double a = finite_number(info[2], "a");
    const double b = finite_number(info[3], "b");
    Arr mu = arr(info[4], "mu", Elem::kF32);
    threads_arg(info[5]);
    need_length(env, score, z.length, "same as z");
    need_length(env, mu, z.length, "same as z");
    need_disjoint(env, mu, z);
    // mu may be the score buffer itself (elementwise, in place), not a shifted view of it.
    const bool in_place = (mu.is_host() && score.is_host() && mu.host_data == score.host_data) ||
                          (mu.device && mu.device == score.device);
    if (!in_place) need_disjoint(env, mu, score);
    Call call(this);
    const float* zd = static_cast<const float*>(call.in(z));
    float* mud = static_cast<float*>(in_place ? call.inout(score) : call.out(mu));
    const float* sd = in_place ? mud : static_cast<const float*>(call.in(score));
    call.ctx().kernel_mean(zd, sd, z.length, a, b, mud);
    return call.finish(env);
  }

  Napi::Value GaussianYLogWeights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Batch b = batch_arg(info[0]);
    auto obs = int32_array(info[1], "observed");
    require_indices(env, obs, b.dim);
    Arr mu = arr(info[2], "mu", Elem::kF32);
    Arr y = arr(info[3], "yPerRun", Elem::kF32);
    const double v = finite_number(info[4], "variance");
    if (!(v > 0.0)) throw_range(env, "variance must be positive, got " + format_number(v));
    Arr out = arr(info[5], "out", Elem::kF64);
    threads_arg(info[6]);
    need_length(env, mu, b.runs * b.particles * b.dim, "runs x particles x dim");
    need_length(env, y, b.runs * obs.length, "runs x observed");
    need_length(env, out, b.runs * b.particles, "runs x particles");
    need_disjoint_from(env, out, mu, y);
    Call call(this);
    call.ctx().gaussian_y_log_weights(b, call.staged(obs.data, obs.length), obs.length,
                                      static_cast<const float*>(call.in(mu)), static_cast<const float*>(call.in(y)), v,
                                      gaussian_log_norm(obs.length, v), static_cast<double*>(call.out(out)));
    return call.finish(env);
  }

  // reweight(batch, logW, increment, tau, logEvidenceInc, ess, flags, threads) -> first failing run or -1
  Napi::Value Reweight(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Batch b = batch_arg(info[0]);
    Arr lw = arr(info[1], "logWeights", Elem::kF64);
    Arr inc = arr(info[2], "increment", Elem::kF64);
    const double tau = finite_number(info[3], "essThreshold");
    if (tau < 0.0 || tau > 1.0) throw_range(env, "essThreshold must be in [0, 1], got " + format_number(tau));
    Arr ev = arr(info[4], "logEvidenceIncrement", Elem::kF64);
    Arr ess = arr(info[5], "ess", Elem::kF64);
    Arr flags = arr(info[6], "resampleFlags", Elem::kU8);
    threads_arg(info[7]);
    const int64_t rows = b.runs * b.particles;
    need_length(env, lw, rows, "runs x particles");
    need_length(env, inc, rows, "runs x particles");
    need_length(env, ev, b.runs, "one per run");
    need_length(env, ess, b.runs, "one per run");
    need_length(env, flags, b.runs, "one per run");
    need_disjoint_from(env, lw, inc, ev, ess, flags);
    need_disjoint_from(env, ev, inc, ess, flags);
    need_disjoint_from(env, ess, inc, flags);
    need_disjoint_from(env, flags, inc);
    Call call(this);
    auto ok = call.result_slot(b.runs);
    call.ctx().reweight(b, static_cast<double*>(call.inout(lw)), static_cast<const double*>(call.in(inc)), tau,
                        static_cast<double*>(call.inout(ev)), static_cast<double*>(call.inout(ess)),
                        static_cast<uint8_t*>(call.inout(flags)), static_cast<uint8_t*>(ok.first));
    return call.finish(env, first_failed(ok.second, b.runs));
  }

  Napi::Value ResampleBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Batch b = batch_arg(info[0]);
    const ResamplingScheme scheme = scheme_arg(info[1]);
    Arr flags = arr(info[2], "resampleFlags", Elem::kU8);
    const StreamKey s = stream_arg(info[3]);
    Arr lw = arr(info[4], "logWeights", Elem::kF64);
    Arr cdf = arr(info[5], "scratch", Elem::kF64);
    Arr anc = arr(info[6], "ancestors", Elem::kI32);
    threads_arg(info[7]);
    const int64_t rows = b.runs * b.particles;
    need_length(env, flags, b.runs, "one per run");
    need_length(env, lw, rows, "runs x particles");
    need_length(env, cdf, rows, "runs x particles");
    need_length(env, anc, rows, "runs x particles");
    need_disjoint_from(env, cdf, lw, flags, anc);
    need_disjoint_from(env, anc, lw, flags);
    need_disjoint_from(env, lw, flags);
    Call call(this);
    auto ok = call.result_slot(b.runs);
    // The scratch holds 64-bit fixed-point cumulative weights: 8 bytes per particle, like a double.
    call.ctx().resample(b, scheme, static_cast<const uint8_t*>(call.in(flags)), s,
                        static_cast<double*>(call.inout(lw)), true, -std::log(static_cast<double>(b.particles)),
                        static_cast<uint64_t*>(call.out(cdf)), static_cast<int32_t*>(call.out(anc)),
                        static_cast<uint8_t*>(ok.first));
    return call.finish(env, first_failed(ok.second, b.runs));
  }

  Napi::Value Propagate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Batch b = batch_arg(info[0]);
    Coords c = coords_arg(env, info[1], info[2], b.dim);
    Arr mu = arr(info[3], "mu", Elem::kF32);
    Arr anc = arr(info[4], "ancestors", Elem::kI32, true);
    const double noise = finite_number(info[5], "noiseScale");
    if (noise < 0.0) throw_range(env, "noiseScale must be >= 0, got " + format_number(noise));
    Arr y = arr(info[6], "yPerRun", Elem::kF32);
    const StreamKey s = stream_arg(info[7]);
    Arr z = arr(info[8], "zOut", Elem::kF32);
    threads_arg(info[9]);
    const int64_t rows = b.runs * b.particles;
    need_length(env, mu, rows * b.dim, "runs x particles x dim");
    need_length(env, z, rows * b.dim, "runs x particles x dim");
    need_length(env, y, b.runs * c.observed.length, "runs x observed");
    if (!anc.null) {
      need_length(env, anc, rows, "runs x particles");
      if (anc.is_host()) check_host_indices(env, anc, b.particles);
    }
    need_disjoint_from(env, z, mu, y, anc);
    Call call(this);
    const cu::DeviceCoordinates dc = device_coords(call, c, b.dim);
    const int32_t* ad = static_cast<const int32_t*>(call.in(anc));
    std::function<double(const char*)> done;
    if (!anc.null && !anc.is_host()) {
      auto report = call.result_slot(2 * sizeof(int64_t));
      call.ctx().check_indices(ad, rows, b.particles, static_cast<int64_t*>(report.first));
      done = index_report(report.second, "ancestors", b.particles);
    }
    call.ctx().propagate(b, dc, static_cast<const float*>(call.in(mu)), ad, noise,
                         static_cast<const float*>(call.in(y)), s, static_cast<float*>(call.out(z)));
    return call.finish(env, done);
  }

  Napi::Value Langevin(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Batch b = batch_arg(info[0]);
    Coords c = coords_arg(env, info[1], info[2], b.dim);
    Arr score = arr(info[3], "score", Elem::kF32);
    const int rule = static_cast<int>(integer(info[4], "rule", 0, 1));
    const double g = finite_number(info[5], "stepParameter");
    const double alpha = finite_number(info[6], "snrAlpha");
    if (!(g >= 0.0)) throw_range(env, "stepParameter must be >= 0, got " + format_number(g));
    const StreamKey s = stream_arg(info[7]);
    Arr z = arr(info[8], "z", Elem::kF32);
    threads_arg(info[9]);
    need_length(env, z, b.runs * b.particles * b.dim, "runs x particles x dim");
    need_length(env, score, z.length, "same as z");
    need_disjoint(env, z, score);
    Call call(this);
    const cu::DeviceCoordinates dc = device_coords(call, c, b.dim);
    call.ctx().langevin_step(b, dc, static_cast<const float*>(call.in(score)), rule, g, alpha, s,
                             static_cast<float*>(call.inout(z)));
    return call.finish(env);
  }

  Napi::Value Renoise(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Batch b = batch_arg(info[0]);
    Coords c = coords_arg(env, info[1], info[2], b.dim);
    const double a = finite_number(info[3], "alphaTs");
    const double v = finite_number(info[4], "sigma2Ts");
    if (v < 0.0) throw_range(env, "sigma2Ts must be >= 0, got " + format_number(v));
    Arr y = arr(info[5], "yPerRun", Elem::kF32);
    const StreamKey s = stream_arg(info[6]);
    Arr z = arr(info[7], "z", Elem::kF32);
    threads_arg(info[8]);
    need_length(env, z, b.runs * b.particles * b.dim, "runs x particles x dim");
    need_length(env, y, b.runs * c.observed.length, "runs x observed");
    need_disjoint(env, z, y);
    Call call(this);
    const cu::DeviceCoordinates dc = device_coords(call, c, b.dim);
    call.ctx().renoise(b, dc, a, v, static_cast<const float*>(call.in(y)), s, static_cast<float*>(call.inout(z)));
    return call.finish(env);
  }

  Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
    Arr x = arr(info[0], "values", Elem::kF32);
    threads_arg(info[1]);
    Call call(this);
    auto slot = call.result_slot(sizeof(int64_t));
    call.ctx().first_non_finite(static_cast<const float*>(call.in(x)), x.length, static_cast<int64_t*>(slot.first));
    const size_t offset = slot.second;
    return call.finish(info.Env(), [offset](const char* pinned) {
      int64_t r;
      std::memcpy(&r, pinned + offset, sizeof r);
      return static_cast<double>(r);
    });
  }

  Napi::Value PredictionToScore(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Arr z = arr(info[0], "z", Elem::kF32);
    Arr p = arr(info[1], "prediction", Elem::kF32);
    const int kind = static_cast<int>(integer(info[2], "parameterization", 0, 2));
    const double alpha = finite_number(info[3], "alpha");
    const double sigma2 = finite_number(info[4], "sigma2");
    if (!(sigma2 > 0.0)) throw_range(env, "sigma2 must be positive, got " + format_number(sigma2));
    Arr out = arr(info[5], "out", Elem::kF32);
    threads_arg(info[6]);
    need_length(env, p, z.length, "same as z");
    need_length(env, out, z.length, "same as z");
    need_disjoint_from(env, out, z, p);
    Call call(this);
    call.ctx().prediction_to_score(static_cast<const float*>(call.in(z)), static_cast<const float*>(call.in(p)),
                                   z.length, kind, alpha, sigma2, static_cast<float*>(call.out(out)));
    return call.finish(env);
  }

  // ---- The public building blocks, sync and async (one run: stream.run is the run word) ----

  struct ResampleCall {
    Arr lw, out;
    ResamplingScheme scheme;
    StreamKey stream;
  };
  ResampleCall resample_args(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ResampleCall a;
    a.lw = arr(info[0], "logWeights", Elem::kF64);
    if (a.lw.length < 1) throw_range(env, "logWeights must have at least one element, got 0");
    if (a.lw.length > kMaxInt32) throw_range(env, "logWeights must have at most 2^31 - 1 elements");
    a.scheme = scheme_arg(info[1]);
    a.stream = stream_arg(info[2], true);
    a.out = arr(info[3], "out", Elem::kI32);
    need_length(env, a.out, a.lw.length, "one ancestor per weight");
    need_disjoint(env, a.out, a.lw);
    threads_arg(info[4]);
    return a;
  }
  std::function<double(const char*)> enqueue_resample(Call& call, ResampleCall& a) {
    const Batch b{1, a.lw.length, 1, a.stream.run};
    void* cdf = call.ctx().stage(static_cast<size_t>(a.lw.length) * sizeof(uint64_t));
    auto ok = call.result_slot(1);
    call.ctx().resample(b, a.scheme, nullptr, a.stream, static_cast<double*>(call.in(a.lw)), false, 0.0,
                        static_cast<uint64_t*>(cdf), static_cast<int32_t*>(call.out(a.out)),
                        static_cast<uint8_t*>(ok.first));
    const size_t offset = ok.second;
    return [offset](const char* pinned) -> double {
      if (!pinned[offset])
        throw RangeProblem{"logWeights must contain a finite value, and no +Infinity, got none that can be drawn "
                           "(every weight is -Infinity or NaN, or one is +Infinity)"};
      return 0.0;
    };
  }
  Napi::Value ResampleSync(const Napi::CallbackInfo& info) {
    ResampleCall a = resample_args(info);
    Call call(this);
    auto done = enqueue_resample(call, a);
    return Napi::Number::New(info.Env(), call.finish_sync(info.Env(), done));
  }
  Napi::Value ResampleAsync(const Napi::CallbackInfo& info) {
    ResampleCall a = resample_args(info);
    Call call(this);
    auto done = enqueue_resample(call, a);
    return call.finish(info.Env(), done);
  }

  struct GatherCall {
    Arr rows, anc, out;
    int64_t dim, source_rows;
  };
  GatherCall gather_args(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    GatherCall a;
    a.rows = arr(info[0], "rows", Elem::kF32);
    a.dim = integer(info[1], "dim", 1, kMaxInt32);
    a.anc = arr(info[2], "ancestors", Elem::kI32);
    a.out = arr(info[3], "out", Elem::kF32);
    threads_arg(info[4]);
    if (a.rows.length % a.dim != 0)
      throw_range(env, "rows must have a length divisible by dim " + std::to_string(a.dim) + ", got " +
                           std::to_string(a.rows.length));
    a.source_rows = a.rows.length / a.dim;
    need_length(env, a.out, a.anc.length * a.dim, "ancestors.length x dim");
    if (a.anc.is_host()) check_host_indices(env, a.anc, a.source_rows);
    need_disjoint(env, a.out, a.rows);
    need_disjoint(env, a.out, a.anc);
    return a;
  }
  std::function<double(const char*)> enqueue_gather(Call& call, GatherCall& a) {
    const int32_t* ad = static_cast<const int32_t*>(call.in(a.anc));
    std::function<double(const char*)> done;
    if (!a.anc.is_host()) {
      auto report = call.result_slot(2 * sizeof(int64_t));
      call.ctx().check_indices(ad, a.anc.length, a.source_rows, static_cast<int64_t*>(report.first));
      done = index_report(report.second, "ancestors", a.source_rows);
    }
    call.ctx().gather_rows(static_cast<const float*>(call.in(a.rows)), a.source_rows, a.dim, ad, a.anc.length,
                           static_cast<float*>(call.out(a.out)));
    return done;
  }
  Napi::Value GatherSync(const Napi::CallbackInfo& info) {
    GatherCall a = gather_args(info);
    Call call(this);
    auto done = enqueue_gather(call, a);
    call.finish_sync(info.Env(), done);
    return info.Env().Undefined();
  }
  Napi::Value GatherAsync(const Napi::CallbackInfo& info) {
    GatherCall a = gather_args(info);
    Call call(this);
    auto done = enqueue_gather(call, a);
    return call.finish(info.Env(), done);
  }

  // mixtureScore(mixture, z, alpha, sigma2, out, threads): GaussianMixture.score on the device.
  Napi::Value MixtureScore(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<const GaussianMixture> model = mixture_model(info[0]);
    if (!model) throw_type(env, "mixture must be a GaussianMixture of this addon, got " + describe(info[0]));
    Arr z = arr(info[1], "z", Elem::kF32);
    const double alpha = finite_number(info[2], "alpha");
    const double sigma2 = finite_number(info[3], "sigma2");
    if (!(alpha > 0.0)) throw_range(env, "alpha must be positive, got " + describe(info[2]));
    if (!(sigma2 > 0.0))
      throw_range(env, "sigma2 must be positive (the score at t = 0 is not defined), got " + describe(info[3]));
    Arr out = arr(info[4], "out", Elem::kF32);
    threads_arg(info[5]);
    const int64_t d = model->dim();
    if (z.length % d != 0)
      throw_range(env, "z must have a length divisible by the mixture's dim " + std::to_string(d) + ", got " +
                           std::to_string(z.length));
    need_length(env, out, z.length, "same as z");
    need_disjoint(env, out, z);
    Call call(this);
    call.ctx().mixture_score(model->prepare(alpha, sigma2), static_cast<const float*>(call.in(z)), z.length / d,
                             static_cast<float*>(call.out(out)));
    return call.finish(env);
  }

  static void check_host_indices(Napi::Env env, const Arr& a, int64_t limit) {
    const int32_t* v = static_cast<const int32_t*>(a.host_data);
    for (int64_t i = 0; i < a.length; ++i)
      if (v[i] < 0 || v[i] >= limit)
        throw_range(env, std::string(a.name) + "[" + std::to_string(i) + "] must be in [0, " + std::to_string(limit) +
                             "), got " + std::to_string(v[i]));
  }

  // Wraps a method so CUDA failures while enqueuing become JS errors.
  template <Napi::Value (ContextWrap::*M)(const Napi::CallbackInfo&)>
  Napi::Value Guarded(const Napi::CallbackInfo& info) {
    try {
      return (this->*M)(info);
    } catch (const cu::Error& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }

  std::shared_ptr<cu::Context> ctx_;
  std::shared_ptr<PinnedPool> pool_;
};

Napi::Function ContextWrap::Define(Napi::Env env) {
  using C = ContextWrap;
  return DefineClass(env, "Context",
                     {InstanceMethod("alloc", &C::Guarded<&C::Alloc>),
                      InstanceMethod("hostArray", &C::Guarded<&C::HostArray>),
                      InstanceMethod("upload", &C::Guarded<&C::Upload>),
                      InstanceMethod("download", &C::Guarded<&C::Download>),
                      InstanceMethod("copy", &C::Guarded<&C::Copy>),
                      InstanceMethod("synchronize", &C::Synchronize),
                      InstanceMethod("normals", &C::Guarded<&C::Normals>),
                      InstanceMethod("initState", &C::Guarded<&C::InitState>),
                      InstanceMethod("forwardContextPath", &C::Guarded<&C::ForwardContextPath>),
                      InstanceMethod("kernelMean", &C::Guarded<&C::KernelMean>),
                      InstanceMethod("gaussianYLogWeights", &C::Guarded<&C::GaussianYLogWeights>),
                      InstanceMethod("reweight", &C::Guarded<&C::Reweight>),
                      InstanceMethod("resampleBatch", &C::Guarded<&C::ResampleBatch>),
                      InstanceMethod("propagate", &C::Guarded<&C::Propagate>),
                      InstanceMethod("langevin", &C::Guarded<&C::Langevin>),
                      InstanceMethod("renoise", &C::Guarded<&C::Renoise>),
                      InstanceMethod("firstNonFinite", &C::Guarded<&C::FirstNonFinite>),
                      InstanceMethod("predictionToScore", &C::Guarded<&C::PredictionToScore>),
                      InstanceMethod("resample", &C::Guarded<&C::ResampleSync>),
                      InstanceMethod("resampleAsync", &C::Guarded<&C::ResampleAsync>),
                      InstanceMethod("gatherRows", &C::Guarded<&C::GatherSync>),
                      InstanceMethod("gatherRowsAsync", &C::Guarded<&C::GatherAsync>),
                      InstanceMethod("mixtureScore", &C::Guarded<&C::MixtureScore>)});
}

// cuda.query(): whether a device answers, and what it is. Never throws.
Napi::Value Query(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const cu::DeviceQuery q = cu::query_device();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", Napi::Boolean::New(env, q.available));
  o.Set("reason", q.available ? env.Null() : Napi::String::New(env, q.reason).As<Napi::Value>());
  o.Set("deviceCount", Napi::Number::New(env, q.count));
  o.Set("runtimeVersion", Napi::Number::New(env, q.runtime_version));
  o.Set("driverVersion", Napi::Number::New(env, q.driver_version));
  o.Set("name", q.name.empty() ? env.Null() : Napi::String::New(env, q.name).As<Napi::Value>());
  o.Set("totalMemory", Napi::Number::New(env, double(q.total_memory)));
  o.Set("freeMemory", Napi::Number::New(env, double(q.free_memory)));
  o.Set("computeCapability", q.major ? Napi::String::New(env, std::to_string(q.major) + "." + std::to_string(q.minor)).As<Napi::Value>()
                                     : env.Null());
  o.Set("multiprocessors", Napi::Number::New(env, q.multiprocessors));
  return o;
}

}  // namespace

void register_cuda(Napi::Env env, Napi::Object exports) {
  AddonData* data = env.GetInstanceData<AddonData>();  // set by addon.cc before this runs
  data->cuda_device_array = Napi::Persistent(DeviceArrayWrap::Define(env));
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("query", Napi::Function::New(env, Query));
  cuda.Set("Context", ContextWrap::Define(env));
  cuda.Set("DeviceArray", data->cuda_device_array.Value());
  // What this build targets, for `condiff info`.
  cuda.Set("architectures", Napi::String::New(env, "sm_90 + compute_90 PTX"));
  exports.Set("cuda", cuda);
}

}  // namespace condiff_binding
