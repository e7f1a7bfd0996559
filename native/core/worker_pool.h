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
//
// Two threads of one task on one CPU: under Node a task's caller is a libuv thread, woken
// while the JavaScript thread still holds one CPU, and the scheduler may place it on the
// CPU where a worker polls (or wake a sleeping worker onto the caller's CPU). The two then
// share that CPU while the other goes idle, and the load balancer leaves "cache-hot"
// threads where they are: measured on this project's 2-vCPU VM, 5–15% of a D = 80 filter
// call's steps took twice the median, the worker starting 1.5–4 ms late on the caller's CPU.
// So the caller, at a task's start, and each worker, at its start, step aside to another
// CPU when they find themselves on one that the task's other thread is using (Linux:
// narrow the thread's affinity to the other CPUs, then restore it; the thread stays where
// the kernel moved it). Elsewhere nothing is done.
#pragma once
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace condiff {

// The CPU the calling thread runs on, + 1; 0 when not known (not Linux).
int current_cpu();

// Moves the calling thread to a CPU of its affinity set other than those in `avoid` (CPUs
// + 1; 0 entries ignored) when it has one, then gives the set back: the thread stays where
// the kernel moved it. Answers current_cpu() afterwards. Failures, and other systems, leave
// the thread where it was.
int step_aside(std::initializer_list<int> avoid);

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
  // CPU + 1 that the current task's caller runs on, and that each polling worker (index 1..)
  // last ran on; 0 when not known (a worker asleep). Hints only: read without the lock.
  std::atomic<int> caller_cpu_{0};
  int allowed_cpus_ = -1;  // how many CPUs the first caller could run on (-1: not yet asked)
  std::array<std::atomic<int>, kMaxThreads + 1> polling_cpu_{};
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
