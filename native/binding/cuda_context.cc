// The CUDA context's class: its construction, method table, `lost`, and memory methods
// (alloc, hostArray, upload, download, copy, synchronize). The operations are in
// cuda_particle_ops.cc and cuda_block_ops.cc.
#include "cuda_context.h"

#include <string>

#include "addon_data.h"

namespace condiff_binding {

namespace {
const napi_type_tag kContextTag = {0x636f6e6469666621ull, 0x637564616374786eull};
}  // namespace

ContextWrap::ContextWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ContextWrap>(info) {
  guard_op(info.Env(), "new cuda.Context", [&] {
    try {
      ctx_ = std::make_shared<cu::Context>(0);
    } catch (const cu::Error& e) {
      throw Napi::Error::New(info.Env(), e.what());  // says itself why no device is usable
    }
    pool_ = std::make_shared<PinnedPool>();
  });
  info.This().As<Napi::Object>().TypeTag(&kContextTag);
}

template <ContextWrap::Method M>
Napi::ClassPropertyDescriptor<ContextWrap> ContextWrap::Entry(const char* name) {
  return InstanceMethod(name, &ContextWrap::Guarded<M>, napi_default, const_cast<char*>(name));
}

template <ContextWrap::Method M>
Napi::Value ContextWrap::Guarded(const Napi::CallbackInfo& info) {
  return guard_op(info.Env(), static_cast<const char*>(info.Data()), [&] {
    try {
      return (this->*M)(info);
    } catch (const cu::LostError& e) {
      ctx_->mark_lost(e.cause());
      throw;
    }
  });
}

Napi::Value ContextWrap::Lost(const Napi::CallbackInfo& info) {
  const std::string cause = ctx_->lost();
  if (cause.empty()) return info.Env().Null();
  return Napi::String::New(info.Env(), cause);
}

Call ContextWrap::call(const Napi::CallbackInfo& info) {
  return Call(ctx_, pool_, static_cast<const char*>(info.Data()));
}

Napi::Function ContextWrap::Define(Napi::Env env) {
  using C = ContextWrap;
  return DefineClass(env, "Context",
                     {InstanceAccessor("lost", &C::Lost, nullptr),
                      Entry<&C::Alloc>("alloc"),
                      Entry<&C::HostArray>("hostArray"),
                      Entry<&C::Upload>("upload"),
                      Entry<&C::Download>("download"),
                      Entry<&C::Copy>("copy"),
                      Entry<&C::Synchronize>("synchronize"),
                      Entry<&C::Normals>("normals"),
                      Entry<&C::InitState>("initState"),
                      Entry<&C::ForwardContextPath>("forwardContextPath"),
                      Entry<&C::KernelMean>("kernelMean"),
                      Entry<&C::GaussianYLogWeights>("gaussianYLogWeights"),
                      Entry<&C::Reweight>("reweight"),
                      Entry<&C::ResampleBatch>("resampleBatch"),
                      Entry<&C::Propagate>("propagate"),
                      Entry<&C::Langevin>("langevin"),
                      Entry<&C::Renoise>("renoise"),
                      Entry<&C::FirstNonFinite>("firstNonFinite"),
                      Entry<&C::PredictionToScore>("predictionToScore"),
                      Entry<&C::ResampleSync>("resample"),
                      Entry<&C::ResampleAsync>("resampleAsync"),
                      Entry<&C::GatherSync>("gatherRows"),
                      Entry<&C::GatherAsync>("gatherRowsAsync"),
                      Entry<&C::MixtureScore>("mixtureScore")});
}

Napi::Value ContextWrap::Alloc(const Napi::CallbackInfo& info) {
  ctx_->require_usable();
  const Elem type = elem_arg(info[0], "type");
  const int64_t length = integer(info[1], "length", 0, int64_t{1} << 40);
  AddonData* data = info.Env().GetInstanceData<AddonData>();
  DeviceArrayInit init{type, length};
  return data->cuda_device_array.New({Napi::External<DeviceArrayInit>::New(info.Env(), &init)});
}

// hostArray(type, length): a typed array over page-locked memory, freed when collected.
Napi::Value ContextWrap::HostArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Elem type = elem_arg(info[0], "type");
  const int64_t length = integer(info[1], "length", 1, int64_t{1} << 34);
  const size_t bytes = static_cast<size_t>(length) * info_of(type).size;
  cu::PinnedBuffer* buffer;
  try {
    buffer = new cu::PinnedBuffer(bytes);
  } catch (const std::exception& e) {
    throw_range(env, std::string("length: cannot allocate ") + std::to_string(bytes) + " bytes of page-locked memory (" +
                         e.what() + ")");
  }
  Napi::ArrayBuffer ab =
      Napi::ArrayBuffer::New(env, buffer->data(), bytes, [](Napi::Env, void*, cu::PinnedBuffer* b) { delete b; }, buffer);
  napi_value typed;
  NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, info_of(type).type, static_cast<size_t>(length), ab, 0, &typed),
                       Napi::Value());
  return Napi::Value(env, typed);
}

