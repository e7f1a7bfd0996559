#include "args.h"

#include <cmath>

#include "format.h"

namespace condiff_binding {

size_t element_size(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array: return 1;
    case napi_int16_array:
    case napi_uint16_array: return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array: return 8;
    default: return 0;
  }
}

void throw_type(Napi::Env env, const std::string& message) { throw Napi::TypeError::New(env, message); }
void throw_range(Napi::Env env, const std::string& message) { throw Napi::RangeError::New(env, message); }

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return condiff::format_number(v.As<Napi::Number>().DoubleValue());
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsString()) return "a string";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_float32_array: return "a Float32Array";
      case napi_float64_array: return "a Float64Array";
      case napi_int32_array: return "an Int32Array";
      case napi_uint32_array: return "a Uint32Array";
      case napi_uint8_array: return "a Uint8Array";
      default: return "a typed array of another type";
    }
  }
  if (v.IsArray()) return "an Array";
  if (v.IsFunction()) return "a function";
  if (v.IsObject()) return "an object";
  return "a value of another type";
}

namespace {

template <typename T>
View<T> typed(const Napi::Value& v, const char* name, napi_typedarray_type type, const char* type_name,
              bool allow_null) {
  View<T> view;
  view.name = name;
  if (allow_null && (v.IsNull() || v.IsUndefined())) return view;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throw_type(v.Env(), std::string(name) + " must be " + type_name + ", got " + describe(v));
  Napi::Env env = v.Env();
  // The element pointer straight from the typed array (byteOffset applied): it works for
  // an ArrayBuffer and a SharedArrayBuffer alike, where napi_get_arraybuffer_info refuses
  // the latter.
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, v, nullptr, &length, &data, &buffer, nullptr), view);
  bool is_array_buffer = false, detached = false;
  NAPI_THROW_IF_FAILED(env, napi_is_arraybuffer(env, buffer, &is_array_buffer), view);
  if (is_array_buffer) NAPI_THROW_IF_FAILED(env, napi_is_detached_arraybuffer(env, buffer, &detached), view);
  if (detached)
    throw_type(env, std::string(name) + " must be " + type_name + " with a live buffer, got a detached one");
  view.array = v.As<Napi::TypedArray>();
  view.shared = !is_array_buffer;  // the other kind of buffer a typed array can view
  view.length = static_cast<int64_t>(length);
  view.data = view.length == 0 ? nullptr : static_cast<T*>(data);
  return view;
}

}  // namespace

View<float> float32_array(const Napi::Value& v, const char* name, bool allow_null) {
  return typed<float>(v, name, napi_float32_array, "a Float32Array", allow_null);
}
View<double> float64_array(const Napi::Value& v, const char* name, bool allow_null) {
  return typed<double>(v, name, napi_float64_array, "a Float64Array", allow_null);
}
View<int32_t> int32_array(const Napi::Value& v, const char* name, bool allow_null) {
  return typed<int32_t>(v, name, napi_int32_array, "an Int32Array", allow_null);
}
View<uint32_t> uint32_array(const Napi::Value& v, const char* name, bool allow_null) {
  return typed<uint32_t>(v, name, napi_uint32_array, "a Uint32Array", allow_null);
}
View<uint8_t> uint8_array(const Napi::Value& v, const char* name) {
  return typed<uint8_t>(v, name, napi_uint8_array, "a Uint8Array", false);
}

int64_t integer(const Napi::Value& v, const char* name, int64_t lo, int64_t hi) {
  if (!v.IsNumber()) throw_type(v.Env(), std::string(name) + " must be an integer, got " + describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(lo) || d > static_cast<double>(hi))
    throw_range(v.Env(), std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
                             std::to_string(hi) + "], got " + describe(v));
  return static_cast<int64_t>(d);
}

double finite_number(const Napi::Value& v, const char* name) {
  if (!v.IsNumber()) throw_type(v.Env(), std::string(name) + " must be a number, got " + describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw_range(v.Env(), std::string(name) + " must be finite, got " + describe(v));
  return d;
}

Napi::Object object(const Napi::Value& v, const char* name) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray() || v.IsFunction())
    throw_type(v.Env(), std::string(name) + " must be an object, got " + describe(v));
  return v.As<Napi::Object>();
}

void require_in_range(Napi::Env env, const char* name, const int32_t* idx, int64_t count, int64_t limit) {
  for (int64_t i = 0; i < count; ++i)
    if (idx[i] < 0 || idx[i] >= limit)
      throw_range(env, std::string(name) + "[" + std::to_string(i) + "] must be in [0, " + std::to_string(limit) +
                           "), got " + std::to_string(idx[i]));
}

void require_indices(Napi::Env env, const View<int32_t>& idx, int64_t dim) {
  std::vector<char> seen(static_cast<size_t>(dim), 0);
  for (int64_t i = 0; i < idx.length; ++i) {
    const int32_t x = idx.data[i];
    if (x < 0 || x >= dim)
      throw_range(env, std::string(idx.name) + "[" + std::to_string(i) + "] must be in [0, " + std::to_string(dim) +
                           "), got " + std::to_string(x));
    if (seen[x])
      throw_range(env, std::string(idx.name) + " must not repeat an index, got " + std::to_string(x) + " twice");
    seen[x] = 1;
  }
}

}  // namespace condiff_binding
