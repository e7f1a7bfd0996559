// The numbering of native/core that TypeScript looks up instead of restating it:
// `purposes` (rng.h, MATH.md §6) and `codes` (the enums of resampling.h, kernels.h and
// particle_math.h). Each table lists every value of its enum.
#include <iterator>
#include <utility>

#include "kernels.h"
#include "ops.h"
#include "particle_math.h"
#include "resampling.h"
#include "rng.h"

namespace condiff_binding {
namespace {

using namespace condiff;

template <typename Enum, size_t N>
Napi::Object table(Napi::Env env, const std::pair<const char*, Enum> (&entries)[N]) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [name, value] : entries) o.Set(name, Napi::Number::New(env, static_cast<double>(value)));
  return o;
}

}  // namespace

void export_codes(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, uint32_t> kPurposes[] = {
      {"initial", purpose_word(Purpose::kInitial)},
      {"contextPath", purpose_word(Purpose::kContextPath)},
      {"kernelNoise", purpose_word(Purpose::kKernelNoise)},
      {"resampling", purpose_word(Purpose::kResampling)},
      {"outputChoice", purpose_word(Purpose::kOutputChoice)},
      {"langevin", purpose_word(Purpose::kLangevin)},
      {"repaintNoise", purpose_word(Purpose::kRepaintNoise)},
      {"repaintKernel", purpose_word(Purpose::kRepaintKernel)},
      {"exactComponent", purpose_word(Purpose::kExactComponent)},
      {"exactNormal", purpose_word(Purpose::kExactNormal)},
      {"user", purpose_word(Purpose::kUser)},
  };
  static constexpr std::pair<const char*, ResamplingScheme> kSchemes[] = {
      {"systematic", ResamplingScheme::kSystematic},
      {"stratified", ResamplingScheme::kStratified},
      {"multinomial", ResamplingScheme::kMultinomial},
      {"residual", ResamplingScheme::kResidual},
  };
  static constexpr std::pair<const char*, KernelKind> kKernels[] = {
      {"euler", KernelKind::kEuler},
      {"ddpm", KernelKind::kDdpm},
  };
  static constexpr std::pair<const char*, Parameterization> kParameterizationCodes[] = {
      {"score", Parameterization::kScore},
      {"epsilon", Parameterization::kEpsilon},
      {"x0", Parameterization::kX0},
  };
  static constexpr std::pair<const char*, LangevinRule> kRules[] = {
      {"gamma", LangevinRule::kGamma},
      {"snr", LangevinRule::kSnr},
  };
  static_assert(std::size(kSchemes) == kResamplingSchemes && std::size(kKernels) == kKernelKinds &&
                    std::size(kParameterizationCodes) == kParameterizations && std::size(kRules) == kLangevinRules,
                "every value of each enum is exported");
  exports.Set("purposes", table(env, kPurposes));
  Napi::Object codes = Napi::Object::New(env);
  codes.Set("schemes", table(env, kSchemes));
  codes.Set("kernels", table(env, kKernels));
  codes.Set("parameterizations", table(env, kParameterizationCodes));
  codes.Set("langevinRules", table(env, kRules));
  exports.Set("codes", codes);
}

}  // namespace condiff_binding
