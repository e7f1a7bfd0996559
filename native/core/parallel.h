// Parallel loops over an index range. Every routine run through here is elementwise or
// writes disjoint outputs, so the result never depends on the thread count or on which
// worker ran which chunk. Reductions are never split here:
// callers reduce per run, in a fixed order (MATH.md §6, reproducibility).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <system_error>
#include <thread>
#include <vector>

#include "worker_pool.h"

namespace condiff {

// Calls body(begin, end, worker) over consecutive chunks of [0, n) that cover it exactly
// once. Below `grain` items per worker it runs inline (waking a worker costs ~10–40 µs).
// Otherwise up to `threads.count` workers take chunks (about eight per worker) from a
// shared counter: a worker on a busy core simply takes fewer. Which worker runs a chunk
// never changes what the chunk computes, because bodies are elementwise or per run.
// Workers come from threads.pool when it is free (worker_pool.h), else are started here;
// when the system refuses to start one, the loop runs on the workers it has (never an abort).
template <typename Body>
void parallel_for(int64_t n, const Threads& threads, int64_t grain, Body&& body) {
  if (n <= 0) return;
  const int64_t max_workers = std::max<int64_t>(1, n / std::max<int64_t>(1, grain));
  const int workers = static_cast<int>(std::min<int64_t>(std::max(1, threads.count), max_workers));
  if (workers == 1) {
    body(int64_t{0}, n, 0);
    return;
  }
  const int64_t chunk = std::max<int64_t>(1, (n + 8 * workers - 1) / (8 * workers));
  std::atomic<int64_t> next{0};
  std::vector<std::exception_ptr> errors(workers);
  const std::function<void(int)> work = [&](int w) {
    try {
      for (;;) {
        const int64_t b = next.fetch_add(chunk);
        if (b >= n) break;
        body(b, std::min(n, b + chunk), w);
      }
    } catch (...) {
      errors[w] = std::current_exception();
      next.store(n);  // stop handing out chunks
    }
  };
  if (!threads.pool || !threads.pool->try_run(workers, work, threads.start_limit)) {
    std::vector<std::thread> started;
    started.reserve(workers - 1);  // before any thread starts: a bad_alloc here leaves none running
    for (int w = 1; w < workers; ++w) {
      if (threads.start_limit >= 0 && static_cast<int>(started.size()) >= threads.start_limit) break;
      try {
        started.emplace_back(work, w);
      } catch (const std::system_error&) {
        // The system refused a thread (a pids or thread limit): go on with those started.
        // Chunks come from a shared counter, so fewer workers still cover [0, n), and an
        // exception here must not unwind `started` while its threads are joinable.
        break;
      }
    }
    work(0);
    for (auto& t : started) t.join();
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace condiff
