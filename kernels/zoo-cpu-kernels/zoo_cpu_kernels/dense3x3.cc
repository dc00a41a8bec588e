// Dense 3×3 convolution for XLA's CPU backend, as an XLA FFI handler (prototype: ResNet's 3×3 convs).
//
// NHWC float32 input (N, H, W, Cin), HWIO kernel (3, 3, Cin, Cout), stride 1 or 2, dilation 1,
// zero padding 1 on every side, output (N, (H - 1) / stride + 1, (W - 1) / stride + 1, Cout); Cout
// a multiple of 16. A direct convolution (the AVX-512 loop; other CPUs get a plain one): a block of
// R consecutive output pixels of one row × U vectors of 16 output channels is held in R·U zmm
// registers (6 × 4 = 24, or 7 × 4 = 28 where the row is 7 or 14 wide: with the 4 kernel vectors and
// the broadcast that is one register too many and GCC spills one sum, still faster than 6 + a
// one-pixel tail); for each kernel tap and input channel, U kernel vectors are loaded and each of
// the R input values is broadcast and multiply-added into the U vectors of its pixel. The kernel is
// read in place (HWIO: the U·16 outputs of one (tap, cin) row are contiguous), except that with 512
// output channels or more each chunk's taps are first copied side by side (`rows_of`).
//
// Padding costs nothing in the interior: the three kernel columns are unrolled at compile time and
// a block that touches the left (right) border drops pixel 0's (R-1's) term of the left (right)
// kernel column, so blocks never look at a padded value; rows above / below the image are skipped.
// Input channels go in chunks of `cin_block` (partial sums kept in the output between chunks) so
// that the kernel slice a chunk reads stays in L2. Work items are (output-channel block, output
// row) pairs, spread in contiguous ranges over XLA's intra-op thread pool (at most `max_threads`
// tasks where that is positive). Float32 accumulation; the summation order differs from XLA's.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <type_traits>
#include <utility>

#include "common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

typedef zoo::Vec<16>::type vec;  // 16 floats: one AVX-512 register
__attribute__((always_inline)) inline vec load(const float* p) { return zoo::load<16>(p); }
__attribute__((always_inline)) inline void store(float* p, vec v) { zoo::store<16>(p, v); }

struct Shape {
  int64_t n, h, w, cin, cout, oh, ow, cin_block;  // oh, ow: the output's height and width
};

// Where a register block finds the kernel rows of its block of output channels: tap t = 3·i + j,
// input channel c at `base` + t·`tap` + (c - `c0`)·`ld`. In place: the HWIO kernel offset to the block
// (tap = Cin·Cout, ld = Cout, c0 = 0); packed: a chunk's copy (tap = chunk·width, ld = width, c0 the
// chunk's first channel).
struct Taps {
  const float* base;
  int64_t tap, ld, c0;
  // Where chunks are copied (`rows_of`), the next chunk's kernel rows: tap t's row c at `ahead` +
  // t·Cin·Cout + (c - c0)·Cout for the `ahead_rows` rows from c = c0, prefetched into L2 by the first
  // blocks of this chunk's rows (U of them, one cache line of each row each), so that the next copy
  // reads them from L2 (null: none). The same remedy as the pointwise kernel's `Slice::ahead`.
  const float* ahead = nullptr;
  int64_t ahead_rows = 0;
};

// Kernels with at least kPackCout output channels are read from a packed copy of each chunk: rows
// Cout floats apart (2 KiB and more) fall into a few of L1's sets, and every register block read the
// chunk from L2 again (7 × 7 × 512 → 512 on one Xeon core: 100 GFLOP/s against 160-190 at 256 channels).
constexpr int64_t kPackCout = 512;

