#include "normals.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "box_muller.h"

namespace condiff {

// Philox4x32-10 (philox.h, the same rounds) on sixteen counters whose first word is
// 16 g + lane, then Box–Muller (MATH.md §6) in float with the approximations of
// approx_math.h: radius sqrt(-2 log u1), u1 = ((x >> 8) + 1) 2^-24 in (0, 1]; angle
// 2 pi u2, u2 = (x >> 8) 2^-24 in [0, 1). Each loop runs over the sixteen lanes with
// scalar code the vectoriser turns into one SIMD instruction stream per clone.
// fp-contract=off: no clone fuses a multiply and an add (AVX-512 would), so every clone
// and the CUDA core (box_muller.h, built with -fmad=false) give the same bits; it costs
// about 5% of this function's time (measured on an EPYC with AVX-512).
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off"))) void normal_group(
    const StreamKey& s, uint64_t group, float* out) {
  constexpr int L = 16;
  uint32_t c0[L], c1[L], c2[L], c3[L];
  const uint32_t first = static_cast<uint32_t>(group * L);
  for (int p = 0; p < L; ++p) {
    c0[p] = first + static_cast<uint32_t>(p);
    c1[p] = s.run;
    c2[p] = s.step;
    c3[p] = s.purpose;
  }
  uint32_t k0 = s.key0, k1 = s.key1;
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
  float cs[2][L], sn[2][L];
  for (int pair = 0; pair < 2; ++pair) {
    const uint32_t* a = pair == 0 ? c0 : c2;
    const uint32_t* b = pair == 0 ? c1 : c3;
    for (int p = 0; p < L; ++p) box_muller(a[p], b[p], &cs[pair][p], &sn[pair][p]);
  }
  for (int p = 0; p < L; ++p) {
    out[4 * p + 0] = cs[0][p];
    out[4 * p + 1] = sn[0][p];
    out[4 * p + 2] = cs[1][p];
    out[4 * p + 3] = sn[1][p];
  }
}

void NormalCursor::fill(uint64_t begin, uint64_t end, float* out) {
  uint64_t e = begin;
  while (e < end) {
    const uint64_t group = e / kNormalGroup, start = group * kNormalGroup;
    const uint64_t stop = std::min(end, start + kNormalGroup);
    if (e == start && stop == start + kNormalGroup && cached_ != group) {
      normal_group(stream_, group, out);  // a whole group: straight into the output
    } else {
      if (cached_ != group) {
        normal_group(stream_, group, cache_);
        cached_ = group;
      }
      std::memcpy(out, cache_ + (e - start), (stop - e) * sizeof(float));
    }
    out += stop - e;
    e = stop;
  }
}

}  // namespace condiff
