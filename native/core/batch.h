// A batch of independent runs, and the random stream each run draws from (MATH.md §6).
// By default run r of a batch uses the stream's key and the run word run_offset + r; a
// per-run key table lets runs of different requests (different seeds) share one batch
// and still draw exactly what each would draw alone.
#pragma once
#include <cstdint>

#include "hd.h"
#include "rng.h"

namespace condiff {

// Words per run in a run-key table: key word 0 (seed mod 2^32), key word 1 (seed / 2^32)
// and the run word of the counter.
constexpr int64_t kRunKeyWords = 3;

struct Batch {
  int64_t runs;         // independent runs in this batch
  int64_t particles;    // particles per run
  int64_t dim;          // D
  uint32_t run_offset;  // run word of run 0 when there is no run-key table
  // Optional run-key table, runs x kRunKeyWords (device memory for the CUDA core): run r
  // draws with key (t[3r], t[3r + 1]) and run word t[3r + 2]; null: the stream's key and
  // run word run_offset + r.
  const uint32_t* run_keys = nullptr;
};

// The stream of run r: the key and run word of its row of `run_keys`, or the stream's key
// with run word run_offset + r. A table row equal to (key0, key1, run_offset + r) gives the
// same stream, so the draws do not depend on which form the caller used.
CONDIFF_HD StreamKey stream_for_run(StreamKey s, const uint32_t* run_keys, uint32_t run_offset, int64_t r) {
  if (run_keys != nullptr) {
    const uint32_t* k = run_keys + kRunKeyWords * r;
    s.key0 = k[0];
    s.key1 = k[1];
    s.run = k[2];
  } else {
    s.run = run_offset + static_cast<uint32_t>(r);
  }
  return s;
}

CONDIFF_HD StreamKey stream_for_run(const StreamKey& s, const Batch& b, int64_t r) {
  return stream_for_run(s, b.run_keys, b.run_offset, r);
}

}  // namespace condiff
