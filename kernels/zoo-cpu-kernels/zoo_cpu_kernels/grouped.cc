// Grouped 2-D convolution for XLA's CPU backend, as an XLA FFI handler (ResNeXt's 3×3 convs).
//
// NHWC float32 input (N, H, W, Cin), HWIO kernel (KH, KW, Cin / G, Cout), G groups, any stride,
// dilation 1, zero padding `pad_top` / `pad_left` (bottom and right follow from the output shape).
// Output channel o of group g = o / (Cout / G) sums input channels [g·cig, (g + 1)·cig) over the
// kernel window. Two register-blocked loops, both with vectors of V output channels (16 with
// AVX-512, 8 with AVX2) and R output columns per block (every kernel vector loaded serves R
// outputs through R independent sums):
//
// - wide groups (Cout / G a multiple of 8): per group, one or two vectors of its output channels;
//   each input value is broadcast and multiplied into them (a direct conv). Group by group, each
//   group's kernel copied to a contiguous buffer that stays in L1 over all the task's rows.
// - narrow groups (Cin / G = Cout / G = cg of 2, 4 or 8): one vector covers V / cg whole groups,
//   in and out. The V input channels of a pixel are loaded once per tap; for each of the cg input
//   channels c, a shuffle spreads channel c of every group over that group's lanes, and one
//   multiply-add with the kernel vector k[i, j, c, o0:o0 + V] adds it. No multiply by a zero:
//   what the block-diagonal dense formulation does V / cg times over.
//
// Columns whose window lies inside the row go in blocks of R (then smaller blocks for the tail)
// with no bounds checks; edge columns skip the kernel columns that fall in the padding. Rows are
// spread over XLA's intra-op thread pool. Float32 accumulation; the summation order differs from
// XLA's (≤ 1e-5 relative on unit-scale inputs).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using zoo::load;
using zoo::store;
using zoo::Vec;

struct Shape {
  int64_t n, h, w, cin, kh, kw, oh, ow, cout, groups, cig, cog, sh, sw, pad_top, pad_left;
};

// Groups of cg = 2, 4 or 8 channels in and out, 16 / cg of them to a vector.
bool narrow(const Shape& s) { return s.cig == s.cog && s.cout % 16 == 0 && (s.cig == 2 || s.cig == 4 || s.cig == 8); }

// The rows i of the kernel that fall inside the image for output row `oh`.
inline std::pair<int64_t, int64_t> kernel_rows(const Shape& s, int64_t oh) {
  const int64_t top = oh * s.sh - s.pad_top;
  return {std::max<int64_t>(0, -top), std::min<int64_t>(s.kh, s.h - top)};
}

// Independent sums per output vector for a block of R columns: a single chain of multiply-adds
// would run at the FMA latency, so blocks of fewer than 4 columns (edges, tails) split theirs.
constexpr int partial_sums(int r) { return r >= 4 ? 1 : 4 / r; }

// Wide groups: output columns [ow0, ow0 + R), channels [o0, o0 + U·V) of group g (o0 inside it),
// kernel columns [j_lo, j_hi) (all inside the row for every one of the R columns). `k` is group
// g's kernel, (KH, KW, cig, cog).
template <int V, int U, int R>
__attribute__((always_inline)) inline void wide_block(const Shape& s, const float* x_n, const float* k, float* y_row,
                                                      int64_t oh, int64_t ow0, int64_t g, int64_t o0, int64_t j_lo,
                                                      int64_t j_hi) {
  typedef typename Vec<V>::type vec;
  constexpr int P = partial_sums(R);
  vec acc[P][R][U];
  for (int p = 0; p < P; ++p)
    for (int r = 0; r < R; ++r)
      for (int u = 0; u < U; ++u) acc[p][r][u] = vec{};
  const auto [i_lo, i_hi] = kernel_rows(s, oh);
  const int64_t step = s.sw * s.cin;
  for (int64_t i = i_lo; i < i_hi; ++i) {
    const int64_t row = ((oh * s.sh + i - s.pad_top) * s.w + ow0 * s.sw - s.pad_left) * s.cin + g * s.cig;
    for (int64_t j = j_lo; j < j_hi; ++j) {
      const float* px = x_n + row + j * s.cin;
      const float* kj = k + (i * s.kw + j) * s.cig * s.cog + (o0 - g * s.cog);
      auto channel = [&](int64_t c, vec(&sums)[R][U]) __attribute__((always_inline)) {
        vec kv[U];
        for (int u = 0; u < U; ++u) kv[u] = load<V>(kj + c * s.cog + u * V);
        for (int r = 0; r < R; ++r) {
          const float xv = px[r * step + c];
          for (int u = 0; u < U; ++u) sums[r][u] += kv[u] * xv;
        }
      };
      int64_t c = 0;
      for (; c + P <= s.cig; c += P)
        for (int p = 0; p < P; ++p) channel(c + p, acc[p]);
      for (; c < s.cig; ++c) channel(c, acc[0]);
    }
  }
  for (int p = 1; p < P; ++p)
    for (int r = 0; r < R; ++r)
      for (int u = 0; u < U; ++u) acc[0][r][u] += acc[p][r][u];
  for (int r = 0; r < R; ++r)
    for (int u = 0; u < U; ++u) store<V>(y_row + (ow0 + r) * s.cout + o0 + u * V, acc[0][r][u]);
}

