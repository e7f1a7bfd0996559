// Fixed-partition parallel loops. Work is split into contiguous chunks of the index
// range; every routine run through here is elementwise or writes disjoint outputs, so
// the result never depends on the thread count. Reductions are never split here:
// callers reduce per run, in a fixed order (MATH.md §6, reproducibility).
#pragma once
#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace condiff {

// Calls body(begin, end, worker) on `threads` contiguous chunks of [0, n).
// Below `grain` items per worker it runs inline (thread start costs ~20 µs).
template <typename Body>
void parallel_for(int64_t n, int threads, int64_t grain, Body&& body) {
  if (n <= 0) return;
  const int64_t max_workers = std::max<int64_t>(1, n / std::max<int64_t>(1, grain));
  const int workers = static_cast<int>(std::min<int64_t>(std::max(1, threads), max_workers));
  if (workers == 1) {
    body(int64_t{0}, n, 0);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(workers);
  pool.reserve(workers - 1);
  const int64_t chunk = (n + workers - 1) / workers;
  for (int w = 1; w < workers; ++w) {
    const int64_t b = std::min(n, w * chunk), e = std::min(n, b + chunk);
    pool.emplace_back([&, b, e, w] {
      try {
        body(b, e, w);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  }
  try {
    body(int64_t{0}, std::min(n, chunk), 0);
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace condiff
