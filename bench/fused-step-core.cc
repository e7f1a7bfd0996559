// The fused steps with the built-in mixture scoring the rows themselves, without Node: smc's
// bootstrap_step or replacement's move_step (smc_step.h) on `runs` runs of `particles`
// particles in D dimensions, J = 25 identity covariances (the means of bench/common.ts
// identityProblem), the first `observed` coordinates observed (D/4 by default), OU levels
// from t = 5 to 0. Prints the median step in ms. A diagnostic for the A/Bs of
// bench/RESULTS.md §7 (build it at two revisions and alternate the binaries), and the core's
// side of bench/core-ceiling.ts, which builds and runs it beside the peers.
// `free` as the seventh argument replaces the score by one that writes zeros: the step with
// the score costing nothing, a bound on what any faster score could give. JSON=1 prints one
// JSON line ({ rate, msPerStep, cpuSeconds }) instead of the sentence.
//
// Build and run from the repository root:
//   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench --target condiff_core
//   g++ -std=c++17 -O2 -Inative/core bench/fused-step-core.cc build-bench/libcondiff_core.a -lpthread -o bench/out/fused-step-core
//   bench/out/fused-step-core 80 16 4000 40 smc 20     (D particles runs steps smc|move observed [free]; THREADS=2)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "mixture.h"
#include "smc_step.h"

using namespace condiff;

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: fused-step-core D particles runs steps [smc|move] [observed] [mixture|free]\n");
    return 2;
  }
  const int64_t d = std::atoi(argv[1]), particles = std::atoi(argv[2]), runs = std::atoi(argv[3]), steps = std::atoi(argv[4]);
  const bool move = argc > 5 && std::string(argv[5]) == "move";
  const int64_t n_obs = argc > 6 ? std::atoi(argv[6]) : d / 4;
  const bool free_score = argc > 7 && std::string(argv[7]) == "free";
  const bool json = std::getenv("JSON") != nullptr && std::string(std::getenv("JSON")) == "1";
  const int threads = std::getenv("THREADS") ? std::atoi(std::getenv("THREADS")) : 2;
  const int64_t jn = 25, rows = particles * runs;
  std::vector<double> w(jn, 1.0 / jn), m(jn * d), variances(jn * d, 1.0);
  for (int64_t j = 0; j < jn; ++j)
    for (int64_t k = 0; k < d; ++k) m[j * d + k] = 8.0 * ((k % 2 == 0 ? j / 5 : j % 5) - 2);
  std::string err;
  const auto model = GaussianMixture::create(d, jn, w.data(), m.data(), variances.data(), true, &err);
  if (!model) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  std::vector<int32_t> latent, observed;
  for (int32_t x = 0; x < d; ++x) (x < n_obs ? observed : latent).push_back(x);
  const Coordinates c{latent.data(), static_cast<int64_t>(latent.size()), observed.data(), n_obs};
  const Batch b{runs, particles, d, 0};
  std::vector<float> z(rows * d), mu(rows * d), y(runs * n_obs);
  for (size_t i = 0; i < z.size(); ++i) z[i] = static_cast<float>(3.0 * std::sin(0.37 * static_cast<double>(i)));
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<float>(std::cos(0.11 * static_cast<double>(i)));
  std::vector<double> log_w(rows, -std::log(static_cast<double>(particles))), inc(rows), ev(runs), ess(runs);
  std::vector<uint8_t> flags(runs);
  std::vector<uint64_t> cdf(rows);
  std::vector<int32_t> anc(rows);
  const Threads th(threads, std::make_shared<WorkerPool>());
  std::vector<double> ms;
  for (int64_t s = 0; s < steps; ++s) {
    const double t = 5.0 * static_cast<double>(steps - s) / static_cast<double>(steps);
    const PreparedScore prepared = model->prepare_score(std::exp(-t), 1.0 - std::exp(-2.0 * t), th);
    const GaussianMixture* gm = model.get();
    const PreparedScore* q = &prepared;
    RowScore score;
    if (free_score) {
      const int64_t width = d;
      score.rows = [width](const float*, int64_t n, float* out, float*) -> int64_t {
        std::fill(out, out + n * width, 0.0f);
        return -1;  // all finite
      };
    } else {
      score.rows = [gm, q](const float* zz, int64_t n, float* out, float* scratch) { return gm->score_rows(*q, zz, n, out, scratch); };
    }
    score.scratch_floats = prepared.scratch_floats;
    const StreamKey noise{1, 0, 0, static_cast<uint32_t>(s), purpose_word(Purpose::kKernelNoise)};
    const StreamKey resampling{1, 0, 0, static_cast<uint32_t>(s), purpose_word(Purpose::kResampling)};
    const auto start = std::chrono::steady_clock::now();
    StepResult r;
    if (move) {
      r = move_step(b, c, {z.data(), nullptr, mu.data(), y.data()}, {0.99, 0.01, 0.1, noise, &score}, th);
    } else {
      const BootstrapArrays x{z.data(),   nullptr,    mu.data(),    y.data(),   log_w.data(), inc.data(),
                              ev.data(),  ess.data(), flags.data(), cdf.data(), anc.data()};
      r = bootstrap_step(b, c, x, {0.99, 0.01, 1.0, 1.0, ResamplingScheme::kSystematic, resampling, 0.1, noise, &score}, th);
    }
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    if (r.status != StepStatus::kOk) {
      std::fprintf(stderr, "step %lld: status %d\n", static_cast<long long>(s), static_cast<int>(r.status));
      return 1;
    }
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  if (json) {
    // cpuSeconds: the process's own CPU time (bench/common.ts tells it from other processes').
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                       1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    std::printf("{\"rate\": %.6g, \"msPerStep\": %.6g, \"cpuSeconds\": %.6g}\n", static_cast<double>(rows) / median * 1e3, median, cpu);
    return 0;
  }
  std::printf("%s D=%lld, %lld x %lld, %lld observed, %d threads: median %.3f ms per step, %.2fM particle-steps/s\n",
              move ? "move" : "smc", static_cast<long long>(d), static_cast<long long>(particles),
              static_cast<long long>(runs), static_cast<long long>(n_obs), threads, median,
              static_cast<double>(rows) / median / 1e3);
  return 0;
}