// Lanes [q·CG, (q + 1)·CG) of the result all hold lane q·CG + C of v.
template <int CG, int C, typename vec, int... L>
__attribute__((always_inline)) inline vec spread(vec v, std::integer_sequence<int, L...>) {
  return __builtin_shufflevector(v, v, ((L / CG) * CG + C)...);
}

// Adds spread<CG, C>(xv[r]) · k[i, j, C, o0:o0 + V] to acc[r] for every input channel C of the groups.
template <int CG, int P, int R, typename vec, int... L, int... C>
__attribute__((always_inline)) inline void narrow_tap(vec (&acc)[P][R], const vec (&xv)[R], const vec (&kv)[CG],
                                                      std::integer_sequence<int, L...> lanes,
                                                      std::integer_sequence<int, C...>) {
  (
      [&]() __attribute__((always_inline)) {
        for (int r = 0; r < R; ++r) acc[C % P][r] += spread<CG, C>(xv[r], lanes) * kv[C];
      }(),
      ...);
}

// Narrow groups: output columns [ow0, ow0 + R), channels [o0, o0 + V) (V / CG whole groups). `k`
// is the kernel in blocks of V output channels, (Cout / V, KH, KW, CG, V).
template <int V, int CG, int R>
__attribute__((always_inline)) inline void narrow_block(const Shape& s, const float* x_n, const float* k,
                                                        float* y_row, int64_t oh, int64_t ow0, int64_t o0,
                                                        int64_t j_lo, int64_t j_hi) {
  typedef typename Vec<V>::type vec;
  constexpr int P = std::min(CG, partial_sums(R));
  vec acc[P][R];
  for (int p = 0; p < P; ++p)
    for (int r = 0; r < R; ++r) acc[p][r] = vec{};
  const auto [i_lo, i_hi] = kernel_rows(s, oh);
  const int64_t step = s.sw * s.cin;
  for (int64_t i = i_lo; i < i_hi; ++i) {
    const int64_t row = ((oh * s.sh + i - s.pad_top) * s.w + ow0 * s.sw - s.pad_left) * s.cin + o0;
    for (int64_t j = j_lo; j < j_hi; ++j) {
      const float* px = x_n + row + j * s.cin;
      const float* kj = k + ((o0 / V * s.kh + i) * s.kw + j) * CG * V;
      vec xv[R], kv[CG];
      for (int r = 0; r < R; ++r) xv[r] = load<V>(px + r * step);
      for (int c = 0; c < CG; ++c) kv[c] = load<V>(kj + c * V);
      narrow_tap<CG, P, R>(acc, xv, kv, std::make_integer_sequence<int, V>{}, std::make_integer_sequence<int, CG>{});
    }
  }
  for (int p = 1; p < P; ++p)
    for (int r = 0; r < R; ++r) acc[0][r] += acc[p][r];
  for (int r = 0; r < R; ++r) store<V>(y_row + (ow0 + r) * s.cout + o0, acc[0][r]);
}

