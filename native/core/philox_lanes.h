// Philox4x32-10 (philox.h, the same rounds and constants) on sixteen consecutive blocks
// of one stream at once, in SIMD lanes on every instruction set of the callers' target
// clones (normals.cc, resampling.cc). Block b of the stream (MATH.md §6) has counter (b, run, step, purpose).
#pragma once
#include <cstdint>

#include "isa.h"
#include "rng.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace condiff {

constexpr int kPhiloxLanes = 16;

// The ten rounds on sixteen counters in place (lane p of w[i] is word i of counter p),
// written three ways that give the same words (integer arithmetic is exact): the vectoriser
// turns the portable loop's 32 x 32 -> 64-bit products into full 64-bit multiplies (three
// vpmuludq each, 733 instructions per sixteen blocks with the Box-Muller after them), where
// one vpmuludq per pair of lanes is all a product needs.
__attribute__((always_inline)) inline void philox_rounds_portable(uint32_t k0, uint32_t k1,
                                                                  uint32_t (&w)[4][kPhiloxLanes]) {
  constexpr int L = kPhiloxLanes;
  uint32_t* c0 = w[0];
  uint32_t* c1 = w[1];
  uint32_t* c2 = w[2];
  uint32_t* c3 = w[3];
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    for (int p = 0; p < L; ++p) {
      const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0[p];
      const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2[p];
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[p] ^ k0;
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[p] ^ k1;
      c0[p] = n0;
      c1[p] = static_cast<uint32_t>(p1);
      c2[p] = n2;
      c3[p] = static_cast<uint32_t>(p0);
    }
  }
}

#if defined(__x86_64__)
// High and low words of m * c lane by lane: vpmuludq multiplies the even 32-bit lanes (the
// low half of each 64-bit lane), so the odd lanes are shifted down, multiplied, and the
// halves put back in place with a blend (odd lanes: mask 0xAAAA).
// (The maskz forms with a full mask: the plain intrinsics start from an undefined register,
// which GCC 12 reports under -Wuninitialized.)
__attribute__((target("avx512f"))) inline void mulhilo_avx512(__m512i m, __m512i c, __m512i* hi, __m512i* lo) {
  const __mmask8 all = 0xFF;
  const __m512i even = _mm512_maskz_mul_epu32(all, c, m);
  const __m512i odd = _mm512_maskz_mul_epu32(all, _mm512_maskz_srli_epi64(all, c, 32), m);
  // Lane 2i of hi is the high word of even's product i (dword 2i + 1), lane 2i + 1 that of
  // odd's (dword 16 + 2i + 1); lo likewise with the low words. One two-source permute each.
  const __m512i hi_index = _mm512_set_epi32(31, 15, 29, 13, 27, 11, 25, 9, 23, 7, 21, 5, 19, 3, 17, 1);
  const __m512i lo_index = _mm512_set_epi32(30, 14, 28, 12, 26, 10, 24, 8, 22, 6, 20, 4, 18, 2, 16, 0);
  *hi = _mm512_permutex2var_epi32(even, hi_index, odd);
  *lo = _mm512_permutex2var_epi32(even, lo_index, odd);
}

__attribute__((target("avx512f"))) inline void philox_rounds_avx512(uint32_t k0, uint32_t k1,
                                                                   uint32_t (&w)[4][kPhiloxLanes]) {
  __m512i c0 = _mm512_loadu_si512(w[0]), c1 = _mm512_loadu_si512(w[1]);
  __m512i c2 = _mm512_loadu_si512(w[2]), c3 = _mm512_loadu_si512(w[3]);
  const __m512i m0 = _mm512_set1_epi64(0xD2511F53), m1 = _mm512_set1_epi64(0xCD9E8D57);
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    __m512i hi0, lo0, hi1, lo1;
    mulhilo_avx512(m0, c0, &hi0, &lo0);
    mulhilo_avx512(m1, c2, &hi1, &lo1);
    // 0x96: a ^ b ^ c in one instruction.
    c0 = _mm512_ternarylogic_epi32(hi1, c1, _mm512_set1_epi32(static_cast<int>(k0)), 0x96);
    c2 = _mm512_ternarylogic_epi32(hi0, c3, _mm512_set1_epi32(static_cast<int>(k1)), 0x96);
    c1 = lo1;
    c3 = lo0;
  }
  _mm512_storeu_si512(w[0], c0);
  _mm512_storeu_si512(w[1], c1);
  _mm512_storeu_si512(w[2], c2);
  _mm512_storeu_si512(w[3], c3);
}

// The rounds on four sets of sixteen counters at once (lane p of part i of w[k] is word k of
// counter 16 i + p), the four interleaved so each round's multiplies overlap: one set's
// rounds are a chain of dependent multiplies. For the AVX-512 normals of lanes_x4.h.
__attribute__((target("avx512f"))) inline void philox_rounds_avx512_x4(uint32_t k0, uint32_t k1,
                                                                      uint32_t (&w)[4][4 * kPhiloxLanes]) {
  constexpr int P = 4, L = kPhiloxLanes;
  __m512i c0[P], c1[P], c2[P], c3[P];
  for (int i = 0; i < P; ++i) {
    c0[i] = _mm512_loadu_si512(w[0] + L * i);
    c1[i] = _mm512_loadu_si512(w[1] + L * i);
    c2[i] = _mm512_loadu_si512(w[2] + L * i);
    c3[i] = _mm512_loadu_si512(w[3] + L * i);
  }
  const __m512i m0 = _mm512_set1_epi64(0xD2511F53), m1 = _mm512_set1_epi64(0xCD9E8D57);
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const __m512i key0 = _mm512_set1_epi32(static_cast<int>(k0)), key1 = _mm512_set1_epi32(static_cast<int>(k1));
#pragma GCC unroll 4
    for (int i = 0; i < P; ++i) {
      __m512i hi0, lo0, hi1, lo1;
      mulhilo_avx512(m0, c0[i], &hi0, &lo0);
      mulhilo_avx512(m1, c2[i], &hi1, &lo1);
      c0[i] = _mm512_ternarylogic_epi32(hi1, c1[i], key0, 0x96);
      c2[i] = _mm512_ternarylogic_epi32(hi0, c3[i], key1, 0x96);
      c1[i] = lo1;
      c3[i] = lo0;
    }
  }
  for (int i = 0; i < P; ++i) {
    _mm512_storeu_si512(w[0] + L * i, c0[i]);
    _mm512_storeu_si512(w[1] + L * i, c1[i]);
    _mm512_storeu_si512(w[2] + L * i, c2[i]);
    _mm512_storeu_si512(w[3] + L * i, c3[i]);
  }
}

