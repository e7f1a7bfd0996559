// Parsers for the core's argument objects (batch, stream, coordinates, codes, threads),
// used by the per-operation parsers (op_args.h) that the CPU and CUDA bindings share.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "addon_data.h"
#include "args.h"
#include "batch.h"
#include "kernels.h"
#include "particle_math.h"
#include "particles.h"
#include "resampling.h"
#include "rng.h"

namespace condiff_binding {

using condiff::Batch;
using condiff::Coordinates;
using condiff::ResamplingScheme;
using condiff::StreamKey;
using condiff::Threads;

constexpr int64_t kMaxInt32 = 2147483647;
constexpr int64_t kMaxSafe = 9007199254740991;  // 2^53 - 1

// A seed in [0, 2^53) as the two key words of MATH.md §6.
inline void seed_arg(const Napi::Value& v, const char* name, StreamKey* s) {
  const int64_t seed = integer(v, name, 0, kMaxSafe);
  s->key0 = static_cast<uint32_t>(static_cast<uint64_t>(seed) & 0xFFFFFFFFu);
  s->key1 = static_cast<uint32_t>(static_cast<uint64_t>(seed) >> 32);
}

// An optional run-key table (batch.h) of `runs` rows. The second word of each row is
// seed / 2^32 of a seed below 2^53, as for stream.seed.
inline View<uint32_t> run_keys_arg(const Napi::Value& v, const char* name, int64_t runs) {
  View<uint32_t> keys = uint32_array(v, name, true);
  if (!present(keys)) return keys;
  require_length(v.Env(), keys, runs * condiff::kRunKeyWords, "3 words per run: seed mod 2^32, seed / 2^32, run word");
  for (int64_t r = 0; r < runs; ++r)
    if (keys.data[condiff::kRunKeyWords * r + 1] > (kMaxSafe >> 32))
      throw_range(v.Env(), std::string(name) + "[" + std::to_string(condiff::kRunKeyWords * r + 1) +
                               "] (seed / 2^32) must be at most " + std::to_string(kMaxSafe >> 32) + ", got " +
                               std::to_string(keys.data[condiff::kRunKeyWords * r + 1]));
  return keys;
}

// A thread count, with this addon instance's worker pool (addon_data.h) to run it on.
inline condiff::Threads threads_arg(const Napi::Value& v) {
  const int count = static_cast<int>(integer(v, "threads", 1, 1024));
  AddonData* data = v.Env().GetInstanceData<AddonData>();
  return condiff::Threads(count, data != nullptr ? data->pool : nullptr);
}

// A batch (particles.h) and its optional per-run key table (batch.h), kept as a view so
// an async call holds it and the CUDA binding can stage it on the device.
struct BatchArg {
  Batch b;
  View<uint32_t> run_keys;  // absent, or runs x kRunKeyWords
};

// batch { runs, particles, dim, runOffset, runKeys? }: runKeys, a Uint32Array of
// (seed mod 2^32, floor(seed / 2^32), run word) per run, replaces (stream.seed,
// runOffset + r) for every draw of run r.
inline BatchArg batch_arg(const Napi::Value& v) {
  Napi::Object o = object(v, "batch");
  BatchArg a;
  Batch& b = a.b;
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
  a.run_keys = run_keys_arg(o.Get("runKeys"), "batch.runKeys", b.runs);
  b.run_keys = a.run_keys.data;
  return a;
}

// A purpose word of native.purposes (kind << 16) and the index of a repeated use within a
// step (a corrector step, a RePaint jump), given apart: the word drawn with is
// purpose | index (rng.h), so an index can never spill into the kind.
inline uint32_t purpose_arg(const Napi::Object& o) {
  const int64_t purpose = integer(o.Get("purpose"), "stream.purpose", 0, 4294967295LL);
  if ((purpose & 0xFFFF) != 0)
    throw_range(o.Env(), "stream.purpose must be a purpose of native.purposes (a multiple of 65536; the index "
                         "goes in stream.index), got " + std::to_string(purpose));
  const Napi::Value index = o.Get("index");
  const int64_t i = index.IsUndefined() ? 0 : integer(index, "stream.index", 0, 0xFFFF);
  return static_cast<uint32_t>(purpose | i);
}

inline StreamKey stream_arg(const Napi::Value& v, bool with_run = false) {
  Napi::Object o = object(v, "stream");
  StreamKey s;
  seed_arg(o.Get("seed"), "stream.seed", &s);
  s.run = with_run ? static_cast<uint32_t>(integer(o.Get("run"), "stream.run", 0, 4294967295LL)) : 0u;
  s.step = static_cast<uint32_t>(integer(o.Get("step"), "stream.step", 0, 4294967295LL));
  s.purpose = purpose_arg(o);
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

// The first three arguments of every operation that moves a batch's particles:
// (batch, latent, observed).
struct BatchCoords {
  BatchArg batch;
  Coords c;
  void read_batch_coords(const Napi::CallbackInfo& info) {
    batch = batch_arg(info[0]);
    c = coords_arg(info.Env(), info[1], info[2], batch.b.dim);
  }
};

// The lengths of a batch's arrays, each with its one wording.
template <typename V>
void require_state(Napi::Env env, const V& a, const Batch& b) {
  require_length(env, a, b.runs * b.particles * b.dim, "runs x particles x dim");
}
template <typename V>
void require_rows(Napi::Env env, const V& a, const Batch& b) {
  require_length(env, a, b.runs * b.particles, "runs x particles");
}
template <typename V>
void require_runs(Napi::Env env, const V& a, const Batch& b) {
  require_length(env, a, b.runs, "one per run");
}
template <typename V>
void require_context(Napi::Env env, const V& a, const Batch& b, int64_t n_observed) {
  require_length(env, a, b.runs * n_observed, "runs x observed");
}

// Codes of native.codes (codes.cc), checked against the enums they name.
inline ResamplingScheme scheme_arg(const Napi::Value& v) {
  return static_cast<ResamplingScheme>(integer(v, "scheme", 0, condiff::kResamplingSchemes - 1));
}
inline int parameterization_arg(const Napi::Value& v) {
  return static_cast<int>(integer(v, "parameterization", 0, condiff::kParameterizations - 1));
}
inline int langevin_rule_arg(const Napi::Value& v) {
  return static_cast<int>(integer(v, "rule", 0, condiff::kLangevinRules - 1));
}
inline condiff::KernelKind kernel_arg(const Napi::Value& v) {
  return static_cast<condiff::KernelKind>(integer(v, "kernel", 0, condiff::kKernelKinds - 1));
}

}  // namespace condiff_binding