// The columns of one output row: edge columns one at a time with their kernel columns clipped,
// interior ones in blocks of R, R/2, ..., 1. `block<R>(ow0, j_lo, j_hi)` computes R columns.
template <int R, typename Block>
__attribute__((always_inline)) inline void sweep(const Shape& s, Block&& block) {
  // Interior: 0 <= ow·sw - pad_left and ow·sw - pad_left + kw - 1 < w.
  const int64_t lo = std::min<int64_t>(s.ow, (s.pad_left + s.sw - 1) / s.sw);
  const int64_t last = s.w - s.kw + s.pad_left;  // the last interior ow satisfies ow·sw <= last
  const int64_t hi = last < 0 ? lo : std::max<int64_t>(lo, std::min<int64_t>(s.ow, last / s.sw + 1));
  auto edge = [&](int64_t ow) __attribute__((always_inline)) {
    const int64_t left = ow * s.sw - s.pad_left;
    block(std::integral_constant<int, 1>{}, ow, std::max<int64_t>(0, -left), std::min<int64_t>(s.kw, s.w - left));
  };
  for (int64_t ow = 0; ow < lo; ++ow) edge(ow);
  int64_t ow = lo;
  for (; ow + R <= hi; ow += R) block(std::integral_constant<int, R>{}, ow, 0, s.kw);
  if constexpr (R >= 8) {
    if (ow + 4 <= hi) block(std::integral_constant<int, 4>{}, ow, 0, s.kw), ow += 4;
  }
  if constexpr (R >= 4) {
    if (ow + 2 <= hi) block(std::integral_constant<int, 2>{}, ow, 0, s.kw), ow += 2;
  }
  for (; ow < hi; ++ow) block(std::integral_constant<int, 1>{}, ow, 0, s.kw);
  for (ow = hi; ow < s.ow; ++ow) edge(ow);
}

// Registers: 32 vector registers with AVX-512 (V = 16), 16 with AVX2 (V = 8). A block holds R·U
// sums, U kernel vectors and the broadcast input.
template <int V, int U>
__attribute__((always_inline)) inline void wide_row(const Shape& s, const float* x_n, const float* k, float* y_row,
                                                    int64_t oh, int64_t g, int64_t o0) {
  constexpr int R = U == 1 ? 12 : (V == 16 ? 8 : 6);
  sweep<R>(s, [&](auto r, int64_t ow0, int64_t j_lo, int64_t j_hi) __attribute__((always_inline)) {
    wide_block<V, U, decltype(r)::value>(s, x_n, k, y_row, oh, ow0, g, o0, j_lo, j_hi);
  });
}

// Copies the HWIO kernel's output channels [o0, o0 + width) for every (i, j, c), in that order,
// to `dst` (KH, KW, cig, width): the taps one block of output channels reads, contiguous. In HWIO
// they are Cout floats apart, and at Cout = 1024 (4 KiB) the 288 rows of one group's 3×3 kernel
// would all compete for the same two L1 sets.
void pack(const Shape& s, const float* k, int64_t o0, int64_t width, float* dst) {
  for (int64_t t = 0; t < s.kh * s.kw * s.cig; ++t) std::memcpy(dst + t * width, k + t * s.cout + o0, width * 4);
}

// Wide groups, output rows [first, last): group by group, so that one group's kernel (36 KiB at
// cg 32, packed) stays in L1 over all the rows instead of the whole kernel (1.2 MiB) streaming
// from L3 for every row.
template <int V>
__attribute__((always_inline)) inline void wide_rows(const Shape& s, const float* x, const float* k, float* y,
                                                     int64_t first, int64_t last) {
  zoo::AlignedFloats packed(s.kh * s.kw * s.cig * s.cog);
  for (int64_t g = 0; g < s.groups; ++g) {
    pack(s, k, g * s.cog, s.cog, packed.data());
    for (int64_t r = first; r < last; ++r) {
      const int64_t n = r / s.oh, oh = r % s.oh;
      const float* x_n = x + n * s.h * s.w * s.cin;
      float* y_row = y + r * s.ow * s.cout;
      int64_t o0 = g * s.cog;
      for (; o0 + 2 * V <= (g + 1) * s.cog; o0 += 2 * V) wide_row<V, 2>(s, x_n, packed.data(), y_row, oh, g, o0);
      for (; o0 < (g + 1) * s.cog; o0 += V) wide_row<V, 1>(s, x_n, packed.data(), y_row, oh, g, o0);
    }
  }
}

template <int V, int CG>
__attribute__((always_inline)) inline void narrow_rows(const Shape& s, const float* x_n, const float* k,
                                                       float* y_row, int64_t oh) {
  for (int64_t o0 = 0; o0 < s.cout; o0 += V) {
    // R sums, R input vectors and the CG kernel vectors of a tap.
    sweep<V == 16 ? 8 : 4>(s, [&](auto r, int64_t ow0, int64_t j_lo, int64_t j_hi) __attribute__((always_inline)) {
      narrow_block<V, CG, decltype(r)::value>(s, x_n, k, y_row, oh, ow0, o0, j_lo, j_hi);
    });
  }
}