// Kernel column J for pixels [0, R) of a block, stride S: `xr` points at the input pixel left of
// the block's first window (column S·ow0 - 1) in input row S·oh + i - 1, `kr` at kernel row i's tap 0
// in `kt` (channel kt.c0).
// With M, the kernel vectors it loads also go into the moments' sums `m` (shifted by `sh`). With M or P
// (a chunk's first block: its kernel rows come from L3 or memory, Cout floats apart, where the
// hardware prefetcher does not follow) it prefetches the kernel rows kAhead ahead.
constexpr int64_t kAhead = 24;
template <int S, int U, int R, int J, bool LEFT, bool RIGHT, bool M, bool P = false, bool A = false>
__attribute__((always_inline)) inline void column(const Shape& s, vec (&acc)[R][U], const float* xr,
                                                  const float* kr, const Taps& kt, int64_t c0, int64_t c1,
                                                  const vec (&sh)[U], zoo::ColumnSums* m,
                                                  const float* ar = nullptr) {
  const float* xj = xr + J * s.cin;
  const float* kj = kr + J * kt.tap;
  [[maybe_unused]] vec m1[U] = {}, m2[U] = {};
  auto step = [&](int64_t c) __attribute__((always_inline)) {
    if constexpr (M || P) {
#pragma GCC unroll 4
      for (int u = 0; u < U; ++u) __builtin_prefetch(kj + (c - kt.c0 + kAhead) * kt.ld + u * 16, 0, 3);
    }
    if constexpr (A) {
      if (c - kt.c0 < kt.ahead_rows) __builtin_prefetch(ar + J * s.cin * s.cout + (c - kt.c0) * s.cout, 0, 2);
    }
    vec kv[U];
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) kv[u] = load(kj + (c - kt.c0) * kt.ld + u * 16);
    if constexpr (M) zoo::ColumnSums::accumulate<U>(kv, sh, m1, m2);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      if ((LEFT && J == 0 && r == 0) || (RIGHT && J == 2 && r == R - 1)) continue;
      const float xv = xj[r * S * s.cin + c];
#pragma GCC unroll 4
      for (int u = 0; u < U; ++u) acc[r][u] += kv[u] * xv;
    }
  };
  zoo::ColumnSums::rows<M, U>(c0, c1, m, m1, m2, step, kt.ld <= 256);
}

// Output pixels [ow0, ow0 + R) of row `oh`, channels [o0, o0 + 16·U), input channels [c0, c1);
// adds to what the output holds unless `first`. LEFT: ow0 == 0; RIGHT: the last pixel's window
// reaches past the image's last column. With M (a row whose windows use all three kernel rows), the
// kernel rows of chunk [c0, c1) also go into the moments' sums `m`. P: prefetch the kernel rows ahead.
template <int S, int U, int R, bool LEFT, bool RIGHT, bool M, bool P = false, bool A = false>
__attribute__((always_inline)) inline void block(const Shape& s, const float* x_n, const float* k, const Taps& kt,
                                                 float* y_row, int64_t oh, int64_t ow0, int64_t o0, int64_t c0,
                                                 int64_t c1, bool first, zoo::ColumnSums* m, int64_t line = 0) {
  vec sh[U];  // each column's first value (kernel (0, 0, 0, o)): the moments' shift
#pragma GCC unroll 4
  for (int u = 0; u < U; ++u) sh[u] = M ? load(k + o0 + u * 16) : vec{};
  vec acc[R][U];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) acc[r][u] = first ? vec{} : load(y_row + (ow0 + r) * s.cout + o0 + u * 16);
  const int64_t top = oh * S - 1, i_lo = std::max<int64_t>(0, -top), i_hi = std::min<int64_t>(3, s.h - top);
  for (int64_t i = i_lo; i < i_hi; ++i) {
    // Column S·ow0 - 1 is read only where LEFT is false (ow0 >= 1).
    const float* xr = x_n + ((top + i) * s.w + ow0 * S - 1) * s.cin;
    const float* kr = kt.base + i * 3 * kt.tap;
    // A: cache line `line` of the next chunk's rows of kernel row i's taps.
    const float* ar = A ? kt.ahead + i * 3 * s.cin * s.cout + line * 16 : nullptr;
    column<S, U, R, 0, LEFT, RIGHT, M, P, A>(s, acc, xr, kr, kt, c0, c1, sh, m, ar);
    column<S, U, R, 1, LEFT, RIGHT, M, P, A>(s, acc, xr, kr, kt, c0, c1, sh, m, ar);
    column<S, U, R, 2, LEFT, RIGHT, M, P, A>(s, acc, xr, kr, kt, c0, c1, sh, m, ar);
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) store(y_row + (ow0 + r) * s.cout + o0 + u * 16, acc[r][u]);
}

