// Entry point of the condiff addon: registers every export (the operations of ops.h, again
// under `direct`, the numbering of codes.cc, the mixture class, the instruction set the
// kernels run (isa.h) and, in the CUDA-enabled
// build (CMakeLists.txt), the `cuda` object). lib/native.ts declares exactly these exports.
#include <napi.h>

#include <memory>

#include "addon_data.h"
#include "isa.h"
#include "job.h"
#include "ops.h"

namespace condiff_binding {

AddonData::~AddonData() = default;

namespace {

// Every exported operation runs through here: a C++ exception that escapes it becomes a JS
// Error naming the operation (JS errors thrown by the checks pass through as they are).
Napi::Value guarded(const Napi::CallbackInfo& info) {
  const OpEntry* op = static_cast<const OpCall*>(info.Data())->entry;
  return guard_op(info.Env(), op->name, [&] { return op->fn(info); });
}

void export_ops(Napi::Env env, Napi::Object exports, OpTable table, bool direct, AddonData* data) {
  for (size_t i = 0; i < table.count; ++i) {
    const OpEntry& op = table.entries[i];
    data->op_calls.push_back(std::make_unique<OpCall>(OpCall{&op, direct}));
    exports.Set(op.name, Napi::Function::New(env, guarded, op.name, data->op_calls.back().get()));
  }
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  AddonData* data = new AddonData();
  env.SetInstanceData(data);
  Napi::Object direct = Napi::Object::New(env);
  for (OpTable table : {particle_ops(), block_ops(), filter_ops(), misc_ops(), twist_ops(), subspace_ops()}) {
    export_ops(env, exports, table, false, data);
    export_ops(env, direct, table, true, data);
  }
  exports.Set("direct", direct);
  export_codes(env, exports);
  register_mixture(env, exports);
#if defined(CONDIFF_WITH_CUDA)
  register_cuda(env, exports);
#endif
  const condiff::IsaChoice& isa = condiff::isa_choice();
  exports.Set("instructionSet", Napi::String::New(env, condiff::isa_name(isa.isa)));
  exports.Set("instructionSetCap", isa.cap.empty() ? env.Null() : Napi::String::New(env, isa.cap));
  exports.Set("abiVersion", Napi::Number::New(env, 2));
  return exports;
}

}  // namespace condiff_binding

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) { return condiff_binding::init(env, exports); }
}  // namespace

NODE_API_MODULE(condiff, Init)