// Output rows [first, last) with vectors of V floats (V = 16 or 8: whole groups of cg 2, 4, 8 in
// narrow vectors, as the python side's grouped_supports asks Cout to be a multiple of 16).
template <int V>
__attribute__((always_inline)) inline void rows_of(const Shape& s, const float* x, const float* k, float* y,
                                                   int64_t first, int64_t last) {
  if (!narrow(s)) {
    if (s.cog % V == 0) {
      wide_rows<V>(s, x, k, y, first, last);
    } else {
      wide_rows<8>(s, x, k, y, first, last);
    }
    return;
  }
  const int64_t block = s.kh * s.kw * s.cig * V;
  zoo::AlignedFloats packed(block * (s.cout / V));
  for (int64_t b = 0; b < s.cout / V; ++b) pack(s, k, b * V, V, packed.data() + b * block);
  for (int64_t r = first; r < last; ++r) {
    const int64_t n = r / s.oh, oh = r % s.oh;
    const float* x_n = x + n * s.h * s.w * s.cin;
    float* y_row = y + r * s.ow * s.cout;
    if (s.cig == 4) {
      narrow_rows<V, 4>(s, x_n, packed.data(), y_row, oh);
    } else if (s.cig == 8) {
      narrow_rows<V, 8>(s, x_n, packed.data(), y_row, oh);
    } else {
      narrow_rows<V, 2>(s, x_n, packed.data(), y_row, oh);
    }
  }
}

using Rows = void (*)(const Shape&, const float*, const float*, float*, int64_t, int64_t);

void rows_default(const Shape& s, const float* x, const float* k, float* y, int64_t first, int64_t last) {
  rows_of<8>(s, x, k, y, first, last);
}

#ifdef ZOO_TARGET_CLONES
// One copy of the loops per instruction set, with the vector width that fits its registers,
// picked on the first call (x86-64 only).
__attribute__((target("avx512f"))) void rows_avx512(const Shape& s, const float* x, const float* k, float* y,
                                                    int64_t first, int64_t last) {
  rows_of<16>(s, x, k, y, first, last);
}

__attribute__((target("avx2,fma"))) void rows_avx2(const Shape& s, const float* x, const float* k, float* y,
                                                   int64_t first, int64_t last) {
  rows_of<8>(s, x, k, y, first, last);
}

Rows pick_rows() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return rows_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return rows_avx2;
  return rows_default;
}
#else
Rows pick_rows() { return rows_default; }
#endif

void rows(const Shape& s, const float* x, const float* k, float* y, int64_t first, int64_t last) {
  static const Rows chosen = pick_rows();
  chosen(s, x, k, y, first, last);
}

// What `rows` computes (mirrored by zoo_cpu_kernels.grouped_supports).
bool covered(const Shape& s) {
  return s.cig * s.groups == s.cin && s.cog * s.groups == s.cout && (narrow(s) || s.cog % 8 == 0) && s.sh >= 1 &&
         s.sw >= 1 && s.pad_top >= 0 && s.pad_left >= 0;
}

ffi::Error Grouped(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> kernel,
                   ffi::ResultBuffer<ffi::F32> y, int64_t groups, int64_t stride_h, int64_t stride_w, int64_t pad_top,
                   int64_t pad_left) {
  const auto xd = x.dimensions();
  const auto kd = kernel.dimensions();
  const auto yd = y->dimensions();
  if (xd.size() != 4 || kd.size() != 4 || yd.size() != 4 || groups < 1 || yd[0] != xd[0] || yd[3] != kd[3] ||
      kd[3] % groups) {
    return ffi::Error::InvalidArgument(
        "zoo_grouped: expected x (N, H, W, Cin), kernel (KH, KW, Cin / G, Cout), y (N, OH, OW, Cout)");
  }
  const Shape s{xd[0], xd[1],  xd[2], xd[3],          kd[0],    kd[1],    yd[1],   yd[2],
                kd[3], groups, kd[2], kd[3] / groups, stride_h, stride_w, pad_top, pad_left};
  if (!covered(s)) return ffi::Error::InvalidArgument("zoo_grouped: a case the kernel does not cover");
  const float* xp = x.typed_data();
  const float* kp = kernel.typed_data();
  float* yp = y->typed_data();
  const int64_t total = s.n * s.oh;
  const int64_t work = total * s.ow * s.cout * s.kh * s.kw * s.cig;
  zoo::parallel_ranges(pool, total, work, 0, [&](int64_t first, int64_t last) { rows(s, xp, kp, yp, first, last); });
  return ffi::Error::Success();
}

}  // namespace

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* ZooGroupedConv2d(XLA_FFI_CallFrame* call_frame);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooGroupedConv2d, Grouped,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("groups")
                                  .Attr<int64_t>("stride_h")
                                  .Attr<int64_t>("stride_w")
                                  .Attr<int64_t>("pad_top")
                                  .Attr<int64_t>("pad_left"));