template <int S, int U, int R, bool M = false, bool P = false, bool A = false>
__attribute__((always_inline)) inline void any_block(const Shape& s, const float* x_n, const float* k,
                                                     const Taps& kt, float* y_row, int64_t oh, int64_t ow0,
                                                     int64_t o0, int64_t c0, int64_t c1, bool first,
                                                     zoo::ColumnSums* m = nullptr, int64_t line = 0) {
  const bool left = ow0 == 0, right = (ow0 + R - 1) * S + 1 >= s.w;
  if (left && right) {
    block<S, U, R, true, true, M, P, A>(s, x_n, k, kt, y_row, oh, ow0, o0, c0, c1, first, m, line);
  } else if (left) {
    block<S, U, R, true, false, M, P, A>(s, x_n, k, kt, y_row, oh, ow0, o0, c0, c1, first, m, line);
  } else if (right) {
    block<S, U, R, false, true, M, P, A>(s, x_n, k, kt, y_row, oh, ow0, o0, c0, c1, first, m, line);
  } else {
    block<S, U, R, false, false, M, P, A>(s, x_n, k, kt, y_row, oh, ow0, o0, c0, c1, first, m, line);
  }
}

// One output row, channels [o0, o0 + 16·U): blocks of R pixels, then the tail in blocks of 4, 2, 1.
// With `m`, the first block (R pixels: the caller checks the row has them) also takes the moments;
// with `ahead` (a chunk's first row), it prefetches the kernel rows for the blocks after it; with
// `line` in [0, U) and `kt.ahead`, it prefetches that cache line of the next chunk's rows.
template <int S, int U, int R>
__attribute__((always_inline)) inline void row(const Shape& s, const float* x_n, const float* k, const Taps& kt,
                                               float* y_row, int64_t oh, int64_t o0, int64_t c0, int64_t c1,
                                               bool first, zoo::ColumnSums* m, bool ahead = false, int64_t line = -1) {
  int64_t ow = 0;
  if (m) {
    any_block<S, U, R, true>(s, x_n, k, kt, y_row, oh, ow, o0, c0, c1, first, m), ow += R;
  } else if (ahead && R <= s.ow) {
    any_block<S, U, R, false, true>(s, x_n, k, kt, y_row, oh, ow, o0, c0, c1, first), ow += R;
  } else if (kt.ahead && 0 <= line && line < U && R <= s.ow) {
    any_block<S, U, R, false, false, true>(s, x_n, k, kt, y_row, oh, ow, o0, c0, c1, first, nullptr, line), ow += R;
  }
  for (; ow + R <= s.ow; ow += R) any_block<S, U, R>(s, x_n, k, kt, y_row, oh, ow, o0, c0, c1, first);
  if constexpr (R > 4) {
    if (ow + 4 <= s.ow) any_block<S, U, 4>(s, x_n, k, kt, y_row, oh, ow, o0, c0, c1, first), ow += 4;
  }
  if constexpr (R > 2) {
    if (ow + 2 <= s.ow) any_block<S, U, 2>(s, x_n, k, kt, y_row, oh, ow, o0, c0, c1, first), ow += 2;
  }
  for (; ow < s.ow; ++ow) any_block<S, U, 1>(s, x_n, k, kt, y_row, oh, ow, o0, c0, c1, first);
}

