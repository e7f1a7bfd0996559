// The x86-64 instruction set the running CPU offers the hand-vectorised kernels (the mixture
// score, mixture_simd.h; the Philox lanes, philox_lanes.h): asked once, a constant of the
// process. Each kernel is written once per set, and every set gives the same bytes.
#pragma once

namespace condiff {

enum class Isa { kAvx512 = 0, kAvx2Fma = 1, kBaseline = 2 };

inline Isa detect_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2Fma;
  return Isa::kBaseline;
}

inline Isa running_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

}  // namespace condiff
