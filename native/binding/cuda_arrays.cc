#include "cuda_arrays.h"

#include <string>

namespace condiff_binding {

namespace {
const napi_type_tag kDeviceArrayTag = {0x636f6e6469666621ull, 0x6465766172726179ull};
}  // namespace

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
  if (!v.IsString())
    throw_type(v.Env(), std::string(name) + " must be 'float32', 'float64', 'int32' or 'uint8', got " + describe(v));
  const std::string s = v.As<Napi::String>().Utf8Value();
  for (Elem e : {Elem::kF32, Elem::kF64, Elem::kI32, Elem::kU8})
    if (s == info_of(e).name) return e;
  throw_range(v.Env(), std::string(name) + " must be 'float32', 'float64', 'int32' or 'uint8', got \"" + s + "\"");
}

// ---- DeviceArray ----

Napi::Function DeviceArrayWrap::Define(Napi::Env env) {
  return DefineClass(env, "DeviceArray",
                     {InstanceAccessor("type", &DeviceArrayWrap::Type, nullptr),
                      InstanceAccessor("length", &DeviceArrayWrap::Length, nullptr),
                      InstanceAccessor("byteLength", &DeviceArrayWrap::ByteLength, nullptr),
                      InstanceMethod("free", &DeviceArrayWrap::Free)});
}

DeviceArrayWrap::DeviceArrayWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceArrayWrap>(info) {
  if (info.Length() < 1 || !info[0].IsExternal())
    throw_type(info.Env(), "DeviceArray cannot be constructed directly: use ctx.alloc(type, length)");
  const DeviceArrayInit* init = info[0].As<Napi::External<DeviceArrayInit>>().Data();
  type_ = init->type;
  length_ = init->length;
  const size_t bytes = static_cast<size_t>(length_) * info_of(type_).size;
  try {
    buffer_ = std::make_shared<cu::DeviceBuffer>(bytes);
  } catch (const std::exception& e) {  // cu::Error, or std::bad_alloc for the control block
    throw_range(info.Env(), std::string("length: cannot allocate ") + std::to_string(bytes) +
                                " bytes of device memory (" + e.what() + ")");
  }
  accounted_ = static_cast<int64_t>(bytes);
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), accounted_);
  info.This().As<Napi::Object>().TypeTag(&kDeviceArrayTag);
}

void DeviceArrayWrap::Finalize(Napi::Env env) {
  if (accounted_) Napi::MemoryManagement::AdjustExternalMemory(env, -accounted_);
}

DeviceArrayWrap* DeviceArrayWrap::of(const Napi::Value& v) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kDeviceArrayTag)) return nullptr;
  return Unwrap(v.As<Napi::Object>());
}

Napi::Value DeviceArrayWrap::Type(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), info_of(type_).name);
}
Napi::Value DeviceArrayWrap::Length(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(length_));
}
Napi::Value DeviceArrayWrap::ByteLength(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(length_) * double(info_of(type_).size));
}

// Frees the device memory now (calls in flight that use it finish first: cudaFree waits).
Napi::Value DeviceArrayWrap::Free(const Napi::CallbackInfo& info) {
  buffer_.reset();
  if (accounted_) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -accounted_);
  accounted_ = 0;
  return info.Env().Undefined();
}

// ---- Array arguments ----

Arr arr(const Napi::Value& v, const char* name, Elem type, bool allow_null) {
  Arr a;
  a.name = name;
  a.type = type;
  const ElemInfo ei = info_of(type);
  if (allow_null && (v.IsNull() || v.IsUndefined())) {
    a.null = true;
    return a;
  }
  if (DeviceArrayWrap* d = DeviceArrayWrap::of(v)) {
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
  auto take = [&](auto view) {  // args.h takes the pointer (byteOffset, detached buffers)
    a.host = view.array, a.host_data = view.data, a.length = view.length;
  };
  switch (type) {
    case Elem::kF32: take(float32_array(v, name)); break;
    case Elem::kF64: take(float64_array(v, name)); break;
    case Elem::kI32: take(int32_array(v, name)); break;
    case Elem::kU8: take(uint8_array(v, name)); break;
  }
  return a;
}

}  // namespace condiff_binding