// Output rows [r0, r1) (over N·OH) of output channels [o0, o0 + 16·U), input channel chunk by chunk;
// row `m_row`'s first block also takes the moments' sums `m` (m_row -1: none). With `packed` (room for
// 9 · cin_block · 64 floats, 64-byte aligned), each chunk's taps are first copied there side by side
// (rows of 16·U floats; the copy prefetches the rows kAhead ahead, as the first row's first block does
// in place), and the next chunk's rows (this block's, or from `next_o0` on, the next block's first; -1:
// none) are prefetched while this one is read (`Taps::ahead`).
template <int S, int U, int R>
__attribute__((always_inline)) inline void rows_of(const Shape& s, const float* x, const float* k, float* y,
                                                   int64_t o0, int64_t r0, int64_t r1, int64_t m_row,
                                                   zoo::ColumnSums* m, float* packed, int64_t next_o0) {
  constexpr int64_t width = 16 * U;
  for (int64_t c0 = 0; c0 < s.cin; c0 += s.cin_block) {
    const int64_t c1 = std::min(s.cin, c0 + s.cin_block);
    Taps kt{k + o0, s.cin * s.cout, s.cout, 0};
    if (packed) {
      for (int64_t t = 0; t < 9; ++t) {
        const float* from = k + t * s.cin * s.cout + o0;
        float* to = packed + t * (c1 - c0) * width;
        for (int64_t c = c0; c < c1; ++c) {
#pragma GCC unroll 4
          for (int u = 0; u < U; ++u) __builtin_prefetch(from + (c + kAhead) * s.cout + u * 16, 0, 3);
          std::memcpy(to + (c - c0) * width, from + c * s.cout, width * sizeof(float));
        }
      }
      kt = Taps{packed, (c1 - c0) * width, width, c0};
      if (c1 < s.cin) {
        kt.ahead = k + c1 * s.cout + o0, kt.ahead_rows = std::min(s.cin_block, s.cin - c1);
      } else if (next_o0 >= 0) {
        kt.ahead = k + next_o0, kt.ahead_rows = std::min(s.cin_block, s.cin);
      }
    }
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / s.oh, oh = r % s.oh;
      row<S, U, R>(s, x + n * s.h * s.w * s.cin, k, kt, y + r * s.ow * s.cout, oh, o0, c0, c1, c0 == 0,
                   r == m_row ? m : nullptr, r == r0 && !packed, r - r0);
    }
  }
}

// The first output row (over N·OH) whose windows use all three kernel rows at stride `stride`, or -1.
int64_t full_row(const Shape& s, int64_t stride) {
  return s.oh > 1 && stride + 1 <= s.h - 1 ? 1 : -1;
}

// Rows [r0, r1) of output channels [o0, o0 + 16·U). With `moments` (a (2, Cout) result), the range
// holding the block's first full row takes its moments in that row's first register block (R pixels,
// where the rows have them), and otherwise the range holding row 0 reads them plainly.
template <int S, int U, int R>
__attribute__((always_inline)) inline void block_rows(const Shape& s, const float* x, const float* k, float* y,
                                                      float* moments, int64_t o0, int64_t r0, int64_t r1,
                                                      float* packed, int64_t next_o0 = -1) {
  if (!moments) return rows_of<S, U, R>(s, x, k, y, o0, r0, r1, -1, nullptr, packed, next_o0);
  const int64_t m_row = s.ow >= R ? full_row(s, S) : -1;
  const bool mine = m_row >= 0 ? r0 <= m_row && m_row < r1 : r0 == 0;
  zoo::ColumnSums sums;
  rows_of<S, U, R>(s, x, k, y, o0, r0, r1, mine && m_row >= 0 ? m_row : -1, &sums, packed, next_o0);
  if (!mine) return;
  if (m_row < 0) sums.add_rows(k + o0, 9 * s.cin, s.cout, 16 * U);
  sums.finish(k + o0, 9 * s.cin, 16 * U, moments + o0, s.cout);
}

#if defined(__x86_64__)
// Work items [first, last) (see `items`) at stride S. A last block of 48 channels goes as 32 + 16.
template <int S>
__attribute__((always_inline)) inline void strided(const Shape& s, const float* x, const float* k, float* y,
                                                   float* moments, int64_t first, int64_t last) {
  const int64_t total_rows = s.n * s.oh, full = s.cout / 64;
  // This thread's copy of the chunk being read, for wide kernels (`rows_of`); kept between calls.
  static thread_local zoo::AlignedFloats packed_store;
  float* packed = nullptr;
  if (s.cout >= kPackCout) {
    if (packed_store.size() < static_cast<size_t>(9 * s.cin_block * 64)) packed_store.resize(9 * s.cin_block * 64);
    packed = packed_store.data();
  }
  for (int64_t b = first / total_rows; b * total_rows < last; ++b) {
    const int64_t r0 = std::max(first, b * total_rows) - b * total_rows;
    const int64_t r1 = std::min(last, (b + 1) * total_rows) - b * total_rows;
    // The next block of 64 channels, where this thread goes on to it.
    const int64_t next_o0 = b + 1 < full && (b + 1) * total_rows < last ? (b + 1) * 64 : -1;
    if (b < full && s.ow % 7 == 0 && s.ow <= 14) {  // whole blocks of 7 beat 6 + a short tail
      block_rows<S, 4, 7>(s, x, k, y, moments, b * 64, r0, r1, packed, next_o0);
    } else if (b < full) {
      block_rows<S, 4, 6>(s, x, k, y, moments, b * 64, r0, r1, packed, next_o0);
    } else {
      if (s.cout % 64 >= 32) block_rows<S, 2, 14>(s, x, k, y, moments, full * 64, r0, r1, packed);
      if (s.cout % 32) block_rows<S, 1, 14>(s, x, k, y, moments, s.cout - 16, r0, r1, packed);
    }
  }
}

