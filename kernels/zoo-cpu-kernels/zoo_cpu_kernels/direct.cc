// Direct convolution of an already padded input with few input channels (a network's stem: ResNet's
// 7×7 stride-2 conv on the 3 image channels) and a fused per-channel affine / ReLU epilogue, for
// XLA's CPU backend, as an XLA FFI handler.
//
// NHWC float32 input x (N, HP, WP, Cin), padded by the caller; HWIO kernel (KH, KW, Cin, Cout), Cout
// a multiple of 16; scale and shift (Cout,); stride S both ways, dilation 1; output (N, OH, OW, Cout)
// with OH = (HP - KH) / S + 1, OW = (WP - KW) / S + 1;
// y[n, oh, ow, o] = relu?(Σ_{i, j, c} x[n, S·oh + i, S·ow + j, c] · kernel[i, j, c, o] · scale[o] + shift[o]).
// Float32 accumulation; the summation order differs from XLA's.
//
// In NHWC with an HWIO kernel, the KW·Cin input values of one kernel row under an output pixel are
// contiguous, and so are the KW·Cin kernel rows of its taps: each kernel row is one dot product of
// length KW·Cin (21 for the 7×7 stem), with no padding or border cases since the input is padded.
// A block of R consecutive output pixels of one row × U vectors of 16 output channels is held in
// R·U zmm registers (6 × 4 = 24 for full blocks of 64 channels; 8 × 3, 12 × 2, 16 × 1 for a last
// block of 48, 32, 16); per tap, U kernel vectors are loaded and each of the R input values is
// broadcast and multiply-added into its pixel's U vectors; the epilogue is applied to the
// accumulators before they are stored. The kernel is read in place (HWIO: the outputs of one tap
// are contiguous) and a stem's kernel (7·7·3·64 floats, 37 KiB) stays in L1. Work items are
// (block of 64 output channels, output row) pairs, block major, spread in contiguous ranges over
// XLA's intra-op thread pool (at most `max_threads` tasks where that is positive). Other CPUs (or
// `portable` = 1) get a plain loop.

#include <algorithm>
#include <cstdint>

#include "common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

typedef zoo::Vec<16>::type vec;  // 16 floats: one AVX-512 register
__attribute__((always_inline)) inline vec load(const float* p) { return zoo::load<16>(p); }
__attribute__((always_inline)) inline void store(float* p, vec v) { zoo::store<16>(p, v); }

struct Shape {
  int64_t n, hp, wp, cin, kh, kw, cout, oh, ow, stride;
  bool relu;
  int64_t rows() const { return n * oh; }
  int64_t blocks() const { return (cout + 63) / 64; }
};

#if defined(__x86_64__)
// Output pixels [ow0, ow0 + R) of the row whose input window starts at `x_row` (input row S·oh,
// column 0), channels [o0, o0 + 16·U) (`k`, `scale`, `shift` offset to o0), into `y_row`.
template <int U, int R>
__attribute__((always_inline)) inline void micro(const Shape& s, const float* x_row, const float* k,
                                                 const float* scale, const float* shift, float* y_row,
                                                 int64_t ow0) {
  vec acc[R][U];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) acc[r][u] = vec{};
  const int64_t taps = s.kw * s.cin, step = s.stride * s.cin, row = s.wp * s.cin;
  const float* xr[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) xr[r] = x_row + (ow0 + r) * step;
  for (int64_t i = 0; i < s.kh; ++i) {
    const float* ki = k + i * taps * s.cout;
    for (int64_t t = 0; t < taps; ++t) {
      vec kv[U];
#pragma GCC unroll 4
      for (int u = 0; u < U; ++u) kv[u] = load(ki + t * s.cout + u * 16);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const float xv = xr[r][i * row + t];
#pragma GCC unroll 4
        for (int u = 0; u < U; ++u) acc[r][u] += kv[u] * xv;
      }
    }
  }
  const vec zero{};
#pragma GCC unroll 4
  for (int u = 0; u < U; ++u) {
    const vec sc = load(scale + u * 16), sh = load(shift + u * 16);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      vec v = acc[r][u] * sc + sh;
      if (s.relu) v = v < zero ? zero : v;  // NaN stays NaN, as max(v, 0)
      store(y_row + (ow0 + r) * s.cout + u * 16, v);
    }
  }
}

// One output row: blocks of R pixels, then the tail in blocks of 8, 4, 2, 1.
template <int U, int R>
__attribute__((always_inline)) inline void row(const Shape& s, const float* x_row, const float* k, const float* scale,
                                               const float* shift, float* y_row) {
  int64_t ow = 0;
  for (; ow + R <= s.ow; ow += R) micro<U, R>(s, x_row, k, scale, shift, y_row, ow);
  if constexpr (R > 8) {
    if (ow + 8 <= s.ow) micro<U, 8>(s, x_row, k, scale, shift, y_row, ow), ow += 8;
  }
  if constexpr (R > 4) {
    if (ow + 4 <= s.ow) micro<U, 4>(s, x_row, k, scale, shift, y_row, ow), ow += 4;
  }
  if constexpr (R > 2) {
    if (ow + 2 <= s.ow) micro<U, 2>(s, x_row, k, scale, shift, y_row, ow), ow += 2;
  }
  for (; ow < s.ow; ++ow) micro<U, 1>(s, x_row, k, scale, shift, y_row, ow);
}

