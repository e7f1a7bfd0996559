// The native core's share of bench/resample-gather.ts, without Node: per-particle times of
// each resampling scheme (with the Exp(1) scratch the public resample uses), the survivor
// order, the in-place and the out-of-place gather, and a plain copy of the rows, at
// D = 64 on one thread. Gaussian log-weights (sd 1), median of 11 repetitions.
// A diagnostic for the analysis in bench/RESULTS.md, not a benchmark of record.
//
// Build and run from the repository root (one command):
//   g++ -std=c++17 -O3 -Wno-psabi -fno-math-errno -Inative/core bench/resample-core.cc
//   native/core/resampling.cc native/core/particles.cc native/core/normals.cc
//   native/core/weights.cc native/core/worker_pool.cc -o bench/out/resample-core -lpthread
//   && bench/out/resample-core
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "particles.h"
#include "resampling.h"

using namespace condiff;

namespace {

template <typename F>
double median_ns_per_particle(int64_t n, F&& f) {
  f();  // warm up
  std::vector<double> t;
  for (int r = 0; r < 11; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2] / static_cast<double>(n);
}

}  // namespace

int main() {
  constexpr int64_t kDim = 64;
  std::printf("%-9s %10s %10s %10s %10s %10s %10s %10s %10s\n", "N", "copy", "system.", "strat.", "multin.",
              "residual", "survivors", "in place", "gather");
  for (int64_t n : {int64_t{10000}, int64_t{1000000}}) {
    std::mt19937_64 gen(7);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> lw(n);
    for (double& x : lw) x = normal(gen);
    std::vector<uint64_t> scratch(2 * n + 1);
    std::vector<int32_t> anc(n), order(n);
    std::vector<float> rows(n * kDim, 1.0f), out(n * kDim, 0.0f);
    const StreamKey s{1, 0, 0, 0, 4};
    double t[4];
    for (int scheme = 0; scheme < 4; ++scheme)
      t[scheme] = median_ns_per_particle(n, [&] {
        resample_run(ResamplingScheme(scheme), lw.data(), n, s, scratch.data(), anc.data(), Threads(1),
                     scratch.data() + n);
      });
    resample_run(ResamplingScheme::kSystematic, lw.data(), n, s, scratch.data(), anc.data());
    const double copy = median_ns_per_particle(n, [&] { std::memcpy(out.data(), rows.data(), n * kDim * 4); });
    const double survivors = median_ns_per_particle(n, [&] { survivor_order(anc.data(), n, order.data()); });
    const double in_place =
        median_ns_per_particle(n, [&] { gather_rows_in_place(rows.data(), kDim, anc.data(), n, order.data(), 1); });
    const double gather = median_ns_per_particle(n, [&] { gather_rows(rows.data(), kDim, anc.data(), n, out.data(), 1); });
    std::printf("%-9lld %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f   ns per particle\n",
                static_cast<long long>(n), copy, t[0], t[1], t[2], t[3], survivors, in_place, gather);
  }
  std::printf("(in place includes the survivor order; gathers use systematic ancestors)\n");
  return EXIT_SUCCESS;
}
