// The random-number layout of MATH.md §6: every draw is a function of
// (seed, run, step, purpose, element) alone, so results do not depend on the
// thread count, on how runs are batched, or (later) on CPU versus GPU.
//   key     = (seed mod 2^32, seed / 2^32)
//   counter = (element / 4, run, step, purpose),   lane = element mod 4
#pragma once
#include <cstdint>

#include "philox.h"

namespace condiff {

// Purposes, numbered once. A purpose word is (kind << 16) | index, where the index
// separates repeated uses inside one step (corrector iteration, RePaint jump).
enum class Purpose : uint32_t {
  kInitial = 1,         // X_T ~ N(0, I)
  kContextPath = 2,     // forward noising of the Y block (MATH.md §3)
  kKernelNoise = 3,     // backward kernel noise sqrt(v) * xi (MATH.md §2)
  kResampling = 4,      // ancestors (MATH.md §5)
  kOutputChoice = 5,    // the particle a run contributes (MATH.md §3)
  kLangevin = 6,        // corrector step j (MATH.md §3, Algorithm 2)
  kRepaintNoise = 7,    // RePaint re-noising, jump u
  kRepaintKernel = 8,   // RePaint's repeated backward step, jump u
  kExactComponent = 9,  // exact posterior: mixture component (MATH.md §7)
  kExactNormal = 10,    // exact posterior: Gaussian draw
  kUser = 11,           // building blocks called directly by users
};

CONDIFF_HD uint32_t purpose_word(Purpose p, uint32_t index = 0) {
  return (static_cast<uint32_t>(p) << 16) | (index & 0xFFFFu);
}

struct StreamKey {
  uint32_t key0;
  uint32_t key1;
  uint32_t run;
  uint32_t step;
  uint32_t purpose;
};

// The four words of the block that holds `element` (elements 4b..4b+3 share block b).
CONDIFF_HD Words4 block_for(const StreamKey& s, uint64_t block) {
  Words4 c;
  c.v[0] = static_cast<uint32_t>(block);
  c.v[1] = s.run;
  c.v[2] = s.step;
  c.v[3] = s.purpose;
  return philox4x32(c, s.key0, s.key1, 10);
}

CONDIFF_HD uint32_t word_at(const StreamKey& s, uint64_t element) {
  return block_for(s, element >> 2).v[element & 3u];
}

// word_at for elements visited in order: one Philox block per four words, not per word.
class WordCursor {
 public:
  CONDIFF_HD explicit WordCursor(const StreamKey& s) : stream_(s) {}
  CONDIFF_HD uint32_t at(uint64_t element) {
    const uint64_t block = element >> 2;
    if (block != block_) {
      words_ = block_for(stream_, block);
      block_ = block;
    }
    return words_.v[element & 3u];
  }

 private:
  StreamKey stream_;
  uint64_t block_ = ~uint64_t{0};
  Words4 words_{};
};

}  // namespace condiff
