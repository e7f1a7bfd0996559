// Entry point of the condiff addon: registers every export (the operations of ops.h, the
// numbering of codes.cc, the mixture class and, in the CUDA-enabled build (CMakeLists.txt),
// the `cuda` object). lib/native.ts declares exactly these exports.
#include <napi.h>

#include "addon_data.h"
#include "job.h"
#include "ops.h"

namespace condiff_binding {
namespace {

// Every exported operation runs through here: a C++ exception that escapes it becomes a JS
// Error naming the operation (JS errors thrown by the checks pass through as they are).
Napi::Value guarded(const Napi::CallbackInfo& info) {
  const OpEntry* op = static_cast<const OpEntry*>(info.Data());
  return guard_op(info.Env(), op->name, [&] { return op->fn(info); });
}

void export_ops(Napi::Env env, Napi::Object exports, OpTable table) {
  for (size_t i = 0; i < table.count; ++i) {
    const OpEntry& op = table.entries[i];
    exports.Set(op.name, Napi::Function::New(env, guarded, op.name, const_cast<OpEntry*>(&op)));
  }
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  for (OpTable table : {particle_ops(), block_ops(), filter_ops(), misc_ops()}) export_ops(env, exports, table);
  export_codes(env, exports);
  register_mixture(env, exports);
#if defined(CONDIFF_WITH_CUDA)
  register_cuda(env, exports);
#endif
  exports.Set("abiVersion", Napi::Number::New(env, 2));
  return exports;
}

}  // namespace condiff_binding

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) { return condiff_binding::init(env, exports); }
}  // namespace

NODE_API_MODULE(condiff, Init)
