// C++ tests of the native core, no Node: Philox known answers (MATH.md §6), normals,
// resampling invariants (MATH.md §5, §5b), weights (§3, §4), the mixture oracle (§7).
// Runs under AddressSanitizer and UndefinedBehaviorSanitizer in CI (npm run test:native).
#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

#include "check.h"

#include "box_muller.h"
#include "exact_math.h"
#include "finite.h"
#include "kernels.h"
#include "linalg.h"
#include "mixture.h"
#include "normals.h"
#include "particles.h"
#include "philox.h"
#include "philox_lanes.h"
#include "resampling.h"
#include "resampling_math.h"
#include "rng.h"
#include "weights.h"
#include "worker_pool.h"
#include "parallel.h"

using namespace condiff;

static CheckCounts counts;
#define CHECK(cond, ...) CONDIFF_CHECK(counts, cond, __VA_ARGS__)

static void test_philox_known_answers() {
  // Random123 tests/kat_vectors, as quoted in MATH.md §6.
  struct Kat {
    int rounds;
    uint32_t ctr[4], key[2], out[4];
  } kats[] = {
      {7, {0, 0, 0, 0}, {0, 0}, {0x5f6fb709, 0x0d893f64, 0x4f121f81, 0x4f730a48}},
      {7, {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
       {0x5207ddc2, 0x45165e59, 0x4d8ee751, 0x8c52f662}},
      {7, {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
       {0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a}},
      {10, {0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {10, {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {10, {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    Words4 c{{k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3]}};
    const Words4 o = philox4x32(c, k.key[0], k.key[1], k.rounds);
    for (int i = 0; i < 4; ++i) CHECK(o.v[i] == k.out[i], "rounds %d word %d got %08x want %08x", k.rounds, i, o.v[i], k.out[i]);
  }
}

// The sixteen-lane rounds (philox_lanes.h) on every instruction set this CPU has equal the
// scalar block (philox.h) word for word, on counters and keys that reach every bit.
static void test_philox_lanes_on_every_set() {
  __builtin_cpu_init();
  std::vector<Isa> sets = {Isa::kBaseline};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) sets.push_back(Isa::kAvx2Fma);
  if (__builtin_cpu_supports("avx512f")) sets.push_back(Isa::kAvx512);
  std::printf("Philox lanes: instruction sets compared: %zu of 3\n", sets.size());
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&state]() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<uint32_t>(state >> 16);
  };
  int64_t differ = 0;
  for (int rep = 0; rep < 2000; ++rep) {
    const uint32_t k0 = rep == 0 ? 0u : rep == 1 ? 0xffffffffu : next(), k1 = rep == 0 ? 0u : rep == 1 ? 0xffffffffu : next();
    uint32_t in[4][kPhiloxLanes];
    for (int i = 0; i < 4; ++i)
      for (int p = 0; p < kPhiloxLanes; ++p) in[i][p] = rep == 0 ? 0u : rep == 1 ? 0xffffffffu : next();
    for (Isa isa : sets) {
      uint32_t w[4][kPhiloxLanes];
      std::memcpy(w, in, sizeof w);
      philox_rounds_on(isa, k0, k1, w);
      for (int p = 0; p < kPhiloxLanes; ++p) {
        const Words4 want = philox4x32(Words4{{in[0][p], in[1][p], in[2][p], in[3][p]}}, k0, k1, 10);
        for (int i = 0; i < 4; ++i) differ += w[i][p] != want.v[i];
      }
    }
  }
  CHECK(differ == 0, "Philox lanes differ from the scalar block in %lld words", (long long)differ);
}

static void test_normals() {
  // 2^20 normals: mean within 5 sd (sd = 1/1024), variance within 5 sd (sqrt(2/n)).
  const uint64_t n = 1 << 20;
  std::vector<float> x(n);
  StreamKey s{7, 0, 1, 2, purpose_word(Purpose::kUser)};
  fill_normals(s, 0, n, x.data());
  double m = 0, v = 0;
  for (float f : x) m += f;
  m /= n;
  for (float f : x) v += (f - m) * (f - m);
  v /= n;
  CHECK(std::fabs(m) < 5.0 / 1024, "mean %g", m);
  CHECK(std::fabs(v - 1) < 5.0 * std::sqrt(2.0 / n), "var %g", v);
  // fill_normals and normal_at agree, at any starting element.
  std::vector<float> y(13);
  fill_normals(s, 5, 18, y.data());
  for (int i = 0; i < 13; ++i) CHECK(y[i] == normal_at(s, 5 + i) && y[i] == x[5 + i], "element %d", 5 + i);
  // Sixteen runs at a time (fill_normals_runs) gives each run's own stream, bit for bit,
  // for ranges that start and end inside blocks and for fewer than sixteen runs.
  for (const auto& range : {std::pair<uint64_t, uint64_t>{0, 2}, {3, 9}, {0, 80}, {61, 70}, {5, 5}}) {
    for (int runs : {16, 5}) {
      const int64_t len = static_cast<int64_t>(range.second - range.first), stride = len + 3;
      std::vector<float> lanes(16 * stride, -1.0f), own(len);
      fill_normals_runs(s, 40, runs, range.first, range.second, lanes.data(), stride);
      int64_t differ = 0;
      for (int p = 0; p < runs; ++p) {
        StreamKey r = s;
        r.run = 40 + static_cast<uint32_t>(p);
        fill_normals(r, range.first, range.second, own.data());
        for (int64_t i = 0; i < len; ++i) differ += std::memcmp(&own[i], &lanes[p * stride + i], sizeof(float)) != 0;
      }
      for (int p = runs; p < 16; ++p) differ += lanes[p * stride] != -1.0f && len > 0;  // untouched
      CHECK(differ == 0, "fill_normals_runs [%llu, %llu) over %d runs: %lld differ", (unsigned long long)range.first,
            (unsigned long long)range.second, runs, (long long)differ);
    }
  }
}

// The non-finite scan (finite.cc, cloned per instruction set): every length up to past
// four 16-float vectors, one bad value at every position, against std::isfinite; finite
// edge values (the largest float, subnormals, −0) never count.
static void test_non_finite_scan() {
  const float bad_values[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::quiet_NaN()};
  const float finite_edges[] = {std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                                std::numeric_limits<float>::denorm_min(), -0.0f, 1.0f};
  int64_t wrong = 0;
  for (int64_t n = 0; n <= 70; ++n) {
    std::vector<float> x(n);
    for (int64_t i = 0; i < n; ++i) x[i] = finite_edges[i % 5];
    if (any_non_finite(x.data(), n) || first_non_finite(x.data(), n) != -1) ++wrong;
    for (int64_t p = 0; p < n; ++p)
      for (const float v : bad_values) {
        const float keep = x[p];
        x[p] = v;
        if (!any_non_finite(x.data(), n) || first_non_finite(x.data(), n) != p) ++wrong;
        x[p] = keep;
      }
  }
  CHECK(wrong == 0, "non-finite scan: %lld wrong answers", (long long)wrong);
}

// Every path of the generator gives the scalar formula's bytes (box_muller.h normal_block,
// what the GPU runs): sixty-four blocks at a time on AVX-512 and on AVX2 (lanes_x4.h) and
// sixteen at a time (the running set's: the AVX-512 or baseline clones, or AVX2's lane
// types, which ctest's core_test_avx2 reaches by running this binary with CONDIFF_MAX_ISA=avx2):
// a cursor's ranges with and without four whole groups in them, at aligned and unaligned
// starts, and sixteen runs at a time over ranges with and without four whole blocks.
static void test_normals_wide() {
  __builtin_cpu_init();
  std::vector<Isa> sets = {Isa::kBaseline};  // kBaseline: sixteen blocks at a time on the running set
  if (__builtin_cpu_supports("avx2") && running_isa() != Isa::kBaseline) sets.push_back(Isa::kAvx2Fma);
  if (__builtin_cpu_supports("avx512f") && running_isa() == Isa::kAvx512) sets.push_back(Isa::kAvx512);
  std::printf("normals: running set %s, %zu paths compared with the scalar formula\n", isa_name(running_isa()),
              sets.size());
  const StreamKey s{0x9E3779B9u, 17, 3, 250, purpose_word(Purpose::kKernelNoise)};
  for (Isa isa : sets) {
    int64_t differ = 0;
    for (const auto& range : {std::pair<uint64_t, uint64_t>{0, 256}, {0, 1000}, {64, 2112}, {5, 1300}, {191, 2000}, {0, 255}}) {
      const size_t len = range.second - range.first;
      std::vector<float> got(len);
      NormalCursor(s, isa).fill(range.first, range.second, got.data());
      for (size_t i = 0; i < len; ++i) {
        float o[4];
        normal_block(s, (range.first + i) / 4, o);
        differ += std::memcmp(&o[(range.first + i) % 4], &got[i], 4) != 0;
      }
    }
    CHECK(differ == 0, "NormalCursor on %s: %lld normals differ from the scalar formula", isa_name(isa), (long long)differ);
    differ = 0;
    for (const auto& range : {std::pair<uint64_t, uint64_t>{0, 1280}, {0, 16}, {3, 19}, {4, 20}, {7, 901}, {61, 70}}) {
      for (int runs : {16, 5}) {
        const int64_t len = static_cast<int64_t>(range.second - range.first), stride = len + 3;
        std::vector<float> got(16 * stride, -1.0f);
        fill_normals_runs_on(isa, s, 1000, runs, range.first, range.second, got.data(), stride);
        for (int p = 0; p < 16; ++p) {
          StreamKey r = s;
          r.run = 1000 + static_cast<uint32_t>(p);
          for (int64_t i = 0; i < len; ++i) {
            const uint64_t e = range.first + static_cast<uint64_t>(i);
            float o[4];
            normal_block(r, e / 4, o);
            const float want = p < runs ? o[e % 4] : -1.0f;  // runs past `runs` untouched
            differ += std::memcmp(&want, &got[p * stride + i], 4) != 0;
          }
        }
      }
    }
    CHECK(differ == 0, "fill_normals_runs on %s: %lld normals differ from the scalar formula", isa_name(isa),
          (long long)differ);
  }
}

// NormalCursor::fill_blocks on every path against fill, element by element: listed stretches
// (one block, a lane batch's edge at 64, longer than a batch, adjacent, far apart) clipped to
// ranges that cut blocks at either end; elements outside the stretches keep their old value.
// And latent_blocks: the stretches of blocks that hold a latent coordinate, or none when they
// are more than seven eighths of the blocks.
// latent_blocks' pattern over `rows` rows of D, as stretches (empty where no list is made).
static std::vector<BlockRange> latent_list(const Coordinates& c, int64_t dim, int64_t rows) {
  const LatentBlocks lb = latent_blocks(c, dim);
  std::vector<BlockRange> out;
  if (!lb.empty()) for_latent_stretches(lb, 0, static_cast<uint64_t>(rows * dim + 3) / 4, [&](BlockRange r) { out.push_back(r); });
  return out;
}

static void test_fill_blocks() {
  __builtin_cpu_init();
  std::vector<Isa> sets = {Isa::kBaseline};
  if (__builtin_cpu_supports("avx2") && running_isa() != Isa::kBaseline) sets.push_back(Isa::kAvx2Fma);
  if (__builtin_cpu_supports("avx512f") && running_isa() == Isa::kAvx512) sets.push_back(Isa::kAvx512);
  const StreamKey s{0x243F6A88u, 5, 77, 12, purpose_word(Purpose::kKernelNoise)};
  const std::vector<std::vector<BlockRange>> lists = {
      {{3, 4}}, {{0, 64}}, {{0, 65}}, {{2, 150}}, {{1, 5}, {5, 9}, {40, 41}}, {{0, 1}, {63, 66}, {127, 200}, {300, 301}}};
  for (Isa isa : sets) {
    int64_t differ = 0, touched = 0;
    for (const auto& list : lists) {
      for (const auto& range : {std::pair<uint64_t, uint64_t>{0, 1210}, {2, 1203}, {13, 161}, {255, 600}, {5, 14}}) {
        const uint64_t len = range.second - range.first;
        std::vector<float> want(len), got(len, -7.0f);
        NormalCursor(s, isa).fill(range.first, range.second, want.data());
        NormalCursor(s, isa).fill_blocks(list.data(), static_cast<int64_t>(list.size()), range.first, range.second, got.data());
        for (uint64_t i = 0; i < len; ++i) {
          const uint64_t block = (range.first + i) / 4;
          bool listed = false;
          for (const BlockRange& r : list) listed = listed || (block >= r.first && block < r.last);
          const float expect = listed ? want[i] : -7.0f;
          differ += std::memcmp(&expect, &got[i], 4) != 0;
          touched += listed;
        }
      }
    }
    CHECK(differ == 0 && touched > 0, "fill_blocks on %s: %lld of the normals differ from fill's (%lld listed)", isa_name(isa),
          (long long)differ, (long long)touched);
  }
  // D = 10, coordinates 0-5 observed: row q's elements 10 q .. 10 q + 9; a block holds a
  // latent coordinate (6-9) unless it lies in 10 q .. 10 q + 5.
  const std::vector<int32_t> latent = {6, 7, 8, 9}, observed = {0, 1, 2, 3, 4, 5};
  const Coordinates c{latent.data(), 4, observed.data(), 6};
  const std::vector<BlockRange> blocks = latent_list(c, 10, 4);  // elements 0-39, blocks 0-9
  // Blocks: 0 (0-3) no, 1 (4-7) yes, 2 (8-11) yes, 3 (12-15) no, 4 (16-19) yes, 5 (20-23) no,
  // 6 (24-27) yes, 7 (28-31) yes, 8 (32-35) no, 9 (36-39) yes.
  const std::vector<std::pair<uint32_t, uint32_t>> expect = {{1, 3}, {4, 5}, {6, 8}, {9, 10}};
  bool same = blocks.size() == expect.size();
  for (size_t i = 0; same && i < blocks.size(); ++i) same = blocks[i].first == expect[i].first && blocks[i].last == expect[i].second;
  CHECK(same, "latent_blocks(D = 10, 0-5 observed, 4 rows): %zu stretches, not the 4 expected", blocks.size());
  // When the list pays: a third of the blocks skipped (D = 80, 40 observed), or an eighth in
  // stretches of 64 blocks or more (D = 800, 200 observed: stretches of 150); not a quarter in
  // stretches of 15 (D = 80, 20 observed), nor one block in sixteen.
  const auto listed = [](int64_t dim, int32_t n_obs, int64_t rows, int64_t* blocks_listed) {
    std::vector<int32_t> lat, obs;
    for (int32_t x = 0; x < dim; ++x) (x < n_obs ? obs : lat).push_back(x);
    const Coordinates cc{lat.data(), static_cast<int64_t>(lat.size()), obs.data(), n_obs};
    const std::vector<BlockRange> r = latent_list(cc, dim, rows);
    *blocks_listed = 0;
    for (const BlockRange& x : r) *blocks_listed += x.last - x.first;
    return r.size();
  };
  // Where a list is made, it is every block that holds a latent coordinate and no other
  // (checked element by element), for D not a multiple of 4 (the pattern's period is then
  // four rows) and latent lists out of order.
  int64_t wrong = 0, made = 0;
  for (int64_t dim : {5, 13, 30, 64, 301}) {
    for (int pattern = 0; pattern < 3; ++pattern) {
      std::vector<int32_t> lat, obs;
      for (int32_t x = 0; x < dim; ++x) {
        const bool o = pattern == 0 ? x < dim / 2 : pattern == 1 ? (x >= dim / 3 && x < dim - 1) : x % 10 < 6;
        (o ? obs : lat).push_back(x);
      }
      std::reverse(lat.begin(), lat.end());
      const Coordinates cc{lat.data(), static_cast<int64_t>(lat.size()), obs.data(), static_cast<int64_t>(obs.size())};
      for (int64_t rows : {1, 3, 7}) {
        const std::vector<BlockRange> got = latent_list(cc, dim, rows);
        if (got.empty()) continue;
        ++made;
        std::vector<char> latent_at(static_cast<size_t>(dim), 0), listed_at((rows * dim + 3) / 4, 0);
        for (int32_t x : lat) latent_at[x] = 1;
        for (size_t i = 0; i < got.size(); ++i) {
          if (i > 0 && got[i].first < got[i - 1].last) ++wrong;  // ascending, disjoint
          for (uint32_t blk = got[i].first; blk < got[i].last; ++blk) listed_at[blk] = 1;
        }
        for (int64_t blk = 0; blk < (rows * dim + 3) / 4; ++blk) {
          bool any = false;
          for (int64_t e = 4 * blk; e < std::min(rows * dim, 4 * blk + 4); ++e) any = any || latent_at[e % dim];
          wrong += any != (listed_at[blk] != 0);
        }
      }
    }
  }
  CHECK(wrong == 0 && made > 5, "latent_blocks: %lld blocks listed wrongly or out of order (%lld lists)", (long long)wrong,
        (long long)made);
  int64_t n80 = 0, n800 = 0, n_quarter = 0, n_few = 0;
  const size_t s80 = listed(80, 40, 16, &n80), s800 = listed(800, 200, 2, &n800);
  CHECK(s80 == 16 && n80 == 160, "latent_blocks(D = 80, 40 observed, 16 rows): %zu stretches, %lld blocks", s80, (long long)n80);
  CHECK(s800 == 2 && n800 == 300, "latent_blocks(D = 800, 200 observed, 2 rows): %zu stretches, %lld blocks", s800, (long long)n800);
  CHECK(listed(80, 20, 16, &n_quarter) == 0, "latent_blocks(D = 80, 20 observed): a list of short stretches was made");
  CHECK(listed(64, 4, 3, &n_few) == 0, "latent_blocks: one block in sixteen skipped, but a list was made");
}

// propagate skips the normals of blocks that hold only observed coordinates (latent_blocks):
// its rows must be the bits of propagate_rows drawing every normal of each run. Both of its
// normal paths (sixteen runs in lanes at particles x D <= 256, a cursor per run above), D not
// a multiple of four, observed coordinates at the front, in the middle and scattered.
static void test_propagate_skips_observed() {
  const StreamKey s{0xA4093822u, 9, 0, 40, purpose_word(Purpose::kKernelNoise)};
  int64_t differ = 0, cases = 0;
  for (int64_t dim : {10, 13, 80, 301}) {
    for (int pattern = 0; pattern < 3; ++pattern) {
      std::vector<int32_t> latent, observed;
      for (int32_t x = 0; x < dim; ++x) {
        const bool obs = pattern == 0 ? x < dim / 2 : pattern == 1 ? (x >= dim / 4 && x < 3 * dim / 4) : x % 9 < 5;
        (obs ? observed : latent).push_back(x);
      }
      const Coordinates c{latent.data(), static_cast<int64_t>(latent.size()), observed.data(), static_cast<int64_t>(observed.size())};
      for (int64_t particles : {1, 3, 16}) {
        const Batch b{21, particles, dim, 500};
        const int64_t rows = b.runs * particles;
        std::vector<float> mu(rows * dim), y(b.runs * c.n_observed), got(rows * dim), want(rows * dim);
        for (size_t i = 0; i < mu.size(); ++i) mu[i] = static_cast<float>(i % 97) * 0.01f;
        for (size_t i = 0; i < y.size(); ++i) y[i] = -static_cast<float>(i % 11);
        std::vector<int32_t> anc(rows);
        for (int64_t i = 0; i < rows; ++i) anc[i] = static_cast<int32_t>((i * 7 + 3) % particles);
        propagate(b, c, mu.data(), anc.data(), 0.5, y.data(), s, got.data(), Threads(2));
        std::vector<float> xi(particles * dim);
        for (int64_t r = 0; r < b.runs; ++r) {
          NormalCursor cursor(stream_for_run(s, b, r));
          propagate_rows(c, dim, particles, mu.data() + r * particles * dim, anc.data() + r * particles, 0.5,
                         y.data() + r * c.n_observed, &cursor, 0, xi.data(), want.data() + r * particles * dim, {});
        }
        for (size_t i = 0; i < got.size(); ++i) differ += std::memcmp(&got[i], &want[i], 4) != 0;
        ++cases;
      }
    }
  }
  CHECK(differ == 0, "propagate skipping observed blocks: %lld values differ from drawing every normal (%lld cases)",
        (long long)differ, (long long)cases);
}

// The vector paths of Box–Muller on Philox words a stream gives about once in 2^24 blocks,
// against the scalar formula (box_muller.h) bit for bit: u1 at its ends (a >> 8 = 0, the
// smallest, and 2^24 − 1, u1 = 1 exactly), the low bytes Box–Muller drops, log's reduction
// switch, and angles at and
// beside each quarter turn (b >> 8 = k 2^22 and one step either side), where the quadrant
// and its rotation change; every path the running set includes (box_muller_on).
static void test_box_muller_edges() {
  // 0xB504F200: u1's mantissa exactly the float nearest √½, where log_approx switches its
  // reduction (m < √½), with the words either side.
  std::vector<uint32_t> a_words = {0u,          0xFFu,       0x100u,      0x1FFu,      0x200u,      0x7FFFFFFFu, 0x80000000u,
                                   0xB504F100u, 0xB504F200u, 0xB504F300u, 0xFFFFFE00u, 0xFFFFFF00u, 0xFFFFFFFFu};
  std::vector<uint32_t> b_words = {0u, 0xFFu, 0xFFFFFFFFu, 0xFFFFFF00u};
  for (uint32_t k = 0; k < 4; ++k)
    for (int64_t step : {-1, 0, 1}) {
      const int64_t turn = static_cast<int64_t>(k) << 22;
      if (turn + step < 0) continue;
      b_words.push_back(static_cast<uint32_t>((turn + step) << 8));
      b_words.push_back(static_cast<uint32_t>(((turn + step) << 8) | 0x80u));
    }
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  for (uint32_t a : a_words)
    for (uint32_t b : b_words) pairs.emplace_back(a, b);
  const std::pair<Isa, int> paths[] = {{Isa::kAvx512, 64}, {Isa::kAvx2Fma, 64}, {Isa::kAvx2Fma, 16}, {Isa::kBaseline, 16}};
  int checked = 0;
  for (const auto& [isa, width] : paths) {
    int64_t differ = 0;
    bool ran = true;
    for (size_t first = 0; first < pairs.size() && ran; first += static_cast<size_t>(width)) {
      std::vector<uint32_t> w(4 * width);
      std::vector<float> out(4 * width);
      for (int q = 0; q < width; ++q) {
        // Words 0, 1 carry the pair; words 2, 3 the pair half a list further on.
        const auto& p = pairs[(first + q) % pairs.size()];
        const auto& r = pairs[(first + q + pairs.size() / 2) % pairs.size()];
        w[0 * width + q] = p.first;
        w[1 * width + q] = p.second;
        w[2 * width + q] = r.first;
        w[3 * width + q] = r.second;
      }
      ran = box_muller_on(isa, width, w.data(), out.data());
      for (int q = 0; ran && q < width; ++q) {
        float want[4];
        box_muller(w[0 * width + q], w[1 * width + q], &want[0], &want[1]);
        box_muller(w[2 * width + q], w[3 * width + q], &want[2], &want[3]);
        differ += std::memcmp(want, &out[4 * q], sizeof want) != 0;
      }
    }
    if (!ran) continue;
    ++checked;
    CHECK(differ == 0, "Box-Muller on %s, %d lanes: %lld blocks of edge words differ from the scalar formula",
          isa_name(isa), width, (long long)differ);
  }
  std::printf("Box-Muller edge words: %d vector paths compared with the scalar formula\n", checked);
}

static std::vector<int> counts_of(const std::vector<int32_t>& anc, size_t n) {
  std::vector<int> c(n, 0);
  for (int32_t a : anc) c[a]++;
  return c;
}

static void test_resampling() {
  const ResamplingScheme schemes[] = {ResamplingScheme::kSystematic, ResamplingScheme::kStratified,
                                      ResamplingScheme::kMultinomial, ResamplingScheme::kResidual};
  const double ninf = -std::numeric_limits<double>::infinity();
  for (ResamplingScheme sc : schemes) {
    const int n = 1000;
    std::vector<double> lw(n), w(n);
    std::vector<uint64_t> cdf(n);
    double total = 0;
    for (int k = 0; k < n; ++k) {
      lw[k] = (k % 7 == 3) ? ninf : std::sin(k * 0.37) * 3.0;  // some -inf weights
      w[k] = std::isinf(lw[k]) ? 0 : std::exp(lw[k]);
      total += w[k];
    }
    lw[n - 1] = lw[n - 2] = ninf;  // trailing zeros
    total -= w[n - 1] + w[n - 2];
    w[n - 1] = w[n - 2] = 0;
    for (uint32_t trial = 0; trial < 50; ++trial) {
      std::vector<int32_t> anc(n, -1);
      StreamKey s{1, 2, 3, trial, purpose_word(Purpose::kResampling)};
      CHECK(resample_run(sc, lw.data(), n, s, cdf.data(), anc.data()), "scheme %d", int(sc));
      auto c = counts_of(anc, n);
      int sum = 0;
      for (int k = 0; k < n; ++k) {
        sum += c[k];
        CHECK(!(w[k] == 0 && c[k] > 0), "scheme %d chose zero-weight particle %d", int(sc), k);
        if (sc == ResamplingScheme::kSystematic)
          CHECK(std::fabs(c[k] - n * w[k] / total) < 1.0, "systematic count %d vs %g", c[k], n * w[k] / total);
        if (sc == ResamplingScheme::kResidual) CHECK(c[k] >= std::floor(n * w[k] / total), "residual floor");
      }
      CHECK(sum == n, "sum %d", sum);
    }
    // N = 1 and all -inf
    double one = -5.0;
    int32_t a = -1;
    StreamKey s{1, 2, 3, 4, 5};
    CHECK(resample_run(sc, &one, 1, s, cdf.data(), &a) && a == 0, "N=1");
    double none[3] = {ninf, ninf, ninf};
    int32_t a3[3];
    CHECK(!resample_run(sc, none, 3, s, cdf.data(), a3), "all -inf must fail");
    // A NaN among finite weights: weighs nothing by default; with first_nan the call fails
    // and names the first one, in any block of any thread split (MATH.md §5).
    std::vector<double> with_nan(3 * 4096 + 17, 0.0);
    with_nan[2 * 4096 + 5] = std::nan("");
    with_nan[3 * 4096 + 1] = std::nan("");
    std::vector<uint64_t> big_cdf(2 * with_nan.size() + 1);
    std::vector<int32_t> big_anc(with_nan.size());
    const int64_t m = static_cast<int64_t>(with_nan.size());
    CHECK(resample_run(sc, with_nan.data(), m, s, big_cdf.data(), big_anc.data()), "NaN weighs nothing by default");
    for (int32_t k : big_anc) CHECK(k != 2 * 4096 + 5 && k != 3 * 4096 + 1, "scheme %d chose a NaN weight", int(sc));
    for (int threads : {1, 2, 3}) {
      int64_t at = 0;
      CHECK(!resample_run(sc, with_nan.data(), m, s, big_cdf.data(), big_anc.data(), Threads(threads), nullptr, &at) &&
                at == 2 * 4096 + 5,
            "scheme %d on %d threads: first NaN at %lld", int(sc), threads, static_cast<long long>(at));
      CHECK(resample_run(sc, lw.data(), n, s, cdf.data(), big_anc.data(), Threads(threads), nullptr, &at) && at == -1,
            "no NaN: first_nan is -1");
    }
  }
  // Systematic with u as close to 1 as a word allows, and a single positive weight first.
  {
    const int n = 5;
    double lw[n] = {0.0, -std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                    -std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
    uint64_t cdf[n];
    int32_t anc[n];
    for (uint32_t t = 0; t < 200; ++t) {
      StreamKey s{t, 0, 0, 0, 0};
      resample_run(ResamplingScheme::kSystematic, lw, n, s, cdf, anc);
      for (int k = 0; k < n; ++k) CHECK(anc[k] == 0, "only particle 0 has weight");
    }
  }
}

static void test_weights() {
  double lw[3] = {std::log(1.0 / 3), std::log(1.0 / 3), std::log(1.0 / 3)};
  double inc[3] = {0.0, std::log(2.0), -std::numeric_limits<double>::infinity()};
  ReweightResult r = reweight_run(lw, inc, 3);
  CHECK(r.ok && std::fabs(r.log_evidence_increment - std::log(1.0)) < 1e-12, "evidence %g", r.log_evidence_increment);
  CHECK(std::fabs(std::exp(lw[1]) - 2.0 / 3) < 1e-12, "W1");
  CHECK(std::fabs(r.ess - 1.0 / (1.0 / 9 + 4.0 / 9)) < 1e-9, "ess %g", r.ess);
  double lw2[2] = {0, 0}, inc2[2] = {-std::numeric_limits<double>::infinity(), std::nan("")};
  CHECK(!reweight_run(lw2, inc2, 2).ok, "all bad weights fail");
  int32_t obs[1] = {1};
  float mu[2] = {0.f, 1.f}, y[1] = {2.f};
  const double lg = gaussian_y_log_weight(mu, obs, 1, y, 0.5, gaussian_log_norm(1, 0.5));
  CHECK(std::fabs(lg - (-1.0 / (2 * 0.5) - 0.5 * std::log(2 * M_PI * 0.5))) < 1e-12, "gaussian %g", lg);
  // The batched weights (eight rows at a time) are the per-row formula's bits, for runs of
  // 13 particles (blocks of eight cut by run ends) on any thread count.
  const int64_t runs = 5, n = 13, d = 6;
  std::vector<int32_t> obs2 = {4, 1, 5}, lat2 = {0, 2, 3};
  Coordinates c{lat2.data(), 3, obs2.data(), 3};
  Batch b{runs, n, d, 0};
  std::vector<float> mus(runs * n * d), ys(runs * 3);
  for (size_t i = 0; i < mus.size(); ++i) mus[i] = std::sin(0.37f * static_cast<float>(i));
  for (size_t i = 0; i < ys.size(); ++i) ys[i] = std::cos(0.91f * static_cast<float>(i));
  for (int threads : {1, 2}) {
    std::vector<double> out(runs * n);
    gaussian_y_log_weights(b, c, mus.data(), ys.data(), 0.3, out.data(), threads);
    int64_t differ = 0;
    for (int64_t row = 0; row < runs * n; ++row) {
      const double one = gaussian_y_log_weight(mus.data() + row * d, obs2.data(), 3, ys.data() + (row / n) * 3, 0.3,
                                               gaussian_log_norm(3, 0.3));
      differ += std::memcmp(&one, &out[row], sizeof one) != 0;
    }
    CHECK(differ == 0, "gaussian_y_log_weights on %d threads: %lld rows differ from the formula", threads, (long long)differ);
  }
}

static void test_kernels() {
  {
    // kernel_mean_batch reports the first non-finite mean (float32 overflow), any threads.
    std::vector<float> z(300000, 1.0f), score(300000, 0.5f), mu(300000);
    score[123457] = 3e38f;
    score[200001] = 3e38f;
    for (int threads : {1, 2, 3})
      CHECK(kernel_mean_batch(z.data(), score.data(), 300000, 1.0, 10.0, mu.data(), threads) == 123457,
            "first non-finite mean on %d threads", threads);
    score[123457] = score[200001] = 0.5f;
    CHECK(kernel_mean_batch(z.data(), score.data(), 300000, 1.0, 10.0, mu.data(), 2) == -1, "all finite: -1");
  }
  // OU Euler: mu = z + h(z + 2 s) (MATH.md §2)
  StepSchedule q{std::exp(-1.0), 1 - std::exp(-2.0), std::exp(-0.9), 1 - std::exp(-1.8), std::exp(-0.1),
                 1 - std::exp(-0.2), 0.1, -1.0, 2.0};
  KernelCoefficients e = kernel_coefficients(KernelKind::kEuler, q);
  CHECK(std::fabs(e.a - 1.1) < 1e-15 && std::fabs(e.b - 0.2) < 1e-15 && std::fabs(e.v - 0.2) < 1e-15, "euler");
  // DDPM on a point mass at 0 (score -z / sigma_t^2, so x0hat = 0): the mean is
  // q(z_s | z_t, x0 = 0)'s, alpha_{t|s} sigma_s^2 / sigma_t^2 * z.
  KernelCoefficients dd = kernel_coefficients(KernelKind::kDdpm, q);
  const double z = 0.7, s = -z / q.sigma2_t, want = q.alpha_ts * q.sigma2_s / q.sigma2_t * z;
  CHECK(std::fabs(dd.a * z + dd.b * s - want) < 1e-12, "ddpm mean %g vs %g", dd.a * z + dd.b * s, want);
  CHECK(std::fabs(dd.v - q.sigma2_ts * q.sigma2_s / q.sigma2_t) < 1e-15, "ddpm var");
}

static void test_eigen_and_mixture() {
  const int d = 4;
  double a[d * d] = {4, 1, 0.5, 0, 1, 3, 0.2, 0.1, 0.5, 0.2, 2, 0.3, 0, 0.1, 0.3, 1};
  std::vector<double> lam, u;
  CHECK(symmetric_eigen(a, d, lam, u), "converged");
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) {
      double s = 0;
      for (int k = 0; k < d; ++k) s += u[i * d + k] * lam[k] * u[j * d + k];
      CHECK(std::fabs(s - a[i * d + j]) < 1e-12, "reconstruct %d %d", i, j);
    }
  // Single full Gaussian: score must equal -C^{-1}(z - alpha m), checked by a solve.
  double w[1] = {1}, m[d] = {1, -1, 0.5, 2};
  std::string err;
  auto gm = GaussianMixture::create(d, 1, w, m, a, false, &err);
  CHECK(gm != nullptr, "create: %s", err.c_str());
  float z[d] = {0.3f, 0.1f, -0.2f, 1.0f}, out[d];
  const double alpha = 0.8, sigma2 = 0.36;
  CHECK(gm->score(z, 1, alpha, sigma2, out, 1) == -1, "finite score reports -1");
  {
    // The first non-finite output, as a flat index, whatever the threads: rows 21 and 40 bad.
    std::vector<float> zs(50 * d, 0.25f), os(50 * d);
    zs[21 * d + 2] = std::nanf("");
    zs[40 * d] = INFINITY;
    for (int threads : {1, 2, 3}) {
      const int64_t at = gm->score(zs.data(), 50, alpha, sigma2, os.data(), threads);
      CHECK(at >= 21 * d && at < 22 * d && !std::isfinite(os[at]), "first non-finite %lld on %d threads", (long long)at, threads);
    }
  }
  double c[d * d], rhs[d];
  for (int i = 0; i < d * d; ++i) c[i] = alpha * alpha * a[i] + (i % (d + 1) == 0 ? sigma2 : 0);
  for (int i = 0; i < d; ++i) rhs[i] = z[i] - alpha * m[i];
  std::vector<double> l;
  cholesky(c, d, l);
  cholesky_solve(l, d, rhs);
  for (int i = 0; i < d; ++i) CHECK(std::fabs(out[i] + rhs[i]) < 1e-5, "score %d: %g vs %g", i, out[i], -rhs[i]);
  // Not positive definite: rejected with a message naming the component.
  double bad[4] = {1, 2, 2, 1};
  auto gb = GaussianMixture::create(2, 1, w, m, bad, false, &err);
  CHECK(gb == nullptr && err.find("positive definite") != std::string::npos, "%s", err.c_str());
  // Posterior of one Gaussian: conditional mean and covariance by the Schur complement.
  int32_t obs[2] = {1, 3};
  float y[2] = {0.f, 1.5f};
  MixturePosterior post;
  CHECK(gm->posterior(obs, 2, y, &post, &err), "posterior: %s", err.c_str());
  CHECK(post.latent.size() == 2 && post.latent[0] == 0 && post.latent[1] == 2, "latent");
  // Draws have that mean (n = 20000, tolerance 6 sd of the sample mean).
  const int n = 20000;
  std::vector<float> draws(n * d);
  sample_posterior(post, n, StreamKey{3, 0, 0, 0, 0}, draws.data(), 2);
  for (int a2 = 0; a2 < 2; ++a2) {
    double mean = 0;
    for (int i = 0; i < n; ++i) mean += draws[i * d + post.latent[a2]];
    mean /= n;
    const double sd = std::sqrt(post.covariances[a2 * 2 + a2] / n);
    CHECK(std::fabs(mean - post.means[a2]) < 6 * sd, "posterior mean %d: %g vs %g", a2, mean, post.means[a2]);
  }
  for (int i = 0; i < n; ++i) CHECK(draws[i * d + 1] == 0.f && draws[i * d + 3] == 1.5f, "observed filled");
}

static void test_thread_independence() {
  const int64_t runs = 3, n = 700, d = 5;
  std::vector<int32_t> lat = {0, 2, 3}, obs = {1, 4};
  Coordinates c{lat.data(), 3, obs.data(), 2};
  Batch b{runs, n, d, 10};
  std::vector<float> y(runs * 2, 0.5f), z1(runs * n * d), z2(runs * n * d);
  StreamKey s{9, 0, 0, 4, purpose_word(Purpose::kInitial)};
  init_state(b, c, y.data(), s, z1.data(), 1);
  init_state(b, c, y.data(), s, z2.data(), 2);
  CHECK(z1 == z2, "init_state depends on threads");
  std::vector<double> lw(runs * n, -std::log(double(n))), inc(runs * n), lw2;
  std::vector<uint64_t> cdf(runs * n);
  gaussian_y_log_weights(b, c, z1.data(), y.data(), 0.3, inc.data(), 2);
  lw2 = lw;
  std::vector<double> ev(runs), ess(runs);
  std::vector<uint8_t> flags(runs);
  CHECK(reweight_batch(b, lw.data(), inc.data(), 1.0, ev.data(), ess.data(), flags.data(), 1) == -1, "reweight");
  CHECK(reweight_batch(b, lw2.data(), inc.data(), 1.0, ev.data(), ess.data(), flags.data(), 2) == -1, "reweight");
  CHECK(lw == lw2, "reweight depends on threads");
  std::vector<int32_t> a1(runs * n), a2(runs * n);
  resample_batch(b, ResamplingScheme::kMultinomial, flags.data(), s, lw.data(), cdf.data(), a1.data(), 1);
  resample_batch(b, ResamplingScheme::kMultinomial, flags.data(), s, lw2.data(), cdf.data(), a2.data(), 2);
  CHECK(a1 == a2, "resample depends on threads");
  propagate(b, c, z1.data(), a1.data(), 0.5, y.data(), s, z2.data(), 2);
  std::vector<float> z3(runs * n * d);
  propagate(b, c, z1.data(), a1.data(), 0.5, y.data(), s, z3.data(), 1);
  CHECK(z2 == z3, "propagate depends on threads");
}

// Reductions over several weight blocks split across pool threads: the same bits as the
// serial per-run reweight_run and as one thread; resampling likewise.
static void test_block_reductions_on_pool() {
  auto pool = std::make_shared<WorkerPool>();
  const int64_t runs = 2, n = 20 * kWeightBlock + 123, d = 1;
  Batch b{runs, n, d, 0};
  std::vector<double> inc(runs * n), base(runs * n, -std::log(double(n)));
  for (int64_t i = 0; i < runs * n; ++i) inc[i] = -0.5 * std::pow(std::sin(0.001 * double(i)) * 4.0, 2);
  std::vector<double> serial = base;
  std::vector<double> ev_serial(runs), ess_serial(runs);
  for (int64_t r = 0; r < runs; ++r) {
    ReweightResult res = reweight_run(serial.data() + r * n, inc.data() + r * n, n);
    CHECK(res.ok, "reweight_run ok");
    ev_serial[r] = res.log_evidence_increment;
    ess_serial[r] = res.ess;
  }
  StreamKey s{3, 0, 0, 7, purpose_word(Purpose::kResampling)};
  std::vector<int32_t> anc_serial;
  for (int threads : {1, 2, 3}) {
    std::vector<double> lw = base, ev(runs), ess(runs);
    std::vector<uint8_t> flags(runs);
    CHECK(reweight_batch(b, lw.data(), inc.data(), 1.0, ev.data(), ess.data(), flags.data(), Threads(threads, pool)) == -1,
          "reweight_batch ok");
    CHECK(lw == serial && ev == ev_serial && ess == ess_serial, "reweight_batch on %d threads differs from reweight_run",
          threads);
    for (ResamplingScheme scheme : {ResamplingScheme::kSystematic, ResamplingScheme::kStratified,
                                    ResamplingScheme::kMultinomial, ResamplingScheme::kResidual}) {
      std::vector<double> w = lw;
      std::vector<uint64_t> cdf(runs * n);
      std::vector<int32_t> anc(runs * n);
      CHECK(resample_batch(b, scheme, flags.data(), s, w.data(), cdf.data(), anc.data(), Threads(threads, pool)) == -1,
            "resample_batch ok");
      std::vector<int32_t> one(runs * n);
      for (int64_t r = 0; r < runs; ++r) {
        StreamKey sr = s;
        sr.run = static_cast<uint32_t>(r);
        std::vector<uint64_t> c1(n);
        CHECK(resample_run(scheme, lw.data() + r * n, n, sr, c1.data(), one.data() + r * n), "resample_run ok");
        // Keeping the Exp(1) draws between passes (the public resample) changes nothing.
        std::vector<uint64_t> draws(n + 1);
        std::vector<int32_t> kept(n);
        CHECK(resample_run(scheme, lw.data() + r * n, n, sr, c1.data(), kept.data(), Threads(threads, pool), draws.data()),
              "resample_run with draws ok");
        CHECK(std::equal(kept.begin(), kept.end(), one.begin() + r * n), "draws kept: scheme %d differs", int(scheme));
      }
      CHECK(anc == one, "resample_batch scheme %d on %d threads differs from resample_run", int(scheme), threads);
    }
  }
}

// Survivors stay in place: the same multiset, survivors in their own slot, and the in-place
// gather equal to the out-of-place one by the same order (also past the streaming size).
static void test_survivor_order() {
  uint32_t state = 12345;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  for (int64_t n : {1, 2, 7, 64, 65, 1000, 70000}) {
    for (int pattern = 0; pattern < 3; ++pattern) {
      std::vector<int32_t> anc(n), order(n);
      for (int64_t i = 0; i < n; ++i)
        anc[i] = pattern == 0 ? static_cast<int32_t>(next() % n)                       // random, unsorted
                 : pattern == 1 ? static_cast<int32_t>(n - 1)                          // one particle
                                : static_cast<int32_t>((i / 3) * 3 % n);               // sorted, repeats
      survivor_order(anc.data(), n, order.data());
      std::vector<int32_t> a = anc, o = order;
      std::sort(a.begin(), a.end());
      std::sort(o.begin(), o.end());
      CHECK(a == o, "n %lld pattern %d: same multiset", (long long)n, pattern);
      std::vector<uint8_t> present(n, 0);
      for (int32_t k : anc) present[k] = 1;
      int64_t bad = 0;
      for (int64_t k = 0; k < n; ++k) bad += (present[k] && order[k] != k) || order[order[k]] != order[k];
      CHECK(bad == 0, "n %lld pattern %d: survivors in place, sources stay", (long long)n, pattern);
      const int64_t dim = n == 70000 ? 64 : 3;  // 70000 x 64 floats: past the streaming threshold
      std::vector<float> rows(n * dim), out(n * dim);
      for (int64_t i = 0; i < n * dim; ++i) rows[i] = static_cast<float>(i % 8191);
      gather_rows(rows.data(), dim, order.data(), n, out.data(), 2);
      std::vector<int32_t> order2(n);
      gather_rows_in_place(rows.data(), dim, anc.data(), n, order2.data(), 2);
      CHECK(order2 == order, "n %lld pattern %d: the in-place gather's order", (long long)n, pattern);
      CHECK(rows == out, "n %lld pattern %d: in place equals gather", (long long)n, pattern);
    }
  }
}

// The worker pool: every index once per task, many tasks in a row, a busy pool refuses a
// second caller (which then starts its own threads), nested loops, exceptions.
static void test_worker_pool() {
  auto pool = std::make_shared<WorkerPool>();
  const Threads threads(4, pool);
  for (int task = 0; task < 200; ++task) {
    std::vector<int> hits(1000, 0);
    parallel_for(1000, threads, 10, [&](int64_t b, int64_t e, int w) {
      CHECK(w >= 0 && w < 4, "worker index %d", w);
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
    CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }), "task %d: every index once", task);
  }
  // Nested: the inner loop finds the pool busy and runs on its own threads.
  std::vector<std::atomic<int>> cells(64 * 64);
  parallel_for(64, threads, 1, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i)
      parallel_for(64, threads, 1, [&](int64_t b2, int64_t e2, int) {
        for (int64_t j = b2; j < e2; ++j) cells[i * 64 + j]++;
      });
  });
  CHECK(std::all_of(cells.begin(), cells.end(), [](const std::atomic<int>& c) { return c.load() == 1; }),
        "nested loops cover every cell once");
  bool refused = false;
  CHECK(pool->try_run(2, [&](int w) {
    if (w == 0) refused = !pool->try_run(2, [](int) {});
  }), "an idle pool runs a task");
  CHECK(refused, "a busy pool refuses a second task");
  bool threw = false;
  try {
    parallel_for(1000, threads, 10, [&](int64_t b, int64_t, int) {
      if (b > 500) throw std::runtime_error("boom");
    });
  } catch (const std::runtime_error&) {
    threw = true;
  }
  CHECK(threw, "an exception in a pool worker reaches the caller");
  CHECK(!pool->try_run(WorkerPool::kMaxThreads + 2, [](int) {}), "too many workers: refused");
}

// step_aside moves the thread off the CPUs it is asked to avoid and gives its affinity set
// back; with every allowed CPU avoided it stays. Then a two-worker pool (where the caller and
// a worker step aside from each other's CPU) still runs every index once, task after task.
static void test_step_aside() {
#if defined(__linux__)
  cpu_set_t before;
  CHECK(sched_getaffinity(0, sizeof before, &before) == 0, "the affinity set");
  const int here = current_cpu();
  CHECK(here > 0, "current_cpu on Linux: %d", here);
  if (CPU_COUNT(&before) >= 2) {
    cpu_set_t after;
    // From each allowed CPU in turn (the thread placed there first).
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (!CPU_ISSET(c, &before)) continue;
      cpu_set_t only;
      CPU_ZERO(&only);
      CPU_SET(c, &only);
      CHECK(sched_setaffinity(0, sizeof only, &only) == 0 && sched_setaffinity(0, sizeof before, &before) == 0, "placed on CPU %d", c);
      const int from = current_cpu();
      CHECK(from == c + 1, "on CPU %d: %d", c, from - 1);
      const int there = step_aside({from});
      CHECK(there > 0 && there != from, "moved off CPU %d: now %d", from - 1, there - 1);
      CHECK(sched_getaffinity(0, sizeof after, &after) == 0 && CPU_EQUAL(&before, &after), "the affinity set given back");
    }
    // Only the CPU it is on allowed: nowhere to go, and that set left as it was.
    int first = 0;
    while (!CPU_ISSET(first, &before)) ++first;
    cpu_set_t only;
    CPU_ZERO(&only);
    CPU_SET(first, &only);
    CHECK(sched_setaffinity(0, sizeof only, &only) == 0, "placed on CPU %d alone", first);
    const int stay = step_aside({first + 1});
    CHECK(stay == first + 1, "nowhere else to go: stays on %d, got %d", first, stay - 1);
    CHECK(sched_getaffinity(0, sizeof after, &after) == 0 && CPU_EQUAL(&only, &after), "the one-CPU set unchanged");
    CHECK(sched_setaffinity(0, sizeof before, &before) == 0, "the test's own affinity set restored");
  }
  CHECK(step_aside({0}) > 0, "0 entries are ignored");
#endif
  auto pool = std::make_shared<WorkerPool>();
  const Threads two(2, pool);
  for (int task = 0; task < 300; ++task) {
    std::vector<int> hits(4096, 0);
    parallel_for(4096, two, 64, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
    CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }), "task %d on two threads: every index once", task);
  }
}

