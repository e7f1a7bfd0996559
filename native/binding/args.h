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
  const uint8_t* begin() const { return reinterpret_cast<const uint8_t*>(data); }
  const uint8_t* end() const { return reinterpret_cast<const uint8_t*>(data + length); }
};

[[noreturn]] void throw_type(Napi::Env env, const std::string& message);
[[noreturn]] void throw_range(Napi::Env env, const std::string& message);
std::string describe(const Napi::Value& v);

// Typed arrays of an exact element type; `allow_null` accepts null/undefined (data = nullptr).
View<float> float32_array(const Napi::Value& v, const char* name, bool allow_null = false);
View<double> float64_array(const Napi::Value& v, const char* name, bool allow_null = false);
View<int32_t> int32_array(const Napi::Value& v, const char* name, bool allow_null = false);
View<uint32_t> uint32_array(const Napi::Value& v, const char* name);
View<uint8_t> uint8_array(const Napi::Value& v, const char* name);

// Numbers: an integer in [lo, hi], or a finite double.
int64_t integer(const Napi::Value& v, const char* name, int64_t lo, int64_t hi);
double finite_number(const Napi::Value& v, const char* name);
Napi::Object object(const Napi::Value& v, const char* name);

// Length checks: exact, and "out must not share memory with an input".
template <typename T>
void require_length(Napi::Env env, const View<T>& a, int64_t expected, const std::string& why) {
  if (a.length != expected)
    throw_range(env, std::string(a.name) + " must have length " + std::to_string(expected) + " (" + why + "), got " +
                         std::to_string(a.length));
}

template <typename A, typename B>
void require_disjoint(Napi::Env env, const View<A>& out, const View<B>& in) {
  if (out.data == nullptr || in.data == nullptr) return;
  if (out.begin() < in.end() && in.begin() < out.end())
    throw_range(env, std::string(out.name) + " must not share memory with " + in.name + ", but they overlap");
}

// `out` must not overlap any of the inputs.
template <typename A, typename... Bs>
void require_disjoint_from(Napi::Env env, const View<A>& out, const Bs&... inputs) {
  (require_disjoint(env, out, inputs), ...);
}

// Indices into [0, dim): in range, no repeats.
void require_indices(Napi::Env env, const View<int32_t>& idx, int64_t dim);

}  // namespace condiff_binding
