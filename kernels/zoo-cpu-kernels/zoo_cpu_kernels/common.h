// What the FFI kernels share: vectors of V floats with unaligned loads and stores, and the split of a
// kernel's work items over XLA's intra-op thread pool.

#ifndef ZOO_CPU_KERNELS_COMMON_H_
#define ZOO_CPU_KERNELS_COMMON_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>

#include "xla/ffi/api/ffi.h"

namespace zoo {

// A vector of V floats (GCC vector extension; the target decides the instructions).
template <int V>
struct Vec {
  typedef float type __attribute__((vector_size(V * sizeof(float))));
};

template <int V>
__attribute__((always_inline)) inline typename Vec<V>::type load(const float* p) {
  typename Vec<V>::type v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <int V>
__attribute__((always_inline)) inline void store(float* p, typename Vec<V>::type v) {
  std::memcpy(p, &v, sizeof(v));
}

// Runs `fn(first, last)` over the items [0, total) in contiguous ranges: as many ranges as the pool
// has threads (at most `max_threads` when it is positive, at most `total`), or one range on the
// calling thread when the work (`flops`, multiply-adds) is under ~2 MFLOP, where a hand-off costs more
// than it saves. Ranges are claimed from a shared counter by the calling thread and by the tasks it
// schedules, and the caller only waits for ranges another thread has claimed, i.e. is running: when
// every pool thread is busy (two devices' FFI calls sharing one pool, each waiting on the other's
// queue), the caller computes every range itself instead of waiting for tasks that cannot start.
// A task that starts after the caller has returned finds no range left and touches only the
// shared counters it holds.
template <typename Fn>
inline void parallel_ranges(xla::ffi::ThreadPool& pool, int64_t total, int64_t flops, int64_t max_threads,
                            const Fn& fn) {
  int64_t threads = std::max<int64_t>(1, pool.num_threads());
  if (max_threads > 0) threads = std::min(threads, max_threads);
  const int64_t tasks = flops < (1 << 20) ? 1 : std::min<int64_t>(total, threads);
  if (tasks <= 1) {
    fn(int64_t{0}, total);
    return;
  }
  struct Counters {
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
  };
  auto counters = std::make_shared<Counters>();
  const Fn* body = &fn;
  auto work = [counters, body, total, tasks] {
    for (int64_t t; (t = counters->next.fetch_add(1, std::memory_order_relaxed)) < tasks;) {
      (*body)(total * t / tasks, total * (t + 1) / tasks);
      counters->done.fetch_add(1, std::memory_order_release);
    }
  };
  for (int64_t t = 1; t < tasks; ++t) pool.Schedule(decltype(work)(work));  // a copy: Schedule takes an rvalue
  work();
  while (counters->done.load(std::memory_order_acquire) < tasks) std::this_thread::yield();
}

}  // namespace zoo

#endif  // ZOO_CPU_KERNELS_COMMON_H_
