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
//
// `ZooDepthwiseLayerNorm` is the same conv followed, per output pixel, by its bias and a LayerNorm over
// the C channels (ConvNeXt's `norm(conv_dw(x))`): each output row is normalized while it is still in
// L1, instead of XLA's passes over the whole activation for the bias, the two moments and the
// normalization. Its second operand stacks the kernel's KH·KW taps (rows of C), the conv's bias, the
// norm's scale and its shift: (KH·KW + 3, C). Per pixel, with v = conv + bias: mean = Σ v / C, the
// biased variance Σ (v - mean)² / C (two passes), y = (v - mean) · 1/√(var + eps) · scale + shift.

#include <algorithm>
#include <atomic>
#include <cmath>
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

// The sum of a vector's 16 lanes, as a tree of halves (lane by lane, a chain of 16 dependent adds).
__attribute__((always_inline)) inline float sum_lanes(Vec<16>::type v) {
  Vec<8>::type a, b;
  std::memcpy(&a, &v, sizeof(a));
  std::memcpy(&b, reinterpret_cast<const char*>(&v) + sizeof(a), sizeof(b));
  a += b;
  Vec<4>::type c, d;
  std::memcpy(&c, &a, sizeof(c));
  std::memcpy(&d, reinterpret_cast<const char*>(&a) + sizeof(c), sizeof(d));
  c += d;
  return (c[0] + c[2]) + (c[1] + c[3]);
}

// The bias and LayerNorm of one output pixel's C values `v` (in place); `norm` holds the bias, scale
// and shift as three rows of C. Vectors of 16 channels, then one at a time.
__attribute__((always_inline)) inline void layer_norm(float* v, const float* norm, int64_t c, float eps) {
  typedef Vec<16>::type vec;
  const float *bias = norm, *scale = norm + c, *shift = norm + 2 * c;
  const int64_t c16 = c / 16 * 16;
  vec acc{};
  float tail = 0.0f;
  for (int64_t i = 0; i < c16; i += 16) {
    const vec b = load<16>(v + i) + load<16>(bias + i);
    store<16>(v + i, b);
    acc += b;
  }
  for (int64_t i = c16; i < c; ++i) tail += (v[i] += bias[i]);
  const float mean = (sum_lanes(acc) + tail) / static_cast<float>(c);
  acc = vec{};
  tail = 0.0f;
  for (int64_t i = 0; i < c16; i += 16) {
    const vec d = load<16>(v + i) - mean;
    acc += d * d;
  }
  for (int64_t i = c16; i < c; ++i) tail += (v[i] - mean) * (v[i] - mean);
  const float rs = 1.0f / std::sqrt((sum_lanes(acc) + tail) / static_cast<float>(c) + eps);
  for (int64_t i = 0; i < c16; i += 16) {
    store<16>(v + i, (load<16>(v + i) - mean) * rs * load<16>(scale + i) + load<16>(shift + i));
  }
  for (int64_t i = c16; i < c; ++i) v[i] = (v[i] - mean) * rs * scale[i] + shift[i];
}

#ifdef ZOO_TARGET_CLONES
// One copy of the loop per instruction set, picked when the library loads (x86-64 only).
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
// Output rows [first, last); with `norm` (the bias, scale and shift rows) each row's pixels then go
// through the bias and LayerNorm.
void rows(const Shape& s, const float* x, const float* k, float* y, int64_t first, int64_t last,
          const float* norm = nullptr, float eps = 0.0f) {
  for (int64_t r = first; r < last; ++r) {
    const int64_t n = r / s.oh, oh = r % s.oh;
    const float* x_n = x + n * s.h * s.w * s.c;
    float* y_row = y + r * s.ow * s.c;
    int64_t c0 = 0;
    for (; c0 + 64 <= s.c; c0 += 64) channel_block<16, 4>(s, x_n, k, y_row, oh, c0);
    for (; c0 + 16 <= s.c; c0 += 16) channel_block<16, 1>(s, x_n, k, y_row, oh, c0);
    for (; c0 + 8 <= s.c; c0 += 8) channel_block<8, 1>(s, x_n, k, y_row, oh, c0);
    for (; c0 < s.c; ++c0) channel_block<1, 1>(s, x_n, k, y_row, oh, c0);
    if (norm) {
      for (int64_t ow = 0; ow < s.ow; ++ow) layer_norm(y_row + ow * s.c, norm, s.c, eps);
    }
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

ffi::Error DepthwiseLayerNorm(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> params,
                              ffi::ResultBuffer<ffi::F32> y, int64_t kh, int64_t kw, int64_t pad_top,
                              int64_t pad_left, float eps) {
  const auto xd = x.dimensions();
  const auto pd = params.dimensions();
  const auto yd = y->dimensions();
  if (xd.size() != 4 || pd.size() != 2 || yd.size() != 4 || kh < 1 || kw < 1 || pd[0] != kh * kw + 3 ||
      pd[1] != xd[3] || yd[0] != xd[0] || yd[3] != xd[3] || pad_top < 0 || pad_left < 0 || !(eps >= 0.0f)) {
    return ffi::Error::InvalidArgument(
        "zoo_depthwise_layernorm: expected x (N, H, W, C), params (KH·KW + 3, C): the kernel's taps, the bias, "
        "the norm's scale and shift, y (N, OH, OW, C), non-negative padding and eps");
  }
  const Shape s{xd[0], xd[1], xd[2], xd[3], kh, kw, yd[1], yd[2], pad_top, pad_left};
  const float* xp = x.typed_data();
  const float* kp = params.typed_data();
  float* yp = y->typed_data();
  const int64_t total = s.n * s.oh;
  const int64_t work = total * s.ow * s.c * (s.kh * s.kw + 3);
  zoo::parallel_ranges(pool, total, work, 0, [&](int64_t first, int64_t last) {
    rows(s, xp, kp, yp, first, last, kp + kh * kw * s.c, eps);
  });
  return ffi::Error::Success();
}

}  // namespace

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* ZooDepthwiseLayerNorm(XLA_FFI_CallFrame* call_frame);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooDepthwiseLayerNorm, DepthwiseLayerNorm,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("kh")
                                  .Attr<int64_t>("kw")
                                  .Attr<int64_t>("pad_top")
                                  .Attr<int64_t>("pad_left")
                                  .Attr<float>("eps"));

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* ZooDepthwiseConv2d(XLA_FFI_CallFrame* call_frame);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooDepthwiseConv2d, Depthwise,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("pad_top")
                                  .Attr<int64_t>("pad_left"));
