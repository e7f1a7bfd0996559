// The x86-64 instruction set the running CPU offers the hand-vectorised kernels (the mixture
// score, mixture_simd.h; the Philox lanes and the normals, philox_lanes.h, normals.cc): asked
// once, a constant of the process. Each kernel is written once per set, and every set gives
// the same bytes.
//
// CONDIFF_MAX_ISA=avx2 or baseline caps it below what the CPU has (avx512: no cap), to run or
// time a narrower set's kernels on a wider CPU; it never raises it. It is read once per
// process, when a kernel first asks; the addon exports what it read and lib/native.ts
// refuses to run with any other value; here an unknown value is no cap. The loops the compiler
// clones per set (target_clones: weights, resampling, the non-finite scan, the subspace
// projections, CONDIFF_ROW_CLONES below) follow the CPU whatever the cap, giving the same
// bytes either way.
#pragma once

#include <cstdlib>
#include <string>

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

// Whether the CPU runs a set's kernels (a VM may show AVX-512 and hide FMA: each is asked).
inline bool cpu_has(Isa isa) {
  __builtin_cpu_init();
  switch (isa) {
    case Isa::kAvx512:
      return __builtin_cpu_supports("avx512f");
    case Isa::kAvx2Fma:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
}

struct IsaChoice {
  Isa isa;          // the set the kernels run
  std::string cap;  // CONDIFF_MAX_ISA as read when it was chosen ("" when unset)
};

// The widest set the CPU has, no wider than CONDIFF_MAX_ISA's (unset or unknown: no cap).
inline IsaChoice choose_isa() {
  const char* env = std::getenv("CONDIFF_MAX_ISA");
  const std::string cap = env == nullptr ? "" : env;
  const Isa sets[] = {Isa::kAvx512, Isa::kAvx2Fma, Isa::kBaseline};  // widest first
  bool named = false;
  for (Isa set : sets) named = named || cap == isa_name(set);
  bool allowed = !named;
  for (Isa set : sets) {
    allowed = allowed || cap == isa_name(set);
    if (allowed && cpu_has(set)) return {set, cap};
  }
  return {Isa::kBaseline, cap};  // not reached: every CPU has the baseline
}

inline const IsaChoice& isa_choice() {
  static const IsaChoice choice = choose_isa();
  return choice;
}

inline Isa running_isa() { return isa_choice().isa; }

// The per-particle loops the compiler clones per set (target_clones: the CPU picks, whatever
// the cap), for elementwise work on rows in cache, where x86-64's baseline code was the bound
// (the fused smc step: 4-9% more particle-steps a second at D = 80, bench/RESULTS.md §7).
// fp-contract=off: no clone fuses a multiply and an add, so every clone gives the same bits;
// sums are not vectorised (no reassociation), so their order stays as written.
#define CONDIFF_ROW_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off")))

}  // namespace condiff
