// The native core's bootstrap step without Node: the fused bootstrap_step (smc_step.h) and
// each of the five operations it stands for, on a batch of `runs` runs of `particles`
// particles in D dimensions (the first D/4 coordinates observed), with the normals of
// NormalCursor::fill alone on one thread for scale. Median of 31 calls each, in ms.
// A diagnostic for the analysis in bench/RESULTS.md §7, not a benchmark of record.
//
// Build and run from the repository root (one command):
//   g++ -std=c++17 -O3 -Wno-psabi -fno-math-errno -ffp-contract=off -Inative/core bench/step-core.cc
//   native/core/particles.cc native/core/normals.cc native/core/weights.cc native/core/resampling.cc
//   native/core/worker_pool.cc native/core/smc_step.cc -o bench/out/step-core -lpthread
//   && bench/out/step-core 80 16 4000 2      (D particles runs threads)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "normals.h"
#include "particles.h"
#include "smc_step.h"

using namespace condiff;

namespace {

template <typename F>
double median_ms(F&& f) {
  std::vector<double> t;
  for (int i = 0; i < 31; ++i) {
    const auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[15];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: step-core D particles runs threads\n");
    return 2;
  }
  const int64_t D = std::atoll(argv[1]), n = std::atoll(argv[2]), runs = std::atoll(argv[3]);
  const Threads threads(std::atoi(argv[4]), std::make_shared<WorkerPool>());
  std::vector<int32_t> latent, observed;
  for (int32_t j = 0; j < D; ++j) (j < D / 4 ? observed : latent).push_back(j);
  const Coordinates c{latent.data(), static_cast<int64_t>(latent.size()), observed.data(),
                      static_cast<int64_t>(observed.size())};
  const Batch b{runs, n, D, 0};
  const int64_t rows = runs * n, elems = rows * D;
  std::vector<float> y(runs * observed.size(), 0.3f), z(elems), g(elems), mu(elems);
  StreamKey s{5, 0, 0, 1, purpose_word(Purpose::kInitial)};
  init_state(b, c, y.data(), s, z.data(), threads);
  for (int64_t i = 0; i < elems; ++i) g[i] = -0.5f * z[i];
  std::vector<double> lw(rows, -std::log(double(n))), inc(rows), ev(runs), ess(runs);
  std::vector<uint8_t> flags(runs);
  std::vector<uint64_t> cdf(rows);
  std::vector<int32_t> anc(rows);
  StreamKey rs = s, ks = s;
  rs.purpose = purpose_word(Purpose::kResampling);
  ks.purpose = purpose_word(Purpose::kKernelNoise);
  const BootstrapParams p{0.98, 0.02, 0.4, 1.0, ResamplingScheme::kSystematic, rs, 0.1, ks};
  const BootstrapArrays x{z.data(),  g.data(),   mu.data(),    y.data(),   lw.data(), inc.data(),
                          ev.data(), ess.data(), flags.data(), cdf.data(), anc.data()};
  const double step = median_ms([&] { bootstrap_step(b, c, x, p, threads); });
  const double mean = median_ms([&] { kernel_mean_batch(z.data(), g.data(), elems, 0.98, 0.02, mu.data(), threads); });
  const double weights = median_ms([&] { gaussian_y_log_weights(b, c, mu.data(), y.data(), 0.4, inc.data(), threads); });
  const double reweight = median_ms(
      [&] { reweight_batch(b, lw.data(), inc.data(), 1.0, ev.data(), ess.data(), flags.data(), threads); });
  const double resample =
      median_ms([&] { resample_batch(b, p.scheme, flags.data(), rs, lw.data(), cdf.data(), anc.data(), threads); });
  const double move =
      median_ms([&] { propagate(b, c, mu.data(), anc.data(), 0.1, y.data(), ks, z.data(), threads); });
  std::vector<float> xi(elems);
  const double normals = median_ms([&] { NormalCursor(ks).fill(0, static_cast<uint64_t>(elems), xi.data()); });
  std::printf("D = %lld, %lld particles x %lld runs, %d threads (ms): bootstrap_step %.3f | kernel mean %.3f, weights %.3f, "
              "reweight %.3f, resample %.3f, propagate %.3f (sum %.3f) | %lld normals on one thread %.3f (%.2f ns each)\n",
              (long long)D, (long long)n, (long long)runs, threads.count, step, mean, weights, reweight, resample, move,
              mean + weights + reweight + resample + move, (long long)elems, normals, 1e6 * normals / double(elems));
  return 0;
}
