#include "worker_pool.h"

#include <chrono>
#include <initializer_list>
#include <new>
#include <system_error>

#if defined(__linux__)
#include <sched.h>
#endif

namespace condiff {

namespace {
// How long a worker keeps polling after a task before it sleeps: longer than the gap
// between two operations of a sampler step (a Promise round trip, ~20–50 µs), short
// enough not to matter when the process goes idle.
constexpr auto kPollFor = std::chrono::microseconds(300);

// How many CPUs the calling thread may run on; 0 when not known.
int allowed_cpus() {
#if defined(__linux__)
  cpu_set_t all;
  return sched_getaffinity(0, sizeof all, &all) == 0 ? CPU_COUNT(&all) : 0;
#else
  return 0;
#endif
}

}  // namespace

int current_cpu() {
#if defined(__linux__)
  return sched_getcpu() + 1;
#else
  return 0;
#endif
}

int step_aside(std::initializer_list<int> avoid) {
#if defined(__linux__)
  cpu_set_t all;
  if (sched_getaffinity(0, sizeof all, &all) != 0) return current_cpu();
  cpu_set_t other = all;
  for (int c : avoid)
    if (c > 0 && c - 1 < CPU_SETSIZE) CPU_CLR(c - 1, &other);
  if (CPU_COUNT(&other) == 0) return current_cpu();
  if (sched_setaffinity(0, sizeof other, &other) == 0) sched_setaffinity(0, sizeof all, &all);
#else
  (void)avoid;
#endif
  return current_cpu();
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::grow(int threads, int start_limit) {
  for (int started = 0; static_cast<int>(threads_.size()) < threads; ++started) {
    if (start_limit >= 0 && started >= start_limit)
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again), "thread start limit");
    const int index = static_cast<int>(threads_.size()) + 1;
    // The generation before this task's bump: a thread that read it later would skip its task.
    const uint64_t seen = generation_.load(std::memory_order_relaxed);
    threads_.emplace_back([this, index, seen] { loop(index, seen); });
  }
}

bool WorkerPool::try_run(int workers, const std::function<void(int)>& task, int start_limit) {
  if (workers < 1 || workers - 1 > kMaxThreads) return false;
  bool idle = false;
  if (!busy_.compare_exchange_strong(idle, true, std::memory_order_acquire)) return false;
  struct Release {
    std::atomic<bool>& flag;
    ~Release() { flag.store(false, std::memory_order_release); }
  } release{busy_};
  try {
    grow(workers - 1, start_limit);
  } catch (const std::system_error&) {
    return false;  // the system refused a thread: the threads started so far stay for later tasks
  } catch (const std::bad_alloc&) {
    return false;  // no room to record one: likewise
  }
  // Not on a CPU where a worker of this task polls (worker_pool.h); published before the
  // workers look, so that one woken onto this CPU can move off it. With more threads than
  // CPUs some must share one: then nobody moves (caller_cpu_ 0).
  if (allowed_cpus_ < 0) allowed_cpus_ = allowed_cpus();
  int me = workers <= allowed_cpus_ ? current_cpu() : 0;
  if (me != 0) {
    for (int w = 1; w < workers; ++w) {
      if (polling_cpu_[w].load(std::memory_order_relaxed) == me) {
        me = step_aside({me});
        break;
      }
    }
  }
  caller_cpu_.store(me, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    active_ = workers - 1;
    pending_ = workers - 1;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  task(0);
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return pending_ == 0; });
  task_ = nullptr;
  return true;
}

void WorkerPool::loop(int index, uint64_t seen) {
  for (;;) {
    const auto polled_since = std::chrono::steady_clock::now();
    while (generation_.load(std::memory_order_acquire) == seen &&
           std::chrono::steady_clock::now() - polled_since < kPollFor) {
      polling_cpu_[index].store(current_cpu(), std::memory_order_relaxed);
      std::this_thread::yield();  // gives the CPU to any runnable thread, e.g. the event loop
    }
    polling_cpu_[index].store(0, std::memory_order_relaxed);  // may sleep: where it wakes is not known
    const std::function<void(int)>* task = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_relaxed) != seen; });
      if (stop_) return;
      seen = generation_.load(std::memory_order_relaxed);
      if (index <= active_) task = task_;
    }
    if (task == nullptr) continue;  // not needed for this task
    // Woken (or left polling) on the caller's CPU: move off it (worker_pool.h).
    const int me = current_cpu();
    if (me != 0 && me == caller_cpu_.load(std::memory_order_relaxed)) step_aside({me});
    (*task)(index);
    std::lock_guard<std::mutex> lock(mutex_);
    if (--pending_ == 0) done_.notify_one();
  }
}

}  // namespace condiff
