// Per-column mean and biased variance of a float32 matrix, as an XLA FFI handler (for weight
// standardization: zoo_core.nn.std_conv's kernel_moments).
//
// The operand is any float32 array of rank >= 1, viewed as (K, C) with C its last dimension (an HWIO
// conv kernel: K = kh·kw·cin rows, C = cout columns). The result is (2, C): row 0 each column's mean,
// row 1 its biased variance (over K). One read pass over the operand: for each column c the sums of
// d = w - w[0, c] and of d² are accumulated in double precision (the shift keeps a mean that is large
// against the spread from cancelling the variance away), then mean = w[0, c] + S1 / K and
// variance = max(S2 / K - (S1 / K)², 0).
//
// Batched: with a result (B, 2, C) the operand is B such matrices, (B, ..., C) (a batch of images
// (N, H·W, C): GroupNorm's per-channel statistics), each shifted by its own first row.
//
// Columns are contiguous, so the loop runs across C in vectors: a block of 64 columns holds its 2 × 8
// vectors of 8 double sums in registers while it walks down the rows of its range (reading 256
// contiguous bytes per row), then blocks of 8 columns and single columns for the tail. The rows are
// split into as many parts as XLA's intra-op thread pool has threads (zoo::parallel_ranges); each part
// writes its own sums, which the calling thread adds up in part order at the end, so the result does
// not depend on which thread ran which part.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

typedef float f8 __attribute__((vector_size(8 * sizeof(float))));
typedef double d8 __attribute__((vector_size(8 * sizeof(double))));

__attribute__((always_inline)) inline d8 load_d8(const float* p) {
  f8 v;
  std::memcpy(&v, p, sizeof(v));
  return __builtin_convertvector(v, d8);
}

__attribute__((always_inline)) inline void add_to(double* p, d8 v) {
  d8 s;
  std::memcpy(&s, p, sizeof(s));
  s += v;
  std::memcpy(p, &s, sizeof(s));
}

// Columns [c0, c0 + 8·U) over rows [r0, r1): adds the sums of d and d² to s1[c], s2[c].
template <int U>
__attribute__((always_inline)) inline void column_block(const float* w, int64_t cols, int64_t r0, int64_t r1,
                                                        int64_t c0, double* s1, double* s2) {
  d8 shift[U], a1[U], a2[U];
#pragma GCC unroll 8
  for (int u = 0; u < U; ++u) {
    shift[u] = load_d8(w + c0 + 8 * u);
    a1[u] = d8{};
    a2[u] = d8{};
  }
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = w + r * cols + c0;
#pragma GCC unroll 8
    for (int u = 0; u < U; ++u) {
      const d8 d = load_d8(row + 8 * u) - shift[u];
      a1[u] += d;
      a2[u] += d * d;
    }
  }
#pragma GCC unroll 8
  for (int u = 0; u < U; ++u) {
    add_to(s1 + c0 + 8 * u, a1[u]);
    add_to(s2 + c0 + 8 * u, a2[u]);
  }
}

// The sums of rows [r0, r1) for every column, added to s1 and s2 (C doubles each, zeroed by the caller).
// One copy per instruction set, picked when the library loads (x86-64 only): AVX-512 holds a d8 in
// one register, the plain copies in two or four.
#ifdef ZOO_TARGET_CLONES
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void part_sums(const float* w, int64_t cols, int64_t r0, int64_t r1, double* s1, double* s2) {
  int64_t c0 = 0;
  for (; c0 + 64 <= cols; c0 += 64) column_block<8>(w, cols, r0, r1, c0, s1, s2);
  for (; c0 + 8 <= cols; c0 += 8) column_block<1>(w, cols, r0, r1, c0, s1, s2);
  for (; c0 < cols; ++c0) {
    const double shift = w[c0];
    double a1 = 0.0, a2 = 0.0;
    for (int64_t r = r0; r < r1; ++r) {
      const double d = static_cast<double>(w[r * cols + c0]) - shift;
      a1 += d;
      a2 += d * d;
    }
    s1[c0] += a1;
    s2[c0] += a2;
  }
}

ffi::Error Moments(ffi::ThreadPool pool, ffi::AnyBuffer kernel, ffi::ResultBuffer<ffi::F32> out) {
  const auto kd = kernel.dimensions();
  const auto od = out->dimensions();
  const bool batched = od.size() == 3;
  const int64_t batches = batched ? od[0] : 1;
  if (kernel.element_type() != ffi::F32 || kd.size() < (batched ? 2u : 1u) || od.size() < 2 || od.size() > 3 ||
      od[od.size() - 2] != 2 || od[od.size() - 1] != kd[kd.size() - 1] || (batched && kd[0] != batches)) {
    return ffi::Error::InvalidArgument(
        "zoo_kernel_moments: expected a float32 kernel (..., C) and a result (2, C), or (B, ..., C) and (B, 2, C)");
  }
  const int64_t cols = kd[kd.size() - 1];
  int64_t rows = 1;  // per matrix
  for (size_t i = batched ? 1 : 0; i + 1 < kd.size(); ++i) rows *= kd[i];
  if (cols == 0 || batches == 0) return ffi::Error::Success();
  if (rows == 0) return ffi::Error::InvalidArgument("zoo_kernel_moments: the kernel has no rows (K = 0)");
  const float* w = static_cast<const float*>(kernel.untyped_data());
  float* y = out->typed_data();
  // Per matrix, one part per pool thread (fewer when there are fewer rows); each part's sums in its
  // own slice, part (b, p) at index b · parts + p.
  const int64_t parts = std::min<int64_t>(rows, std::max<int64_t>(1, pool.num_threads()));
  std::vector<double> sums(2 * batches * parts * cols, 0.0);
  // The "work" parallel_ranges weighs against a hand-off: a float read and converted, two double
  // adds and a multiply per element, on the order of ten multiply-adds' time, so kernels over ~100k
  // elements (400 KB) are split.
  const int64_t work = 10 * batches * rows * cols;
  zoo::parallel_ranges(pool, batches * parts, work, 0, [&](int64_t first, int64_t last) {
    for (int64_t task = first; task < last; ++task) {
      const int64_t b = task / parts, p = task % parts;
      double* s = sums.data() + 2 * task * cols;
      part_sums(w + b * rows * cols, cols, rows * p / parts, rows * (p + 1) / parts, s, s + cols);
    }
  });
  for (int64_t b = 0; b < batches; ++b) {
    const float* first_row = w + b * rows * cols;
    float* yb = y + 2 * b * cols;
    for (int64_t c = 0; c < cols; ++c) {
      double s1 = 0.0, s2 = 0.0;
      for (int64_t p = 0; p < parts; ++p) {
        s1 += sums[2 * (b * parts + p) * cols + c];
        s2 += sums[2 * (b * parts + p) * cols + cols + c];
      }
      const double m1 = s1 / static_cast<double>(rows), m2 = s2 / static_cast<double>(rows);
      yb[c] = static_cast<float>(static_cast<double>(first_row[c]) + m1);
      yb[cols + c] = static_cast<float>(std::max(m2 - m1 * m1, 0.0));
    }
  }
  return ffi::Error::Success();
}

}  // namespace

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* ZooKernelMoments(XLA_FFI_CallFrame* call_frame);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooKernelMoments, Moments,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::F32>>());