__attribute__((target("avx512f"))) void run_avx512(const Shape& s, int64_t stride, const float* x, const float* k,
                                                   float* y, float* moments, int64_t first, int64_t last) {
  if (stride == 1) {
    strided<1>(s, x, k, y, moments, first, last);
  } else {
    strided<2>(s, x, k, y, moments, first, last);
  }
}
#endif

// The same work items, plainly (CPUs without AVX-512): per output pixel and kernel tap, each input
// value times the kernel row of the block's output channels, added to the output row. With
// `moments`, each block's row-0 item reads the block's moments plainly.
void run_portable(const Shape& s, int64_t stride, const float* x, const float* k, float* y, float* moments,
                  int64_t first, int64_t last) {
  const int64_t total_rows = s.n * s.oh;
  for (int64_t item = first; item < last; ++item) {
    const int64_t b = item / total_rows, r = item % total_rows, n = r / s.oh, top = r % s.oh * stride - 1;
    const int64_t o0 = b * 64, width = std::min<int64_t>(64, s.cout - o0);
    if (moments && r == 0) {
      zoo::ColumnSums sums;
      sums.add_rows(k + o0, 9 * s.cin, s.cout, width);
      sums.finish(k + o0, 9 * s.cin, width, moments + o0, s.cout);
    }
    for (int64_t ow = 0; ow < s.ow; ++ow) {
      float* out = y + (r * s.ow + ow) * s.cout + o0;
      std::fill(out, out + width, 0.0f);
      const int64_t left = ow * stride - 1;
      for (int64_t i = std::max<int64_t>(0, -top); i < std::min<int64_t>(3, s.h - top); ++i) {
        for (int64_t j = std::max<int64_t>(0, -left); j < std::min<int64_t>(3, s.w - left); ++j) {
          const float* in = x + ((n * s.h + top + i) * s.w + left + j) * s.cin;
          const float* kij = k + (i * 3 + j) * s.cin * s.cout + o0;
          for (int64_t c = 0; c < s.cin; ++c)
            for (int64_t o = 0; o < width; ++o) out[o] += in[c] * kij[c * s.cout + o];
        }
      }
    }
  }
}

// Work items: (block of 64 output channels, output row) pairs, block major.
int64_t items(const Shape& s) { return (s.cout + 63) / 64 * s.n * s.oh; }

// The AVX-512 loop where the CPU has it, else the portable one.
void run(const Shape& s, int64_t stride, const float* x, const float* k, float* y, float* moments, int64_t first,
         int64_t last, bool portable) {
#if defined(__x86_64__) && !defined(ZOO_DENSE_PORTABLE)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512 && !portable) return run_avx512(s, stride, x, k, y, moments, first, last);
#endif
  run_portable(s, stride, x, k, y, moments, first, last);
}

