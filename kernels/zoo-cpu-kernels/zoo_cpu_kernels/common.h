// What the FFI kernels share: vectors of V floats with unaligned loads and stores, and the split of a
// kernel's work items over XLA's intra-op thread pool.

#ifndef ZOO_CPU_KERNELS_COMMON_H_
#define ZOO_CPU_KERNELS_COMMON_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
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

// Runs `fn(first, last)` over the items [0, total) in contiguous ranges, one per task: as many tasks
// as the pool has threads (at most `max_threads` when it is positive, at most `total`), or one task
// on the calling thread when the work (`flops`, multiply-adds) is under ~2 MFLOP, where a hand-off
// costs more than it saves. The calling thread runs the first range and waits for the others.
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
  std::atomic<int64_t> pending(tasks - 1);
  for (int64_t t = 1; t < tasks; ++t) {
    const int64_t first = total * t / tasks, last = total * (t + 1) / tasks;
    pool.Schedule([&fn, &pending, first, last] {
      fn(first, last);
      pending.fetch_sub(1, std::memory_order_release);
    });
  }
  fn(int64_t{0}, total / tasks);
  while (pending.load(std::memory_order_acquire) > 0) std::this_thread::yield();
}

}  // namespace zoo

#endif  // ZOO_CPU_KERNELS_COMMON_H_
