// Argument handling for the binding: the only place raw pointers are taken from
// JS typed arrays (respecting byteOffset), and one error vocabulary:
// "<name> must be <expected>, got <received>".
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace condiff_binding {

// A zero-copy view of a typed array argument.
template <typename T>
struct View {
  T* data = nullptr;
  int64_t length = 0;
  Napi::TypedArray array;  // keeps the handle for referencing and detachment checks
  const char* name = "";
  // On a SharedArrayBuffer: it can be neither detached nor shrunk, so async calls use it
  // in place (job.h).
  bool shared = false;
  const uint8_t* begin() const { return reinterpret_cast<const uint8_t*>(data); }
  const uint8_t* end() const { return reinterpret_cast<const uint8_t*>(data + length); }
};

// Bytes per element of a typed array type (0 for types the binding never takes).
size_t element_size(napi_typedarray_type type);

[[noreturn]] void throw_type(Napi::Env env, const std::string& message);
[[noreturn]] void throw_range(Napi::Env env, const std::string& message);
std::string describe(const Napi::Value& v);

// Typed arrays of an exact element type; `allow_null` accepts null/undefined (data = nullptr).
View<float> float32_array(const Napi::Value& v, const char* name, bool allow_null = false);
View<double> float64_array(const Napi::Value& v, const char* name, bool allow_null = false);
View<int32_t> int32_array(const Napi::Value& v, const char* name, bool allow_null = false);
View<uint32_t> uint32_array(const Napi::Value& v, const char* name, bool allow_null = false);
View<uint8_t> uint8_array(const Napi::Value& v, const char* name);

// Numbers: an integer in [lo, hi], or a finite double.
int64_t integer(const Napi::Value& v, const char* name, int64_t lo, int64_t hi);
double finite_number(const Napi::Value& v, const char* name);
Napi::Object object(const Napi::Value& v, const char* name);

// ---- Checks on any array argument: a View here, or the CUDA binding's device-or-host
// array (cuda_arrays.h). Each has `name`, `length` and a span_of() overload. ----

// The memory an array argument covers: a host byte range, or a device allocation.
struct Span {
  const uint8_t* begin = nullptr;
  const uint8_t* end = nullptr;
  const void* device = nullptr;  // the device allocation, for arrays that live on a device
};

template <typename T>
Span span_of(const View<T>& v) {
  return {v.begin(), v.end(), nullptr};
}

// Whether a host view was given (null/undefined are absent where allowed; an empty typed
// array is present).
template <typename T>
bool present(const View<T>& v) {
  return !v.array.IsEmpty();
}

// The host values of an index array, for checks on the calling thread (a device-resident
// array has none: its overload returns null, and the device checks it).
inline const int32_t* host_ints(const View<int32_t>& v) { return v.data; }

inline bool overlaps(const Span& a, const Span& b) {
  if (a.device != nullptr || b.device != nullptr) return a.device == b.device;
  return a.begin < b.end && b.begin < a.end;
}

// The very same memory (the same view of it), e.g. an output computed in place.
inline bool same_memory(const Span& a, const Span& b) {
  return a.begin == b.begin && a.end == b.end && a.device == b.device;
}

// Length checks: exact, and "out must not share memory with an input".
template <typename V>
void require_length(Napi::Env env, const V& a, int64_t expected, const std::string& why) {
  if (a.length != expected)
    throw_range(env, std::string(a.name) + " must have length " + std::to_string(expected) + " (" + why + "), got " +
                         std::to_string(a.length));
}

template <typename A, typename B>
void require_disjoint(Napi::Env env, const A& out, const B& in) {
  if (overlaps(span_of(out), span_of(in)))
    throw_range(env, std::string(out.name) + " must not share memory with " + in.name + ", but they overlap");
}

// `out` must not overlap any of the inputs.
template <typename A, typename... Bs>
void require_disjoint_from(Napi::Env env, const A& out, const Bs&... inputs) {
  (require_disjoint(env, out, inputs), ...);
}

// None of `outputs` may overlap `input`.
template <typename In, typename... Outs>
void require_apart_from(Napi::Env env, const In& input, const Outs&... outputs) {
  (require_disjoint(env, outputs, input), ...);
}

// Every array written must be disjoint from every other array of the call.
template <typename A>
void require_all_disjoint(Napi::Env, const A&) {}
template <typename A, typename B, typename... Rest>
void require_all_disjoint(Napi::Env env, const A& first, const B& second, const Rest&... rest) {
  require_disjoint_from(env, first, second, rest...);
  require_all_disjoint(env, second, rest...);
}

// Every element of `idx` (host values) in [0, limit): "<name>[i] must be in [0, limit), got x".
void require_in_range(Napi::Env env, const char* name, const int32_t* idx, int64_t count, int64_t limit);

// Indices into [0, dim): in range, no repeats.
void require_indices(Napi::Env env, const View<int32_t>& idx, int64_t dim);

// The array policy of the CPU binding for the shared per-operation parsers (op_args.h):
// every array argument is a host typed array. The CUDA binding's policy (cuda_arrays.h)
// also accepts DeviceArrays.
struct HostArrays {
  using F32 = View<float>;
  using F64 = View<double>;
  using I32 = View<int32_t>;
  using U8 = View<uint8_t>;
  static F32 f32(const Napi::Value& v, const char* name, bool allow_null = false) {
    return float32_array(v, name, allow_null);
  }
  static F64 f64(const Napi::Value& v, const char* name) { return float64_array(v, name); }
  static I32 i32(const Napi::Value& v, const char* name, bool allow_null = false) {
    return int32_array(v, name, allow_null);
  }
  static U8 u8(const Napi::Value& v, const char* name) { return uint8_array(v, name); }
};

}  // namespace condiff_binding
