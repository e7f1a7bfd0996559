// The addon's exported functions, grouped by concern; addon.cc registers them all, twice:
// as the addon's own exports, whose async calls work on copies of arrays that could be
// transferred meanwhile, and in `direct`, whose async calls use every array in place
// because their caller owns them for the whole call (the driver: job.h). Every entry runs
// through one guard (addon.cc) that turns a C++ exception escaping it (std::bad_alloc, say)
// into a JS Error naming the operation, and reads the operation's name, for its own
// messages, with op_name().
#pragma once
#include <napi.h>

#include <cstddef>
#include <memory>

#include "core_args.h"
#include "job.h"
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

// What an exported function is called with as data: its entry, and which export it is.
struct OpCall {
  const OpEntry* entry;
  bool direct;
};

// The JS name of the operation being called.
inline const char* op_name(const Napi::CallbackInfo& info) { return static_cast<const OpCall*>(info.Data())->entry->name; }

// An async call of the operation being called (job.h), direct or not as its export is.
inline Async async_call(const Napi::CallbackInfo& info, int64_t cost = kAlwaysQueue) {
  return Async(info.Env(), op_name(info), static_cast<const OpCall*>(info.Data())->direct, cost);
}

// Declares a batch's run-key table (read) and points the batch at the call's view of it.
inline void read_batch(Async& call, BatchArg& batch) {
  call.read(batch.run_keys);
  batch.b.run_keys = batch.run_keys.data;
}
// The same, and the coordinate lists (read).
inline void read_batch_coords(Async& call, BatchCoords& a) {
  read_batch(call, a.batch);
  call.read(a.c.latent);
  call.read(a.c.observed);
}

OpTable particle_ops();  // cpu_particle_ops.cc: the batched particle operations
OpTable block_ops();     // cpu_block_ops.cc: resample, gatherRows, gatherRowsInPlace
OpTable filter_ops();    // cpu_filter_ops.cc: smcStep, moveStep, chooseByWeight
OpTable misc_ops();      // misc_ops.cc: philox4x32, kernelCoefficients, thinSvd, probes for tests
OpTable twist_ops();     // cpu_twist_ops.cc: maskTwist, twistIncrement (tds)
OpTable subspace_ops();  // cpu_subspace_ops.cc: svdProject, svdLogWeights, svdPin (the SVD filter)

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