// upload(host, device[, offset]) / download(device, host[, offset]): without offset,
// whole arrays of equal length; with it, the host array's length of elements from element
// `offset` of the DeviceArray (row chunks of a state, lib/backend.ts). Page-locked host
// arrays (hostArray) are copied directly and asynchronously; others through the context's
// page-locked staging (download: a recycled block, or chunks of a bounded one for large
// arrays) or the driver's (upload).
Napi::Value ContextWrap::Upload(const Napi::CallbackInfo& info) { return Transfer(info, true); }
Napi::Value ContextWrap::Download(const Napi::CallbackInfo& info) { return Transfer(info, false); }

Napi::Value ContextWrap::Transfer(const Napi::CallbackInfo& info, bool up) {
  Napi::Env env = info.Env();
  const Napi::Value& dv = up ? info[1] : info[0];
  const Napi::Value& hv = up ? info[0] : info[1];
  const DeviceArrayWrap* device = DeviceArrayWrap::of(dv);
  if (device == nullptr) throw_type(env, "device must be a DeviceArray, got " + describe(dv));
  const Elem type = device->type();
  Arr d = arr(dv, "device", type), h = arr(hv, "host", type);
  if (!h.is_host()) throw_type(env, std::string("host must be ") + info_of(type).array_name + ", got a DeviceArray");
  int64_t offset = 0;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (h.length > d.length)
      throw_range(env, "host must not be longer than the DeviceArray (" + std::to_string(d.length) + "), got length " +
                           std::to_string(h.length));
    offset = integer(info[2], "offset", 0, d.length - h.length);
  } else {
    require_length(env, h, d.length, "the DeviceArray's length");
  }
  Call c = call(info);
  char* at = static_cast<char*>(c.in(d)) + static_cast<size_t>(offset) * info_of(type).size;
  if (up || cu::Context::is_pinned(h.host_data)) {
    c.hold(h);
    if (up) c.ctx().upload(at, h.host_data, h.bytes());
    else c.ctx().download(h.host_data, at, h.bytes());
  } else {
    c.copy_out(at, h);
  }
  return c.finish(env);
}

// copy(source, target): device to device, two DeviceArrays of one type and length (the
// copy bandwidth the benchmarks compare with).
Napi::Value ContextWrap::Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DeviceArrayWrap* source = DeviceArrayWrap::of(info[0]);
  if (source == nullptr) throw_type(env, "source must be a DeviceArray, got " + describe(info[0]));
  const Elem type = source->type();
  Arr src = arr(info[0], "source", type), dst = arr(info[1], "target", type);
  if (dst.is_host())
    throw_type(env, std::string("target must be a ") + info_of(type).name + " DeviceArray, got a typed array");
  require_length(env, dst, src.length, "the source's length");
  require_disjoint(env, dst, src);
  Call c = call(info);
  c.ctx().copy(c.out(dst), c.in(src), src.bytes());
  return c.finish(env);
}

Napi::Value ContextWrap::Synchronize(const Napi::CallbackInfo& info) {
  ctx_->require_usable();
  ctx_->synchronize();
  return info.Env().Undefined();
}

}  // namespace condiff_binding
