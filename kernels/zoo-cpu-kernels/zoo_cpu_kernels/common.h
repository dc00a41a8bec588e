// What the FFI kernels share: vectors of V floats with unaligned loads and stores, scratch buffers
// aligned to cache lines, and the split of a kernel's work items over XLA's intra-op thread pool.

#ifndef ZOO_CPU_KERNELS_COMMON_H_
#define ZOO_CPU_KERNELS_COMMON_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

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

// A scratch buffer of floats whose data() is 64-byte aligned, so that a packed row of 16·k floats is
// whole cache lines and its vector loads never straddle two. A std::vector<float> (or of a 64-byte
// vector type) is only as aligned as malloc's 16 bytes: a 64-byte load from it then touches two
// lines 3 times in 4 (the pointwise kernel's packed chunks: 130 against 140 GFLOP/s aligned, one
// Xeon core, ViT-B's fc1). resize() does not keep the contents; new floats are zeros.
class AlignedFloats {
 public:
  explicit AlignedFloats(size_t n = 0) { resize(n); }
  AlignedFloats(const AlignedFloats&) = delete;
  AlignedFloats& operator=(const AlignedFloats&) = delete;
  void resize(size_t n) {
    store_.resize(n + 15);
    data_ = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(store_.data()) + 63) & ~uintptr_t{63});
    size_ = n;
  }
  float* data() { return data_; }
  const float* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  std::vector<float> store_;
  float* data_ = nullptr;
  size_t size_ = 0;
};

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

// A conv kernel's per-output-channel moments taken while the conv reads it (BiT's weight
// standardization, where a separate pass would read every weight from DRAM once more): the sums of
// d = w - w[0, o] and of d² over the K = kh·kw·Cin rows of up to 64 columns, in double precision.
// The conv's first register block of one work item per block of output channels adds each kernel
// vector it loads, `shift`ed, to float32 partial sums over runs of `kRun` rows, which `add` adds
// here: float32 sums of 8 values of d keep the mean to ~1e-9 of the spread at K = 4608, where sums
// over a whole 128-channel chunk lost ~1e-6 of it — enough to move BiT's features by 1e-4, since an
// error in a channel's mean enters the folded output times the window sum of its (positive) input.
// The item then writes mean = w[0, o] + S1 / K and the biased variance max(S2 / K - (S1 / K)², 0).
struct ColumnSums {
  static constexpr int kRun = 8;
  double s1[64] = {}, s2[64] = {};

  // Float32 partials (vectors of 16) for columns [16·u, 16·u + 16), added in double.
  template <typename V>
  __attribute__((always_inline)) inline void add(int u, V p1, V p2) {
    typedef float f8 __attribute__((vector_size(8 * sizeof(float))));
    typedef double d8 __attribute__((vector_size(8 * sizeof(double))));
    const f8 halves[4] = {__builtin_shufflevector(p1, p1, 0, 1, 2, 3, 4, 5, 6, 7),
                          __builtin_shufflevector(p1, p1, 8, 9, 10, 11, 12, 13, 14, 15),
                          __builtin_shufflevector(p2, p2, 0, 1, 2, 3, 4, 5, 6, 7),
                          __builtin_shufflevector(p2, p2, 8, 9, 10, 11, 12, 13, 14, 15)};
    double* to[4] = {s1 + 16 * u, s1 + 16 * u + 8, s2 + 16 * u, s2 + 16 * u + 8};
    for (int h = 0; h < 4; ++h) {
      d8 acc;
      std::memcpy(&acc, to[h], sizeof(acc));
      acc += __builtin_convertvector(halves[h], d8);
      std::memcpy(to[h], &acc, sizeof(acc));
    }
  }

  // Kernel vectors `kv` (one row of 16·U columns) shifted by `sh`, added to float32 partials m1, m2.
  template <int U, typename V>
  __attribute__((always_inline)) static inline void accumulate(const V (&kv)[U], const V (&sh)[U], V (&m1)[U],
                                                               V (&m2)[U]) {
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) {
      const V d = kv[u] - sh[u];
      m1[u] += d;
      m2[u] += d * d;
    }
  }

  // A register block's loop over kernel rows [c0, c1): `step(c)` for each, and with M in runs of
  // kRun rows, after each of which the partials m1, m2 (which `step` fills) are added here and reset.
  // Without M the loop is unrolled 4 times where `unrolled` (the caller's kernel rows are at most 1 KiB
  // apart): the loop's own add / compare / branch otherwise take a share of the two ports the
  // multiply-adds issue on (the pointwise kernel on one Xeon core: (1568, 1536) × (1536, 384)
  // 193 → 205 GFLOP/s, (392, 3072) × (3072, 768) 170 → 182; 2 and 8 gained less). With rows further
  // apart, read in place where they share a few of L1's sets, the unrolled loop's loads of four rows
  // at once evicted each other: (49, 768) × (768, 3072) 119 → 77 GFLOP/s.
  template <bool M, int U, typename V, typename Step>
  __attribute__((always_inline)) static inline void rows(int64_t c0, int64_t c1, ColumnSums* m, V (&m1)[U],
                                                         V (&m2)[U], const Step& step, bool unrolled) {
    if constexpr (M) {
      for (int64_t c = c0; c < c1;) {
        for (const int64_t end = std::min(c1, c + kRun); c < end; ++c) step(c);
#pragma GCC unroll 4
        for (int u = 0; u < U; ++u) m->add(u, m1[u], m2[u]), m1[u] = V{}, m2[u] = V{};
      }
    } else if (unrolled) {
#pragma GCC unroll 4
      for (int64_t c = c0; c < c1; ++c) step(c);
    } else {
      for (int64_t c = c0; c < c1; ++c) step(c);
    }
  }

  // The sums of rows [0, rows) of `width` columns read plainly (row stride `ld`), for work items whose
  // register blocks cannot take them (an output too small for a whole block).
  void add_rows(const float* k, int64_t rows, int64_t ld, int64_t width) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < width; ++c) {
        const double d = static_cast<double>(k[r * ld + c]) - static_cast<double>(k[c]);
        s1[c] += d;
        s2[c] += d * d;
      }
  }

  // Mean and biased variance of `width` columns over `rows`, into out[c] and out[ld_out + c];
  // `first_row` holds each column's shift (its first value).
  void finish(const float* first_row, int64_t rows, int64_t width, float* out, int64_t ld_out) const {
    for (int64_t c = 0; c < width; ++c) {
      const double m1 = s1[c] / static_cast<double>(rows), m2 = s2[c] / static_cast<double>(rows);
      out[c] = static_cast<float>(static_cast<double>(first_row[c]) + m1);
      out[ld_out + c] = static_cast<float>(std::max(m2 - m1 * m1, 0.0));
    }
  }
};

}  // namespace zoo

#endif  // ZOO_CPU_KERNELS_COMMON_H_
