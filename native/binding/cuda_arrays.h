// Array arguments of the CUDA context (CONDIFF_WITH_CUDA): a host typed array or a
// DeviceArray (device memory owned by a JS object) of the same element type, and the
// array policy DeviceArrays under which the shared parsers (op_args.h, block_args.h)
// read them. Raw host pointers still come from args.h only.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "args.h"
#include "device.h"

namespace condiff_binding {

namespace cu = condiff::cuda;

enum class Elem { kF32, kF64, kI32, kU8 };

struct ElemInfo {
  const char* name;        // as JS names it
  const char* array_name;  // "a Float32Array"
  napi_typedarray_type type;
  size_t size;
};

ElemInfo info_of(Elem e);
// 'float32' | 'float64' | 'int32' | 'uint8'
Elem elem_arg(const Napi::Value& v, const char* name);

// Only ctx.alloc creates these (its first argument is an External).
struct DeviceArrayInit {
  Elem type;
  int64_t length;
};

class DeviceArrayWrap : public Napi::ObjectWrap<DeviceArrayWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit DeviceArrayWrap(const Napi::CallbackInfo& info);
  void Finalize(Napi::Env env) override;

  Elem type() const { return type_; }
  int64_t length() const { return length_; }
  // The memory, or null once freed.
  const std::shared_ptr<cu::DeviceBuffer>& buffer() const { return buffer_; }
  // The DeviceArray behind v, or null for any other value.
  static DeviceArrayWrap* of(const Napi::Value& v);

 private:
  Napi::Value Type(const Napi::CallbackInfo& info);
  Napi::Value Length(const Napi::CallbackInfo& info);
  Napi::Value ByteLength(const Napi::CallbackInfo& info);
  Napi::Value Free(const Napi::CallbackInfo& info);

  Elem type_ = Elem::kF32;
  int64_t length_ = 0;
  int64_t accounted_ = 0;
  std::shared_ptr<cu::DeviceBuffer> buffer_;
};

// One array argument: host (typed array) or device (DeviceArray), or absent where allowed.
struct Arr {
  const char* name = "";
  Elem type = Elem::kF32;
  int64_t length = 0;
  bool null = false;
  Napi::TypedArray host;  // set for host arrays
  void* host_data = nullptr;
  std::shared_ptr<cu::DeviceBuffer> device;  // set for DeviceArrays
  void* ptr = nullptr;                       // the device address once staged (cuda_call.h)
  size_t bytes() const { return static_cast<size_t>(length) * info_of(type).size; }
  bool is_host() const { return !host.IsEmpty(); }
};

Arr arr(const Napi::Value& v, const char* name, Elem type, bool allow_null = false);

// What the generic checks of args.h need of an array argument.
inline Span span_of(const Arr& a) {
  if (a.null) return {};
  if (a.device) return {nullptr, nullptr, a.device.get()};
  if (a.length == 0) return {};
  const uint8_t* p = static_cast<const uint8_t*>(a.host_data);
  return {p, p + a.bytes(), nullptr};
}
inline bool present(const Arr& a) { return !a.null; }
inline const int32_t* host_ints(const Arr& a) {
  return a.is_host() ? static_cast<const int32_t*>(a.host_data) : nullptr;
}

// The CUDA context's policy for the shared parsers: every array may live on either side.
struct DeviceArrays {
  using F32 = Arr;
  using F64 = Arr;
  using I32 = Arr;
  using U8 = Arr;
  static Arr f32(const Napi::Value& v, const char* name, bool allow_null = false) {
    return arr(v, name, Elem::kF32, allow_null);
  }
  static Arr f64(const Napi::Value& v, const char* name) { return arr(v, name, Elem::kF64); }
  static Arr i32(const Napi::Value& v, const char* name, bool allow_null = false) {
    return arr(v, name, Elem::kI32, allow_null);
  }
  static Arr u8(const Napi::Value& v, const char* name) { return arr(v, name, Elem::kU8); }
};

}  // namespace condiff_binding
