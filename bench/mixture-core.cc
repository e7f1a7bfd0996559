// The mixture score's kernels without Node (MATH.md §7, native/core/mixture_structured.h):
// time per call and GFLOP/s of each structured path beside the general (dense) kernel on
// the same model, J = 25 components, at D = 8, 64, 80 and 800. GFLOP/s counts each
// kernel's own multiply-adds (GaussianMixture::multiply_adds_per_row) as 2 FLOPs; the
// exponentials, the transposes and the per-call preparation are not counted but are
// timed. Median of 7 calls after a warm-up. A diagnostic for bench/RESULTS.md (compare
// with bench/fma-probe.ts's peak on the same thread count), not a benchmark of record.
//
// Build and run from the repository root (one command):
//   g++ -std=c++17 -O3 -Wno-psabi -fno-math-errno -Inative/core bench/mixture-core.cc
//   native/core/mixture.cc native/core/mixture_score.cc native/core/mixture_structure.cc
//   native/core/mixture_structured.cc native/core/linalg.cc native/core/normals.cc
//   native/core/worker_pool.cc native/core/finite.cc -o bench/out/mixture-core -lpthread &&
//   bench/out/mixture-core [threads] [rows]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "mixture.h"
#include "worker_pool.h"

using namespace condiff;

namespace {

enum class Kind { kIdentity, kIsotropic, kDiagonal, kSharedDiagonal, kSharedDense, kDense };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kIdentity: return "identity (full matrices)";
    case Kind::kIsotropic: return "s_j I";
    case Kind::kDiagonal: return "diagonal";
    case Kind::kSharedDiagonal: return "shared diagonal";
    case Kind::kSharedDense: return "shared dense";
    default: return "dense";
  }
}

// J components in D dimensions: means ~ N(0, 4 I), covariances of the kind asked for,
// always given as full J x D x D matrices.
std::unique_ptr<GaussianMixture> model(Kind kind, int64_t d, int64_t jn, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.5, 2.0);
  std::vector<double> w(jn, 1.0), m(jn * d), c(jn * d * d, 0.0), shared(d * d, 0.0), b(d * d);
  for (double& x : m) x = 2.0 * normal(rng);
  auto dense = [&](double* out) {
    for (double& x : b) x = normal(rng);
    for (int64_t i = 0; i < d; ++i)
      for (int64_t k = 0; k < d; ++k) {
        double s = 0.0;
        for (int64_t l = 0; l < d; ++l) s += b[i * d + l] * b[k * d + l];
        out[i * d + k] = s / static_cast<double>(d) + (i == k ? 0.5 : 0.0);
      }
  };
  if (kind == Kind::kSharedDense) dense(shared.data());
  for (int64_t i = 0; i < d; ++i) shared[i * d + i] = kind == Kind::kSharedDiagonal ? uniform(rng) : shared[i * d + i];
  for (int64_t j = 0; j < jn; ++j) {
    double* cj = c.data() + j * d * d;
    const double s = uniform(rng);
    for (int64_t i = 0; i < d; ++i) {
      if (kind == Kind::kIdentity) cj[i * d + i] = 1.0;
      if (kind == Kind::kIsotropic) cj[i * d + i] = s;
      if (kind == Kind::kDiagonal) cj[i * d + i] = uniform(rng);
    }
    if (kind == Kind::kSharedDiagonal || kind == Kind::kSharedDense) std::copy(shared.begin(), shared.end(), cj);
    if (kind == Kind::kDense) dense(cj);
  }
  std::string error;
  auto gm = GaussianMixture::create(d, jn, w.data(), m.data(), c.data(), false, &error);
  if (!gm) {
    std::fprintf(stderr, "model: %s\n", error.c_str());
    std::exit(1);
  }
  return gm;
}

template <typename F>
double median_seconds(F&& f) {
  f();
  std::vector<double> t;
  for (int r = 0; r < 7; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const int64_t rows_arg = argc > 2 ? std::atoll(argv[2]) : 0;
  const int64_t jn = 25;
  auto pool = std::make_shared<WorkerPool>();
  std::mt19937_64 rng(7);
  std::printf("| D | covariances | path | rows | structured ms | GFLOP/s | general ms | GFLOP/s | speed-up |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (int64_t d : {8, 64, 80, 800}) {
    for (Kind kind : {Kind::kIdentity, Kind::kIsotropic, Kind::kDiagonal, Kind::kSharedDiagonal, Kind::kSharedDense, Kind::kDense}) {
      if (d == 800 && (kind == Kind::kDense || kind == Kind::kSharedDense)) continue;  // minutes of Jacobi sweeps
      auto gm = model(kind, d, jn, rng);
      const int64_t rows = rows_arg > 0 ? rows_arg : std::max<int64_t>(1024, (int64_t{1} << 27) / (jn * d * 4 * 8));
      std::normal_distribution<float> normal;
      std::vector<float> z(rows * d), out(rows * d);
      for (float& x : z) x = 2.0f * normal(rng);
      const Threads th{threads, pool};
      const double alpha = 0.8, sigma2 = 0.36;
      const double ts = median_seconds([&] { gm->score(z.data(), rows, alpha, sigma2, out.data(), th); });
      const bool general = kind == Kind::kDense || d <= 80;
      const double tg = general ? median_seconds([&] { gm->score(z.data(), rows, alpha, sigma2, out.data(), th, ScoreKernel::kGeneral); }) : 0.0;
      const double fs = 2.0 * static_cast<double>(rows) * static_cast<double>(gm->multiply_adds_per_row()) / ts / 1e9;
      const double fg = 2.0 * static_cast<double>(rows) * static_cast<double>(gm->multiply_adds_per_row(ScoreKernel::kGeneral)) / tg / 1e9;
      std::printf("| %lld | %s | %s | %lld | %.3f | %.1f | %s | %s | %s |\n", static_cast<long long>(d), kind_name(kind),
                  score_path_name(gm->path()), static_cast<long long>(rows), ts * 1e3, fs,
                  general ? std::to_string(tg * 1e3).c_str() : "-", general ? std::to_string(fg).c_str() : "-",
                  general ? std::to_string(tg / ts).c_str() : "-");
      std::fflush(stdout);
    }
  }
  return 0;
}
