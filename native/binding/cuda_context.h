// `new cuda.Context()`: a device stream with the operations of the CPU binding, same names,
// arguments and checks (the shared parsers of op_args.h and block_args.h, array policy
// DeviceArrays); every array argument may be a host typed array (copied in, and out for
// outputs) or a DeviceArray of the same element type (used in place). Index lists that are
// validated element by element (latent, observed) and run-key tables are host arrays;
// device-resident ancestors are checked on the device and reported as a RangeError when
// the call settles. Each call validates on the calling thread, enqueues its transfers and
// kernels on the context's stream, and returns a Promise that settles when the device is
// done (cuda_call.h). After a sticky device failure the context is lost for the rest of
// the process: every later call is refused with the first failure's cause, and `lost`
// names it (null while the context is usable).
#pragma once
#include <napi.h>

#include <memory>

#include "cuda_call.h"

namespace condiff_binding {

class ContextWrap : public Napi::ObjectWrap<ContextWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ContextWrap(const Napi::CallbackInfo& info);

 private:
  using Method = Napi::Value (ContextWrap::*)(const Napi::CallbackInfo&);
  // A method whose C++ exceptions (a CUDA failure while enqueuing, std::bad_alloc) become
  // JS errors naming it; its name travels as the method's data. A sticky failure met
  // while enqueuing marks the context lost.
  template <Method M>
  static PropertyDescriptor Entry(const char* name);
  template <Method M>
  Napi::Value Guarded(const Napi::CallbackInfo& info);
  // A call of the operation being run (its name from the method's data).
  Call call(const Napi::CallbackInfo& info);

  // The first sticky failure's cause, or null (an accessor).
  Napi::Value Lost(const Napi::CallbackInfo& info);
  // Memory and transfers (cuda_context.cc).
  Napi::Value Alloc(const Napi::CallbackInfo& info);
  Napi::Value HostArray(const Napi::CallbackInfo& info);
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value Download(const Napi::CallbackInfo& info);
  Napi::Value Transfer(const Napi::CallbackInfo& info, bool up);
  Napi::Value Copy(const Napi::CallbackInfo& info);
  Napi::Value Synchronize(const Napi::CallbackInfo& info);
  // The batched particle operations (cuda_particle_ops.cc).
  Napi::Value Normals(const Napi::CallbackInfo& info);
  Napi::Value InitState(const Napi::CallbackInfo& info);
  Napi::Value ForwardContextPath(const Napi::CallbackInfo& info);
  Napi::Value KernelMean(const Napi::CallbackInfo& info);
  Napi::Value GaussianYLogWeights(const Napi::CallbackInfo& info);
  Napi::Value Reweight(const Napi::CallbackInfo& info);
  Napi::Value ResampleBatch(const Napi::CallbackInfo& info);
  Napi::Value Propagate(const Napi::CallbackInfo& info);
  Napi::Value Langevin(const Napi::CallbackInfo& info);
  Napi::Value Renoise(const Napi::CallbackInfo& info);
  Napi::Value FirstNonFinite(const Napi::CallbackInfo& info);
  Napi::Value PredictionToScore(const Napi::CallbackInfo& info);
  // The building blocks and the mixture score (cuda_block_ops.cc).
  Napi::Value ResampleSync(const Napi::CallbackInfo& info);
  Napi::Value ResampleAsync(const Napi::CallbackInfo& info);
  Napi::Value GatherSync(const Napi::CallbackInfo& info);
  Napi::Value GatherAsync(const Napi::CallbackInfo& info);
  Napi::Value MixtureScore(const Napi::CallbackInfo& info);

  std::shared_ptr<cu::Context> ctx_;
  std::shared_ptr<PinnedPool> pool_;
};

}  // namespace condiff_binding