// The shared-header math the CUDA core evaluates too (exact_math.h, box_muller.h,
// resampling_math.h): accuracy, and the bit-identity the GPU's parity rests on.
static int64_t ulp_distance(double a, double b) {
  int64_t x, y;
  std::memcpy(&x, &a, 8);
  std::memcpy(&y, &b, 8);
  if ((x < 0) != (y < 0)) return (x & INT64_MAX) + (y & INT64_MAX);
  return x > y ? x - y : y - x;
}

static void test_shared_math() {
  // exp_d and log_d within 2 ulp of the C library over their whole ranges.
  int64_t worst_exp = 0, worst_log = 0;
  uint64_t lcg = 88172645463325252ull;
  auto next = [&] { return lcg = lcg * 6364136223846793005ull + 1442695040888963407ull; };
  for (int i = 0; i < 2000000; ++i) {
    const double x = -745.0 + 1455.0 * double(next() >> 11) * 0x1p-53;
    worst_exp = std::max(worst_exp, ulp_distance(exp_d(x), std::exp(x)));
    const double y = bits_double((next() >> 2) & 0x7fefffffffffffffull);  // any positive finite double
    worst_log = std::max(worst_log, ulp_distance(log_d(y), std::log(y)));
  }
  CHECK(worst_exp <= 2, "exp_d worst %lld ulp", (long long)worst_exp);
  // The branch-free form used for resampling weights equals exp_d bit for bit on x <= 0.
  int64_t exp_differ = 0;
  for (int i = 0; i < 1000000; ++i) {
    const double x = -760.0 * double(next() >> 11) * 0x1p-53;
    exp_differ += double_bits(exp_nonpositive_d(x)) != double_bits(exp_d(x));
  }
  CHECK(exp_differ == 0, "exp_nonpositive_d differs from exp_d at %lld points", (long long)exp_differ);
  CHECK(exp_nonpositive_d(-std::numeric_limits<double>::infinity()) == 0.0 && exp_nonpositive_d(std::nan("")) == 0.0,
        "exp_nonpositive_d: -inf and NaN weigh nothing");
  CHECK(worst_log <= 2, "log_d worst %lld ulp", (long long)worst_log);
  CHECK(exp_d(-std::numeric_limits<double>::infinity()) == 0.0 && exp_d(0.0) == 1.0 && exp_d(-746.0) == 0.0, "exp_d edges");
  CHECK(std::isinf(exp_d(710.0)) && std::isnan(exp_d(std::nan(""))), "exp_d overflow, NaN");
  CHECK(log_d(1.0) == 0.0 && std::isinf(log_d(0.0)) && std::isnan(log_d(-1.0)), "log_d edges");
  // neg_log_unit_d (the Exp(1) draws): within 1e-13 relative (or 1e-15 absolute near 1) of
  // -log over every 2^-32 step it can see, sampled, including both ends.
  double worst_exp1 = 0.0;
  for (uint64_t w = 0; w <= 0xffffffffull; w += 65521) {
    for (uint32_t x : {static_cast<uint32_t>(w), 0xffffffffu, 0u, 0x80000000u}) {
      const double u = uniform01_open_left_d(x), got = neg_log_unit_d(u), want = -std::log(u);
      worst_exp1 = std::max(worst_exp1, std::fabs(got - want) / std::max(want, 1e-2));
    }
  }
  CHECK(worst_exp1 < 1e-13, "neg_log_unit_d worst relative error %g", worst_exp1);
  CHECK(neg_log_unit_d(1.0) == 0.0, "-log 1 = 0");
  // The CPU normal generator (SIMD lanes, every clone) equals the scalar formula the GPU runs.
  const StreamKey s{3, 1, 4, 1, purpose_word(Purpose::kKernelNoise)};
  std::vector<float> x(1 << 16);
  fill_normals(s, 0, x.size(), x.data());
  int64_t differ = 0;
  for (uint64_t b = 0; b < x.size() / 4; ++b) {
    float o[4];
    normal_block(s, b, o);
    for (int l = 0; l < 4; ++l) differ += std::memcmp(&o[l], &x[4 * b + l], 4) != 0;
  }
  CHECK(differ == 0, "normal_group and normal_block differ in %lld lanes", (long long)differ);
  // residual_copies is exact (against 128-bit integer arithmetic); residual_fraction is
  // the remainder on a 2^32 scale: below 2^32, monotone, and within a factor 2 of the
  // exact rem 2^32 / total.
  for (int i = 0; i < 200000; ++i) {
    const int64_t n = 1 + int64_t(next() % 2147483647u);
    const uint64_t total = (next() >> 1) | 1u, q = next() % (total + 1);
    uint64_t rem = 0;
    const uint64_t c = residual_copies(q, n, total, &rem);
    const unsigned __int128 p = (unsigned __int128)n * q;
    CHECK(c == uint64_t(p / total) && rem == uint64_t(p % total), "residual_copies(%llu, %lld, %llu)",
          (unsigned long long)q, (long long)n, (unsigned long long)total);
    const uint64_t f = residual_fraction(rem, total);
    const uint64_t exact = uint64_t(((unsigned __int128)rem << 32) / total);
    CHECK(f < (uint64_t{1} << 32) && f <= exact && exact <= 2 * f + 2, "residual_fraction %llu vs %llu",
          (unsigned long long)f, (unsigned long long)exact);
    CHECK(residual_fraction(rem / 2, total) <= f, "residual_fraction monotone");
    if (counts.failures > 10) break;
  }
  // The adaptive shift keeps tiny weights when the total mass is small: one particle at
  // weight 1 and 2^20 - 1 at e^-40 ~ 4e-18 (a float64 running sum keeps them; so must we).
  {
    const int64_t n = 1 << 20;
    std::vector<double> lw(n, -40.0);
    lw[0] = 0.0;
    std::vector<uint64_t> cdf(n);
    const uint64_t total = fixed_cumulative_weights(lw.data(), n, cdf.data());
    CHECK(total > 0 && cdf[1] > cdf[0] && total <= (uint64_t{1} << 63), "tiny weights lost: C_0 %llu C_1 %llu",
          (unsigned long long)cdf[0], (unsigned long long)cdf[1]);
    // Equal weights at any N: the total is exactly N q.
    std::vector<double> eq(49, -3.7);
    std::vector<uint64_t> c49(49);
    const uint64_t t49 = fixed_cumulative_weights(eq.data(), 49, c49.data());
    CHECK(t49 == 49 * c49[0], "equal weights: total %llu vs 49 x %llu", (unsigned long long)t49, (unsigned long long)c49[0]);
  }
  // Targets stay below the total (so the last positive particle is the furthest reachable).
  for (uint64_t total : {uint64_t{1}, uint64_t{7}, (uint64_t{1} << 63)})
    CHECK(position_target(fixed_position(0.9999999999999999), total) < total && position_target(~uint64_t{0}, total) < total,
          "target reaches the total %llu", (unsigned long long)total);
}

void run_step_tests(CheckCounts& counts);  // step_test.cc: run keys, the fused step, refused threads

#if defined(CONDIFF_TEST_GPU)
int run_gpu_checks();  // gpu_checks.cc: the CUDA core against this CPU core
#endif

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--gpu") {
#if defined(CONDIFF_TEST_GPU)
    return run_gpu_checks();
#else
    std::printf("GPU checks skipped: this build has no CUDA core (configure with -DCONDIFF_WITH_CUDA=ON)\n");
    return 77;
#endif
  }
  test_philox_known_answers();
  test_philox_lanes_on_every_set();
  test_normals();
  test_normals_wide();
  test_fill_blocks();
  test_propagate_skips_observed();
  test_box_muller_edges();
  test_non_finite_scan();
  test_resampling();
  test_weights();
  test_kernels();
  test_eigen_and_mixture();
  test_thread_independence();
  test_block_reductions_on_pool();
  test_worker_pool();
  test_step_aside();
  test_survivor_order();
  test_shared_math();
  run_step_tests(counts);
  std::printf("%d checks, %d failures\n", counts.checks, counts.failures);
  return counts.failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