// The conv, and with `moments` (a (2, Cout) result, else null) each output channel's kernel mean and
// biased variance over (3, 3, Cin), taken as the conv reads the kernel.
ffi::Error Conv(ffi::ThreadPool& pool, ffi::Buffer<ffi::F32>& x, ffi::Buffer<ffi::F32>& kernel,
                ffi::ResultBuffer<ffi::F32>& y, float* moments, int64_t stride, int64_t cin_block,
                int64_t max_threads, bool portable) {
  const auto xd = x.dimensions();
  const auto kd = kernel.dimensions();
  const auto yd = y->dimensions();
  if (xd.size() != 4 || kd.size() != 4 || yd.size() != 4 || kd[0] != 3 || kd[1] != 3 || kd[2] != xd[3] ||
      kd[3] % 16 || (stride != 1 && stride != 2) || yd[0] != xd[0] || yd[1] != (xd[1] - 1) / stride + 1 ||
      yd[2] != (xd[2] - 1) / stride + 1 || yd[3] != kd[3] || cin_block < 1) {
    return ffi::Error::InvalidArgument(
        "zoo_dense3x3: expected x (N, H, W, Cin), kernel (3, 3, Cin, Cout) with Cout % 16 == 0, stride 1 or 2, "
        "y (N, (H - 1) / stride + 1, (W - 1) / stride + 1, Cout)");
  }
  const Shape s{xd[0], xd[1], xd[2], xd[3], kd[3], yd[1], yd[2], cin_block};
  const float* xp = x.typed_data();
  const float* kp = kernel.typed_data();
  float* yp = y->typed_data();
  const int64_t total = items(s);
  if (moments && s.n * s.oh == 0) {  // no rows to convolve: the moments alone
    for (int64_t o0 = 0; o0 < s.cout; o0 += 64) {
      zoo::ColumnSums sums;
      sums.add_rows(kp + o0, 9 * s.cin, s.cout, std::min<int64_t>(64, s.cout - o0));
      sums.finish(kp + o0, 9 * s.cin, std::min<int64_t>(64, s.cout - o0), moments + o0, s.cout);
    }
  }
  if (total == 0) return ffi::Error::Success();  // an empty batch (the work items divide by N·OH)
  const int64_t flops = s.n * s.oh * s.ow * s.cout * 9 * s.cin;
  zoo::parallel_ranges(pool, total, flops, max_threads, [&](int64_t first, int64_t last) {
    run(s, stride, xp, kp, yp, moments, first, last, portable);
  });
  return ffi::Error::Success();
}

ffi::Error Dense3x3(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> kernel,
                    ffi::ResultBuffer<ffi::F32> y, int64_t stride, int64_t cin_block, int64_t max_threads,
                    int64_t portable) {
  return Conv(pool, x, kernel, y, nullptr, stride, cin_block, max_threads, portable != 0);
}

ffi::Error Dense3x3Moments(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> kernel,
                           ffi::ResultBuffer<ffi::F32> y, ffi::ResultBuffer<ffi::F32> moments, int64_t stride,
                           int64_t cin_block, int64_t max_threads, int64_t portable) {
  const auto md = moments->dimensions();
  if (md.size() != 2 || md[0] != 2 || kernel.dimensions().size() != 4 || md[1] != kernel.dimensions()[3]) {
    return ffi::Error::InvalidArgument("zoo_dense3x3_moments: expected a (2, Cout) moments result");
  }
  if (kernel.dimensions()[2] == 0) {
    return ffi::Error::InvalidArgument("zoo_dense3x3_moments: the kernel has no input channels to take moments over");
  }
  return Conv(pool, x, kernel, y, moments->typed_data(), stride, cin_block, max_threads, portable != 0);
}

// The operands and attributes both targets bind, around their results (the moments target has two).
template <typename Results>
auto Bound(Results results) {
  return std::move(results)
      .template Attr<int64_t>("stride")
      .template Attr<int64_t>("cin_block")
      .template Attr<int64_t>("max_threads")
      .template Attr<int64_t>("portable");
}

auto Operands() { return ffi::Ffi::Bind().Ctx<ffi::ThreadPool>().Arg<ffi::Buffer<ffi::F32>>().Arg<ffi::Buffer<ffi::F32>>(); }

}  // namespace

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* ZooDense3x3(XLA_FFI_CallFrame* call_frame);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooDense3x3, Dense3x3, Bound(Operands().Ret<ffi::Buffer<ffi::F32>>()));

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* ZooDense3x3Moments(XLA_FFI_CallFrame* call_frame);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooDense3x3Moments, Dense3x3Moments,
                              Bound(Operands().Ret<ffi::Buffer<ffi::F32>>().Ret<ffi::Buffer<ffi::F32>>()));
