// Persistent worker threads for parallel_for (parallel.h).
//
// Why not a thread per call: on this project's 2-vCPU KVM machine a freshly created thread
// was measured starting up to 3.8 ms late, or sharing its parent's CPU for several
// milliseconds, so a 4 ms score call ran no faster on two threads than on one. A thread
// woken from a condition variable is placed on an idle CPU at once; after a task a worker
// also keeps polling (yielding) for a short while, because a sampler's next operation
// follows within tens of microseconds.
//
// A pool has no global state: the N-API binding owns one per addon instance and hands it
// to core calls inside `Threads`. One task runs at a time; a caller that finds the pool
// busy (another async job, or a nested parallel_for) gets `false` and runs its own threads.
// Which thread runs a chunk never changes a result (parallel.h), so that choice is free.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace condiff {

class WorkerPool {
 public:
  WorkerPool() = default;
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs task(w) for w = 0 .. workers-1, w = 0 on the calling thread, and returns once all
  // have returned. Returns false without running anything when the pool is busy, when
  // `workers` exceeds kMaxThreads + 1, or when the threads it lacks cannot be started (the
  // system refused one, or `start_limit` >= 0 threads were started by this call: Threads).
  // Exceptions thrown by task must be caught by it.
  bool try_run(int workers, const std::function<void(int)>& task, int start_limit = -1);

  // Pool threads beyond this are not kept; larger requests start their own threads.
  static constexpr int kMaxThreads = 255;

 private:
  void loop(int index, uint64_t seen);
  void grow(int threads, int start_limit);  // by the caller that holds busy_; throws when refused

  // Set by the one caller whose task is in flight. An atomic flag, not a mutex: a nested
  // parallel_for on that same thread must see "busy" (try_lock on a mutex one already
  // holds is undefined behaviour).
  std::atomic<bool> busy_{false};
  std::mutex mutex_;      // guards the fields below
  std::condition_variable wake_, done_;
  const std::function<void(int)>* task_ = nullptr;
  int active_ = 0;   // pool threads taking part in the current task (indices 1..active_)
  int pending_ = 0;  // of those, how many have not finished
  bool stop_ = false;
  std::atomic<uint64_t> generation_{0};  // bumped per task; polled without the lock
  std::vector<std::thread> threads_;
};

// What a core call may use: up to `count` threads, from `pool` when one is given.
// Implicit from int so that plain C++ callers (and the tests) can pass a count.
struct Threads {
  int count = 1;
  std::shared_ptr<WorkerPool> pool;
  // For tests of the fallback paths: thread starts allowed in one call before the next is
  // refused as the system would refuse it (-1: no limit of our own).
  int start_limit = -1;
  Threads() = default;
  Threads(int n) : count(n) {}  // NOLINT(google-explicit-constructor): a count is a Threads
  Threads(int n, std::shared_ptr<WorkerPool> p) : count(n), pool(std::move(p)) {}
};

}  // namespace condiff
