// The addon's exported functions, grouped by concern; addon.cc registers them all.
// Every entry runs through one guard (addon.cc) that turns a C++ exception escaping it
// (std::bad_alloc, say) into a JS Error naming the operation, and reads the operation's
// name, for its own messages, with op_name().
#pragma once
#include <napi.h>

#include <cstddef>
#include <memory>

#include "mixture.h"

namespace condiff_binding {

struct OpEntry {
  const char* name;
  Napi::Value (*fn)(const Napi::CallbackInfo&);
};

struct OpTable {
  const OpEntry* entries;
  size_t count;
};

// The JS name of the operation being called (an entry's functions are called with their
// entry as data).
inline const char* op_name(const Napi::CallbackInfo& info) { return static_cast<const OpEntry*>(info.Data())->name; }

OpTable particle_ops();  // cpu_particle_ops.cc: the batched particle operations
OpTable block_ops();     // cpu_block_ops.cc: resample, gatherRows, gatherRowsInPlace
OpTable filter_ops();    // cpu_filter_ops.cc: smcStep, chooseByWeight
OpTable misc_ops();      // misc_ops.cc: philox4x32, kernelCoefficients, probes for tests

// codes.cc: `purposes` and `codes`, the numbering of native/core that TypeScript looks up.
void export_codes(Napi::Env env, Napi::Object exports);

// mixture_wrap.cc
void register_mixture(Napi::Env env, Napi::Object exports);
// The model behind a JS GaussianMixture of this addon, or null for any other value.
std::shared_ptr<const condiff::GaussianMixture> mixture_model(const Napi::Value& v);

#if defined(CONDIFF_WITH_CUDA)
// The `cuda` export of the CUDA-enabled addon (cuda_binding.cc).
void register_cuda(Napi::Env env, Napi::Object exports);
#endif

}  // namespace condiff_binding
