// Entry point of the condiff addon: registers the operations and the mixture class, and
// in the CUDA-enabled build (CMakeLists.txt) the `cuda` object. lib/native.ts declares
// exactly these exports.
#include <napi.h>

#include "addon_data.h"
#include "ops.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new condiff_binding::AddonData());
  condiff_binding::register_ops(env, exports);
  condiff_binding::register_mixture(env, exports);
#if defined(CONDIFF_WITH_CUDA)
  condiff_binding::register_cuda(env, exports);
#endif
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  return exports;
}

}  // namespace

NODE_API_MODULE(condiff, Init)
