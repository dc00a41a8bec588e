// Depthwise 2-D convolution for XLA's CPU backend, as an XLA FFI handler.
//
// NHWC float32 input (N, H, W, C), kernel (KH, KW, C), stride 1, dilation 1, channel multiplier 1,
// zero padding `pad_top` / `pad_left` (the bottom and right padding follow from the output shape).
// Each task computes whole output rows. Within a row, channels go in vectors of 16 (then 8, then
// one at a time) and interior output columns in groups of eight, so every kernel tap loaded into a
// register serves eight outputs through eight independent sums, with no bounds checks. Edge
// columns (where part of the kernel falls in the padding) skip the outside taps and keep four
// channel vectors in flight instead. Rows are spread over XLA's intra-op thread pool. Summation
// order per output: kernel rows top to bottom, columns left to right, in float32 (as a direct
// convolution).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>

#include "common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

#ifndef ZOO_COLUMNS
#define ZOO_COLUMNS 8  // output columns per register block
#endif

namespace {

using zoo::load;
using zoo::store;
using zoo::Vec;

struct Shape {
  int64_t n, h, w, c, kh, kw, oh, ow, pad_top, pad_left;
};

// Output columns [ow0, ow0 + G) of row `oh`, channels [c0, c0 + V), all of whose taps lie inside the row.
template <int V, int G>
__attribute__((always_inline)) inline void columns(const Shape& s, const float* x_n, const float* k, float* y_row,
                                                   int64_t oh, int64_t ow0, int64_t c0) {
  typedef typename Vec<V>::type vec;
  vec acc[G];
  for (int g = 0; g < G; ++g) acc[g] = vec{};
  const int64_t i_lo = std::max<int64_t>(0, s.pad_top - oh);
  const int64_t i_hi = std::min<int64_t>(s.kh, s.h + s.pad_top - oh);
  for (int64_t i = i_lo; i < i_hi; ++i) {
    const float* row = x_n + ((oh + i - s.pad_top) * s.w + ow0 - s.pad_left) * s.c + c0;
    const float* k_row = k + (i * s.kw) * s.c + c0;
    for (int64_t j = 0; j < s.kw; ++j) {
      const vec kv = load<V>(k_row + j * s.c);
      for (int g = 0; g < G; ++g) acc[g] += load<V>(row + (j + g) * s.c) * kv;
    }
  }
  for (int g = 0; g < G; ++g) store<V>(y_row + (ow0 + g) * s.c + c0, acc[g]);
}

// One output column near the left or right edge, channels [c0, c0 + U·V): the kernel columns that
// fall outside are skipped. The U channel vectors are independent sums, so the multiply-adds of
// one do not wait on another's (a single sum of up to kh·kw terms would run at the FMA latency).
template <int V, int U>
__attribute__((always_inline)) inline void edge_column(const Shape& s, const float* x_n, const float* k, float* y_row,
                                                       int64_t oh, int64_t ow, int64_t c0) {
  typedef typename Vec<V>::type vec;
  vec acc[U];
  for (int u = 0; u < U; ++u) acc[u] = vec{};
  const int64_t i_lo = std::max<int64_t>(0, s.pad_top - oh);
  const int64_t i_hi = std::min<int64_t>(s.kh, s.h + s.pad_top - oh);
  const int64_t j_lo = std::max<int64_t>(0, s.pad_left - ow);
  const int64_t j_hi = std::min<int64_t>(s.kw, s.w + s.pad_left - ow);
  for (int64_t i = i_lo; i < i_hi; ++i) {
    const float* row = x_n + ((oh + i - s.pad_top) * s.w + ow - s.pad_left) * s.c + c0;
    const float* k_row = k + (i * s.kw) * s.c + c0;
    for (int64_t j = j_lo; j < j_hi; ++j) {
      for (int u = 0; u < U; ++u) acc[u] += load<V>(row + j * s.c + u * V) * load<V>(k_row + j * s.c + u * V);
    }
  }
  for (int u = 0; u < U; ++u) store<V>(y_row + ow * s.c + c0 + u * V, acc[u]);
}

// Output row `oh`, channels [c0, c0 + U·V).
template <int V, int U>
__attribute__((always_inline)) inline void channel_block(const Shape& s, const float* x_n, const float* k, float* y_row,
                                                         int64_t oh, int64_t c0) {
  constexpr int G = ZOO_COLUMNS;
  // Columns whose every tap lies inside the row: ow - pad_left >= 0 and ow + G - 1 + kw - 1 - pad_left < w.
  const int64_t safe_lo = std::min<int64_t>(s.ow, s.pad_left);
  const int64_t safe_hi = std::max<int64_t>(safe_lo, std::min<int64_t>(s.ow, s.w + s.pad_left - s.kw + 1));
  const int64_t fast_hi = safe_lo + (safe_hi - safe_lo) / G * G;
  for (int64_t ow = 0; ow < safe_lo; ++ow) edge_column<V, U>(s, x_n, k, y_row, oh, ow, c0);
  for (int u = 0; u < U; ++u) {
    for (int64_t ow = safe_lo; ow < fast_hi; ow += G) columns<V, G>(s, x_n, k, y_row, oh, ow, c0 + u * V);
  }
  for (int64_t ow = fast_hi; ow < s.ow; ++ow) edge_column<V, U>(s, x_n, k, y_row, oh, ow, c0);
}

#ifdef ZOO_TARGET_CLONES
// One copy of the loop per instruction set, picked when the library loads (x86-64 only).
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void rows(const Shape& s, const float* x, const float* k, float* y, int64_t first, int64_t last) {
  for (int64_t r = first; r < last; ++r) {
    const int64_t n = r / s.oh, oh = r % s.oh;
    const float* x_n = x + n * s.h * s.w * s.c;
    float* y_row = y + r * s.ow * s.c;
    int64_t c0 = 0;
    for (; c0 + 64 <= s.c; c0 += 64) channel_block<16, 4>(s, x_n, k, y_row, oh, c0);
    for (; c0 + 16 <= s.c; c0 += 16) channel_block<16, 1>(s, x_n, k, y_row, oh, c0);
    for (; c0 + 8 <= s.c; c0 += 8) channel_block<8, 1>(s, x_n, k, y_row, oh, c0);
    for (; c0 < s.c; ++c0) channel_block<1, 1>(s, x_n, k, y_row, oh, c0);
  }
}

ffi::Error Depthwise(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> kernel,
                     ffi::ResultBuffer<ffi::F32> y, int64_t pad_top, int64_t pad_left) {
  const auto xd = x.dimensions();
  const auto kd = kernel.dimensions();
  const auto yd = y->dimensions();
  if (xd.size() != 4 || kd.size() != 3 || yd.size() != 4 || kd[2] != xd[3] || yd[0] != xd[0] || yd[3] != xd[3]) {
    return ffi::Error::InvalidArgument("zoo_depthwise: expected x (N, H, W, C), kernel (KH, KW, C), y (N, OH, OW, C)");
  }
  const Shape s{xd[0], xd[1], xd[2], xd[3], kd[0], kd[1], yd[1], yd[2], pad_top, pad_left};
  const float* xp = x.typed_data();
  const float* kp = kernel.typed_data();
  float* yp = y->typed_data();
  const int64_t total = s.n * s.oh;
  const int64_t work = total * s.ow * s.c * s.kh * s.kw;
  zoo::parallel_ranges(pool, total, work, 0, [&](int64_t first, int64_t last) { rows(s, xp, kp, yp, first, last); });
  return ffi::Error::Success();
}

}  // namespace

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* ZooDepthwiseConv2d(XLA_FFI_CallFrame* call_frame);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooDepthwiseConv2d, Depthwise,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("pad_top")
                                  .Attr<int64_t>("pad_left"));
