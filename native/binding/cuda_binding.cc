// The `cuda` export of the CUDA-enabled addon (CMakeLists.txt, CONDIFF_WITH_CUDA):
//   cuda.query([{freeMemory}])-> { available, reason, name, totalMemory, ... }; no CUDA
//                                context is created unless freeMemory: true
//   new cuda.Context()        -> a device stream with the operations of the CPU binding
//                                (cuda_context.h)
//   ctx.alloc(type, length)   -> DeviceArray ('float32' | 'float64' | 'int32' | 'uint8')
//   ctx.hostArray(type, n)    -> a typed array over page-locked memory (fast transfers)
//   ctx.upload / download     -> copies between host arrays and DeviceArrays
//   ctx.copy(source, target)  -> device to device
//   ctx.mixtureScore(...)     -> the GaussianMixture score on the device
#include <napi.h>

#include <string>

#include "addon_data.h"
#include "cuda_arrays.h"
#include "cuda_context.h"
#include "device.h"
#include "ops.h"

namespace condiff_binding {
namespace {

// cuda.query([{ freeMemory }]): whether a device answers, and what it is; creates no CUDA
// context unless freeMemory is true (cu::query_device). Throws only for a bad option.
Napi::Value Query(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool free_memory = false;
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsObject()) throw_type(env, "options must be an object, got " + describe(info[0]));
    const Napi::Value v = info[0].As<Napi::Object>().Get("freeMemory");
    if (!v.IsUndefined() && !v.IsBoolean())
      throw_type(env, "options.freeMemory must be a boolean, got " + describe(v));
    free_memory = v.IsBoolean() && v.As<Napi::Boolean>().Value();
  }
  const cu::DeviceQuery q = cu::query_device(free_memory);
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", Napi::Boolean::New(env, q.available));
  o.Set("reason", q.available ? env.Null() : Napi::String::New(env, q.reason).As<Napi::Value>());
  o.Set("deviceCount", Napi::Number::New(env, q.count));
  o.Set("runtimeVersion", Napi::Number::New(env, q.runtime_version));
  o.Set("driverVersion", Napi::Number::New(env, q.driver_version));
  o.Set("name", q.name.empty() ? env.Null() : Napi::String::New(env, q.name).As<Napi::Value>());
  o.Set("totalMemory", Napi::Number::New(env, double(q.total_memory)));
  o.Set("freeMemory", q.has_free_memory ? Napi::Number::New(env, double(q.free_memory)).As<Napi::Value>() : env.Null());
  o.Set("primaryContextActive", q.primary_context_active < 0
                                    ? env.Null()
                                    : Napi::Boolean::New(env, q.primary_context_active == 1).As<Napi::Value>());
  o.Set("computeCapability",
        q.major ? Napi::String::New(env, std::to_string(q.major) + "." + std::to_string(q.minor)).As<Napi::Value>()
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
