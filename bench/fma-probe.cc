// The machine's float32 fused multiply-add peak, the yardstick for the
// mixture score's FLOP rate. Each thread runs independent accumulator chains, enough of
// them to hide FMA latency on every FMA port (12 chains: latency 4 x 2 ports = 8 on
// current x86 cores, with room), for the widest instruction set the CPU supports, picked
// at run time with __builtin_cpu_supports as condiff's dispatcher does. One FMA is 2
// FLOPs per lane; the portable path has no FMA and counts a multiply and an add as 2.
//
// --operand broadcast: instead, the inner loop of the structured score kernels
// (native/core/mixture_structured_kernels.inc, gemv_block): per iteration one vector load
// and eight multiply-adds whose other factor is a float broadcast from memory, into eight
// accumulators (AVX-512 only). Its rate is the ceiling of those kernels' matrix products on
// this core, which the peak above may not be: the broadcast loads share the load ports.
//
// Build: g++ -O2 -std=c++17 -pthread bench/fma-probe.cc -o bench/out/fma-probe
// Run:   bench/out/fma-probe [--isa avx512f|avx2|default] [--threads T] [--seconds S]
//        [--operand register|broadcast]
// Prints one JSON line: {"isa":..,"operand":..,"threads":..,"gflops":..,"seconds":..,"cpuSeconds":..}
// (cpuSeconds: the process's own CPU time, which the bench scripts compare with the
// machine's to see whether other processes ran meanwhile).
#include <immintrin.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kChains = 12;

// Each returns the sum of its accumulators, so the loop cannot be removed. Every chain
// computes acc = acc * a + b with a < 1: bounded, never denormal, never infinite.

__attribute__((target("avx512f"))) float chains_avx512(int64_t iterations) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(1.0f + 0.001f * c);
  const __m512 a = _mm512_set1_ps(0.9999f), b = _mm512_set1_ps(0.0001f);
  for (int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  float lanes[16], sum = 0.0f;
  for (int c = 0; c < kChains; ++c) {
    _mm512_storeu_ps(lanes, acc[c]);
    for (float x : lanes) sum += x;
  }
  return sum;
}

// Eight accumulators, as the kernels' register blocks (kGroup); x and the broadcast
// operands cycle through 4 KB, in L1. Each chain adds about 2^-13 per iteration from 1:
// bounded for any run this probe makes, never denormal.
constexpr int kBroadcastChains = 8;
__attribute__((target("avx512f"))) float broadcast_avx512(int64_t iterations) {
  alignas(64) float x[32 * 16], a[32 * kBroadcastChains];
  for (int i = 0; i < 32 * 16; ++i) x[i] = 1.0f / 64 + (i % 7) / 4096.0f;
  for (int i = 0; i < 32 * kBroadcastChains; ++i) a[i] = 1.0f / 128 + (i % 5) / 8192.0f;
  __m512 acc[kBroadcastChains];
  for (int c = 0; c < kBroadcastChains; ++c) acc[c] = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < iterations; ++i) {
    const int64_t r = i & 31;
    const __m512 xi = _mm512_load_ps(x + r * 16);
#pragma GCC unroll 8
    for (int c = 0; c < kBroadcastChains; ++c)
      acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(a[r * kBroadcastChains + c]), xi, acc[c]);
  }
  float lanes[16], sum = 0.0f;
  for (int c = 0; c < kBroadcastChains; ++c) {
    _mm512_storeu_ps(lanes, acc[c]);
    for (float v : lanes) sum += v;
  }
  return sum;
}

__attribute__((target("avx2,fma"))) float chains_avx2(int64_t iterations) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(1.0f + 0.001f * c);
  const __m256 a = _mm256_set1_ps(0.9999f), b = _mm256_set1_ps(0.0001f);
  for (int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  float lanes[8], sum = 0.0f;
  for (int c = 0; c < kChains; ++c) {
    _mm256_storeu_ps(lanes, acc[c]);
    for (float x : lanes) sum += x;
  }
  return sum;
}

// x86-64 baseline (SSE2): a multiply and an add per lane instead of an FMA.
float chains_default(int64_t iterations) {
  __m128 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm_set1_ps(1.0f + 0.001f * c);
  const __m128 a = _mm_set1_ps(0.9999f), b = _mm_set1_ps(0.0001f);
  for (int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = _mm_add_ps(_mm_mul_ps(acc[c], a), b);
  float lanes[4], sum = 0.0f;
  for (int c = 0; c < kChains; ++c) {
    _mm_storeu_ps(lanes, acc[c]);
    for (float x : lanes) sum += x;
  }
  return sum;
}

struct Isa {
  const char* name;
  int lanes;
  int chains;
  float (*run)(int64_t);
};

const Isa kIsas[] = {{"avx512f", 16, kChains, chains_avx512}, {"avx2", 8, kChains, chains_avx2}, {"default", 4, kChains, chains_default}};
const Isa kBroadcast = {"avx512f", 16, kBroadcastChains, broadcast_avx512};

bool supported(const std::string& name) {
  __builtin_cpu_init();
  if (name == "avx512f") return __builtin_cpu_supports("avx512f");
  if (name == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return name == "default";
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Runs `threads` copies of the kernel at once; returns the wall time.
double run_threads(const Isa& isa, int threads, int64_t iterations, volatile float* sink) {
  std::vector<std::thread> pool;
  std::vector<float> sums(threads);
  const double t0 = now();
  for (int w = 0; w < threads; ++w) pool.emplace_back([&, w] { sums[w] = isa.run(iterations); });
  for (auto& t : pool) t.join();
  const double elapsed = now() - t0;
  for (float s : sums) *sink += s;
  return elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  std::string want = "best", operand = "register";
  int threads = 1;
  double seconds = 0.5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--isa")) want = argv[i + 1];
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--operand")) operand = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  const Isa* isa = nullptr;
  for (const Isa& candidate : kIsas)
    if ((want == "best" || want == candidate.name) && supported(candidate.name)) {
      isa = &candidate;
      break;
    }
  if (operand != "register" && operand != "broadcast") {
    std::fprintf(stderr, "--operand must be register or broadcast, got %s\n", operand.c_str());
    return 2;
  }
  if (operand == "broadcast") isa = isa != nullptr && !std::strcmp(isa->name, "avx512f") ? &kBroadcast : nullptr;
  if (isa == nullptr || threads < 1) {
    std::fprintf(stderr, "instruction set %s is not supported here with --operand %s (or bad --threads)\n", want.c_str(),
                 operand.c_str());
    return 2;
  }
  volatile float sink = 0.0f;
  // Calibrate on one thread (also warms the core's clock), then size the run to `seconds`.
  int64_t iterations = 1 << 16;
  double elapsed = run_threads(*isa, 1, iterations, &sink);
  while (elapsed < 0.05) {
    iterations *= 2;
    elapsed = run_threads(*isa, 1, iterations, &sink);
  }
  iterations = static_cast<int64_t>(iterations * seconds / elapsed);
  elapsed = run_threads(*isa, threads, iterations, &sink);
  const double flops = 2.0 * isa->chains * isa->lanes * static_cast<double>(iterations) * threads;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double cpu = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + 1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  std::printf("{\"isa\":\"%s\",\"operand\":\"%s\",\"threads\":%d,\"gflops\":%.3f,\"seconds\":%.3f,\"cpuSeconds\":%.3f,\"sink\":%g}\n", isa->name,
              operand.c_str(), threads, flops / elapsed / 1e9, elapsed, cpu, static_cast<double>(sink));
  return 0;
}
