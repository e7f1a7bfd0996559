// Parsers for the core's argument objects (batch, stream, coordinates, scheme, threads),
// shared by the CPU ops (ops.cc) and the CUDA context (cuda_binding.cc) so both validate
// alike and say the same thing about a bad argument.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "addon_data.h"
#include "args.h"
#include "particles.h"
#include "resampling.h"
#include "rng.h"

namespace condiff_binding {

using condiff::Batch;
using condiff::Coordinates;
using condiff::ResamplingScheme;
using condiff::StreamKey;

constexpr int64_t kMaxInt32 = 2147483647;
constexpr int64_t kMaxSafe = 9007199254740991;  // 2^53 - 1

// A thread count, with this addon instance's worker pool (addon_data.h) to run it on.
inline condiff::Threads threads_arg(const Napi::Value& v) {
  const int count = static_cast<int>(integer(v, "threads", 1, 1024));
  AddonData* data = v.Env().GetInstanceData<AddonData>();
  return condiff::Threads(count, data != nullptr ? data->pool : nullptr);
}

inline Batch batch_arg(const Napi::Value& v) {
  Napi::Object o = object(v, "batch");
  Batch b;
  b.runs = integer(o.Get("runs"), "batch.runs", 1, kMaxInt32);
  b.particles = integer(o.Get("particles"), "batch.particles", 1, kMaxInt32);
  b.dim = integer(o.Get("dim"), "batch.dim", 1, kMaxInt32);
  const int64_t offset = integer(o.Get("runOffset"), "batch.runOffset", 0, 4294967295LL);
  if (offset + b.runs - 1 > 4294967295LL)
    throw_range(v.Env(), "batch.runOffset + batch.runs must be at most 2^32, got " + std::to_string(offset + b.runs));
  // MATH.md §6: the counter's first word is element / 4, so particles * dim < 2^34.
  if (b.particles * b.dim > (int64_t{1} << 34))
    throw_range(v.Env(), "batch.particles * batch.dim must be at most 2^34 (Philox counter), got " +
                             std::to_string(b.particles * b.dim));
  b.run_offset = static_cast<uint32_t>(offset);
  return b;
}

inline StreamKey stream_arg(const Napi::Value& v, bool with_run = false) {
  Napi::Object o = object(v, "stream");
  const int64_t seed = integer(o.Get("seed"), "stream.seed", 0, kMaxSafe);
  StreamKey s;
  s.key0 = static_cast<uint32_t>(static_cast<uint64_t>(seed) & 0xFFFFFFFFu);
  s.key1 = static_cast<uint32_t>(static_cast<uint64_t>(seed) >> 32);
  s.run = with_run ? static_cast<uint32_t>(integer(o.Get("run"), "stream.run", 0, 4294967295LL)) : 0u;
  s.step = static_cast<uint32_t>(integer(o.Get("step"), "stream.step", 0, 4294967295LL));
  s.purpose = static_cast<uint32_t>(integer(o.Get("purpose"), "stream.purpose", 0, 4294967295LL));
  return s;
}

struct Coords {
  View<int32_t> latent, observed;
  Coordinates core() const { return {latent.data, latent.length, observed.data, observed.length}; }
};

// latent and observed must together be a partition of [0, dim): in range, no repeats.
inline Coords coords_arg(Napi::Env env, const Napi::Value& lat, const Napi::Value& obs, int64_t dim) {
  Coords c{int32_array(lat, "latent"), int32_array(obs, "observed")};
  require_indices(env, c.latent, dim);
  require_indices(env, c.observed, dim);
  if (c.latent.length + c.observed.length != dim)
    throw_range(env, "latent and observed must together cover all " + std::to_string(dim) + " coordinates, got " +
                         std::to_string(c.latent.length) + " + " + std::to_string(c.observed.length));
  std::vector<char> seen(dim, 0);
  for (int64_t i = 0; i < c.latent.length; ++i) seen[c.latent.data[i]] = 1;
  for (int64_t i = 0; i < c.observed.length; ++i)
    if (seen[c.observed.data[i]])
      throw_range(env, "observed index " + std::to_string(c.observed.data[i]) + " also appears in latent");
  return c;
}

inline ResamplingScheme scheme_arg(const Napi::Value& v) {
  return static_cast<ResamplingScheme>(integer(v, "scheme", 0, 3));
}

}  // namespace condiff_binding
