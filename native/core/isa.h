// The x86-64 instruction set the running CPU offers the hand-vectorised kernels (the mixture
// score, mixture_simd.h; the Philox lanes and the normals, philox_lanes.h, normals.cc): asked
// once, a constant of the process. Each kernel is written once per set, and every set gives
// the same bytes.
//
// CONDIFF_MAX_ISA=avx2 or baseline caps it below what the CPU has (avx512: no cap), to run or
// time a narrower set's kernels on a wider CPU; it never raises it. lib/native.ts rejects any
// other value before the addon loads; here an unknown value is no cap. The loops the compiler
// clones per set (target_clones: weights, resampling, the non-finite scan, the subspace
// products) follow the CPU whatever the cap, giving the same bytes either way.
#pragma once

#include <cstdlib>
#include <cstring>

namespace condiff {

enum class Isa { kAvx512 = 0, kAvx2Fma = 1, kBaseline = 2 };

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx2Fma:
      return "avx2";
    default:
      return "baseline";
  }
}

inline Isa detect_isa() {
  __builtin_cpu_init();
  Isa cpu = Isa::kBaseline;
  if (__builtin_cpu_supports("avx512f")) {
    cpu = Isa::kAvx512;
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    cpu = Isa::kAvx2Fma;
  }
  const char* cap = std::getenv("CONDIFF_MAX_ISA");
  if (cap == nullptr) return cpu;
  const Isa narrower[] = {Isa::kAvx2Fma, Isa::kBaseline};
  for (Isa set : narrower)
    if (std::strcmp(cap, isa_name(set)) == 0 && set > cpu) return set;
  return cpu;
}

inline Isa running_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

}  // namespace condiff