__attribute__((target("avx512f"))) void row_avx512(const Shape& s, const float* x_row, const float* k,
                                                   const float* scale, const float* shift, float* y_row,
                                                   int64_t width) {
  switch (width / 16) {
    case 4: row<4, 6>(s, x_row, k, scale, shift, y_row); break;
    case 3: row<3, 8>(s, x_row, k, scale, shift, y_row); break;
    case 2: row<2, 12>(s, x_row, k, scale, shift, y_row); break;
    default: row<1, 16>(s, x_row, k, scale, shift, y_row); break;
  }
}
#endif

// The same row, plainly (CPUs without AVX-512): per output pixel, each tap's input value times the
// kernel row of the block's output channels, added to the output, then the epilogue.
void row_portable(const Shape& s, const float* x_row, const float* k, const float* scale, const float* shift,
                  float* y_row, int64_t width) {
  const int64_t taps = s.kw * s.cin, row = s.wp * s.cin;
  for (int64_t ow = 0; ow < s.ow; ++ow) {
    float* out = y_row + ow * s.cout;
    std::fill(out, out + width, 0.0f);
    for (int64_t i = 0; i < s.kh; ++i) {
      const float* in = x_row + i * row + ow * s.stride * s.cin;
      const float* ki = k + i * taps * s.cout;
      for (int64_t t = 0; t < taps; ++t)
        for (int64_t o = 0; o < width; ++o) out[o] += in[t] * ki[t * s.cout + o];
    }
    for (int64_t o = 0; o < width; ++o) {
      const float v = out[o] * scale[o] + shift[o];
      out[o] = s.relu && v < 0.0f ? 0.0f : v;
    }
  }
}

// Work items [first, last): item b · rows + r is output row r (over N·OH) × channels [64·b, 64·b + 64).
void run(const Shape& s, bool portable, const float* x, const float* k, const float* scale, const float* shift,
         float* y, int64_t first, int64_t last) {
  bool avx512 = false;
#if defined(__x86_64__) && !defined(ZOO_DIRECT_PORTABLE)
  static const bool has_avx512 = __builtin_cpu_supports("avx512f");
  avx512 = has_avx512 && !portable;
#endif
  for (int64_t item = first; item < last; ++item) {
    const int64_t o0 = item / s.rows() * 64, r = item % s.rows(), n = r / s.oh, oh = r % s.oh;
    const int64_t width = std::min<int64_t>(64, s.cout - o0);
    const float* x_row = x + (n * s.hp + oh * s.stride) * s.wp * s.cin;
    float* y_row = y + r * s.ow * s.cout + o0;
#if defined(__x86_64__)
    if (avx512) {
      row_avx512(s, x_row, k + o0, scale + o0, shift + o0, y_row, width);
      continue;
    }
#endif
    row_portable(s, x_row, k + o0, scale + o0, shift + o0, y_row, width);
  }
}

ffi::Error Direct(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> kernel,
                  ffi::Buffer<ffi::F32> scale, ffi::Buffer<ffi::F32> shift, ffi::ResultBuffer<ffi::F32> y,
                  int64_t stride, int64_t relu, int64_t max_threads, int64_t portable) {
  const auto xd = x.dimensions();
  const auto kd = kernel.dimensions();
  const auto yd = y->dimensions();
  const bool shapes_ok =
      xd.size() == 4 && kd.size() == 4 && yd.size() == 4 && stride >= 1 && kd[2] == xd[3] && kd[3] % 16 == 0 &&
      kd[0] <= xd[1] && kd[1] <= xd[2] && yd[0] == xd[0] && yd[1] == (xd[1] - kd[0]) / stride + 1 &&
      yd[2] == (xd[2] - kd[1]) / stride + 1 && yd[3] == kd[3] &&
      static_cast<int64_t>(scale.element_count()) == kd[3] && static_cast<int64_t>(shift.element_count()) == kd[3];
  if (!shapes_ok) {
    return ffi::Error::InvalidArgument(
        "zoo_direct: expected a padded x (N, HP, WP, Cin), kernel (KH, KW, Cin, Cout) with Cout % 16 == 0 and "
        "KH <= HP, KW <= WP, scale and shift (Cout,), stride >= 1, y (N, (HP - KH) / stride + 1, "
        "(WP - KW) / stride + 1, Cout)");
  }
  const Shape s{xd[0], xd[1], xd[2], xd[3], kd[0], kd[1], kd[3], yd[1], yd[2], stride, relu != 0};
  if (s.rows() == 0 || s.ow == 0 || s.cout == 0) return ffi::Error::Success();
  const float* xp = x.typed_data();
  const float* kp = kernel.typed_data();
  const float* sc = scale.typed_data();
  const float* sh = shift.typed_data();
  float* yp = y->typed_data();
  const int64_t flops = s.rows() * s.ow * s.cout * std::max<int64_t>(1, s.kh * s.kw * s.cin);
  zoo::parallel_ranges(pool, s.blocks() * s.rows(), flops, max_threads, [&](int64_t first, int64_t last) {
    run(s, portable != 0, xp, kp, sc, sh, yp, first, last);
  });
  return ffi::Error::Success();
}

}  // namespace

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* ZooDirect(XLA_FFI_CallFrame* call_frame);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooDirect, Direct,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("stride")
                                  .Attr<int64_t>("relu")
                                  .Attr<int64_t>("max_threads")
                                  .Attr<int64_t>("portable"));