__attribute__((target("avx2"))) inline void mulhilo_avx2(__m256i m, __m256i c, __m256i* hi, __m256i* lo) {
  const __m256i even = _mm256_mul_epu32(c, m);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(c, 32), m);
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

// The ten rounds on L counters (a multiple of sixteen), sixteen at a time as two eight-lane
// halves whose chains interleave: sixteen for the sixteen-lane callers, sixty-four for the
// AVX2 normals of lanes_x4.h.
template <int L>
__attribute__((target("avx2"))) inline void philox_rounds_avx2_n(uint32_t k0, uint32_t k1, uint32_t (&w)[4][L]) {
  static_assert(L % 16 == 0, "sixteen counters at a time");
  const __m256i m0 = _mm256_set1_epi64x(0xD2511F53), m1 = _mm256_set1_epi64x(0xCD9E8D57);
  for (int o = 0; o < L; o += 16) {
    __m256i c0[2], c1[2], c2[2], c3[2];
    for (int h = 0; h < 2; ++h) {
      c0[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[0] + o + 8 * h));
      c1[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[1] + o + 8 * h));
      c2[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[2] + o + 8 * h));
      c3[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[3] + o + 8 * h));
    }
    uint32_t a = k0, b = k1;
    for (int r = 0; r < 10; ++r) {
      if (r > 0) {
        a += 0x9E3779B9u;
        b += 0xBB67AE85u;
      }
      const __m256i key0 = _mm256_set1_epi32(static_cast<int>(a)), key1 = _mm256_set1_epi32(static_cast<int>(b));
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        __m256i hi0, lo0, hi1, lo1;
        mulhilo_avx2(m0, c0[h], &hi0, &lo0);
        mulhilo_avx2(m1, c2[h], &hi1, &lo1);
        c0[h] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[h]), key0);
        c2[h] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[h]), key1);
        c1[h] = lo1;
        c3[h] = lo0;
      }
    }
    for (int h = 0; h < 2; ++h) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(w[0] + o + 8 * h), c0[h]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(w[1] + o + 8 * h), c1[h]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(w[2] + o + 8 * h), c2[h]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(w[3] + o + 8 * h), c3[h]);
    }
  }
}

__attribute__((target("avx2"))) inline void philox_rounds_avx2(uint32_t k0, uint32_t k1,
                                                              uint32_t (&w)[4][kPhiloxLanes]) {
  philox_rounds_avx2_n<kPhiloxLanes>(k0, k1, w);
}
#endif

// The rounds on the given instruction set (a test hook: every set must give the same words).
inline void philox_rounds_on(Isa isa, uint32_t k0, uint32_t k1, uint32_t (&w)[4][kPhiloxLanes]) {
#if defined(__x86_64__)
  if (isa == Isa::kAvx512) return philox_rounds_avx512(k0, k1, w);
  if (isa == Isa::kAvx2Fma) return philox_rounds_avx2(k0, k1, w);
#endif
  (void)isa;
  philox_rounds_portable(k0, k1, w);
}

// The rounds on the running instruction set (isa.h: the CPU's, or lower under
// CONDIFF_MAX_ISA). Inlined into each target clone of the callers (normals.cc,
// resampling.cc), whose AVX-512 clone can then inline the AVX-512 rounds.
__attribute__((always_inline)) inline void philox_rounds(uint32_t k0, uint32_t k1, uint32_t (&w)[4][kPhiloxLanes]) {
  philox_rounds_on(running_isa(), k0, k1, w);
}

// Words of blocks [first, first + 16): lane p of w[i] is word i of block first + p.
__attribute__((always_inline)) inline void philox_lanes(const StreamKey& s, uint32_t first,
                                                         uint32_t (&w)[4][kPhiloxLanes]) {
  for (int p = 0; p < kPhiloxLanes; ++p) {
    w[0][p] = first + static_cast<uint32_t>(p);
    w[1][p] = s.run;
    w[2][p] = s.step;
    w[3][p] = s.purpose;
  }
  philox_rounds(s.key0, s.key1, w);
}

// Words of block `block` of the sixteen runs first_run + p (the stream s otherwise): lane p
// of w[i] is word i of that block of run first_run + p. For many short per-run streams,
// whose blocks would otherwise each cost a sixteen-block computation of their own.
__attribute__((always_inline)) inline void philox_lanes_runs(const StreamKey& s, uint32_t block, uint32_t first_run,
                                                              uint32_t (&w)[4][kPhiloxLanes]) {
  for (int p = 0; p < kPhiloxLanes; ++p) {
    w[0][p] = block;
    w[1][p] = first_run + static_cast<uint32_t>(p);
    w[2][p] = s.step;
    w[3][p] = s.purpose;
  }
  philox_rounds(s.key0, s.key1, w);
}

}  // namespace condiff
