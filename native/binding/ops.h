// Registers the stateless core operations on the addon's exports.
#pragma once
#include <napi.h>

namespace condiff_binding {
void register_ops(Napi::Env env, Napi::Object exports);
void register_mixture(Napi::Env env, Napi::Object exports);
}  // namespace condiff_binding
