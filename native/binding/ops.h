// Registers the stateless core operations on the addon's exports.
#pragma once
#include <napi.h>

#include <memory>

#include "mixture.h"

namespace condiff_binding {
void register_ops(Napi::Env env, Napi::Object exports);
void register_mixture(Napi::Env env, Napi::Object exports);
// The model behind a JS GaussianMixture of this addon, or null for any other value.
std::shared_ptr<const condiff::GaussianMixture> mixture_model(const Napi::Value& v);
#if defined(CONDIFF_WITH_CUDA)
// The `cuda` export of the CUDA-enabled addon (cuda_binding.cc).
void register_cuda(Napi::Env env, Napi::Object exports);
#endif
}  // namespace condiff_binding
