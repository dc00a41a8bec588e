// Pointwise (1×1) convolution with a fused BatchNorm / residual / ReLU epilogue for XLA's CPU
// backend, as an XLA FFI handler (ResNet's 1×1 convs followed by their eval-mode BatchNorm).
//
// NHWC float32 input x (N, H, W, Cin), kernel (Cin, Cout) (the HWIO 1×1 kernel without its two
// leading unit axes), per-channel scale and shift (Cout,) or per image and channel (N, Cout) (a
// squeeze-excitation gate folded into the BatchNorm), optionally a residual (N, OH, OW, Cout);
// stride 1 or 2 (output pixel (oh, ow) reads input pixel (s·oh, s·ow)), OH = (H - 1) / s + 1.
// y = act?(Σ_c x[n, s·oh, s·ow, c] · kernel[c, o] · scale[(n,) o] + shift[(n,) o] + residual?), Cout a
// multiple of 16, float32 accumulation (the summation order differs from XLA's); act is ReLU (`relu`),
// the exact GELU (`gelu`: an MLP's first linear layer, ConvNeXt's), or none.
// A patch conv (a kernel as large as its stride, no padding: ConvNeXt's stem and downsamples, ViT's
// patch embedding) is the same GEMM over K = s·s·Cin: its kernel comes as (s·s·Cin, Cout), the HWIO
// kernel flattened, any stride s >= 2, OH = H / s (the rows and columns past the last whole patch are
// not read). Patch row i of output pixel (oh, ow) is one run of s·Cin floats in x, at pixel
// (s·oh + i, s·ow); the loop takes the kernel rows in chunks that stay within one such run.
// With a prologue (attribute `prologue` 1, or 2 with a ReLU; a 1×1 conv at stride 1), the conv reads
// relu?(x · in_scale + in_shift) in place of x, in_scale and in_shift (N, Cin) operands after the residual;
// with `prologue` 3, LayerNorm(x) over Cin (eps `prologue_eps`) · in_scale + in_shift:
// each tile's input rows are transformed into a buffer of the thread's when the tile starts, and the
// register blocks read that buffer (`Prologue`; items then go tile by tile).
//
// A GEMM over the M = N·OH·OW output pixels, taken as one sequence (not row by row), so blocks do
// not stop at row ends. A block of R pixels × U vectors of 16 output channels is held in R·U zmm
// registers (6 × 4 = 24 for full blocks of 64 channels; 8 × 3, 12 × 2, 16 × 1 for the last block
// of 48, 32, 16); per input channel, U kernel vectors are loaded (the kernel is read in place: row c
// holds the Cout outputs of channel c; a wide kernel's chunk is first copied side by side, see
// `item_avx512`) and each pixel's input value is broadcast and multiply-added into its U vectors.
// Work items are (tile of pixels, block of 64 output channels) pairs, tile
// major, so the items of one tile reuse its input rows from L2 (block major where there are few
// tiles); each item runs over the input channels in chunks of `cin_block` (the kernel slice a chunk
// reads, cin_block × 64 floats, stays in L1-L2), keeping partial sums in y between chunks and
// applying the epilogue as the last chunk is stored; a block prefetches the next block's input
// rows, and where chunks are copied, the next chunk's kernel rows (`Slice::ahead`). Items are spread
// in contiguous ranges over XLA's intra-op thread pool (at most `max_threads` tasks where that is
// positive). Other CPUs (or `portable` = 1) get a plain loop.
//
// `zoo_pointwise_mlp` runs an MLP's two layers (fc1 with the GELU, fc2 with its residual) through the same
// loop, a chunk of rows at a time, so that the chunk's hidden activations stay in cache between them.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

typedef zoo::Vec<16>::type vec;  // 16 floats: one AVX-512 register
__attribute__((always_inline)) inline vec load(const float* p) { return zoo::load<16>(p); }
__attribute__((always_inline)) inline void store(float* p, vec v) { zoo::store<16>(p, v); }

// Packing (`item_avx512`): kernels with at least kPackCout output channels (rows >= 2 KiB apart). In
// tiles of fewer than kPackTile pixels (a few register blocks read each chunk), chunks of at most
// kSmallTileChunk input channels, whose copy (128 × 64 floats, 32 KiB) stays in L1 between the
// register blocks: ConvNeXt-T's batch-1 stage 4 on both Xeon cores, (49, 768) × (768, 3072)
// 230 → 256 GFLOP/s and (49, 3072) × (3072, 768) 250 → 276 (in place with 256-channel chunks: the
// register blocks read every chunk from L2; packed 256-channel chunks, 64 KiB, did not fit either).
constexpr int64_t kPackCout = 512, kPackTile = 96, kSmallTileChunk = 128;

struct Shape {
  int64_t n, h, w, cin, cout, oh, ow, stride, cin_block;  // cin: the kernel's rows, K
  int64_t tile;       // pixels per work item
  bool tile_major;    // items ordered tile by tile (else block by block)
  int64_t xc = 0;     // x's channels (a pixel's floats): Cin
  int64_t run = 0;    // kernel rows read from one contiguous run of x: K, or s·Cin for a patch conv
  int64_t pixels() const { return n * oh * ow; }
  int64_t blocks() const { return (cout + 63) / 64; }
  int64_t tiles() const { return (pixels() + tile - 1) / tile; }
};

// The epilogue's operands, offset to one item's first output channel (and, for the residual, its
// first pixel; rows of `cout` floats). `residual` is null where there is none. Per-image scale and
// shift (`image_stride` = Cout, else 0) are rows of `cout` floats, one per image: the row of the
// image that output pixel p0 + r belongs to is (p0 + r) / `per_image` (p0: the block's first pixel).
struct Epilogue {
  const float* scale;
  const float* shift;
  const float* residual;
  bool relu;
  bool gelu;  // the exact GELU, x · Φ(x) (not with relu)
  int64_t image_stride = 0;
  int64_t per_image = 1;
  int64_t p0 = 0;
};

// The input's prologue (a 1×1 conv at stride 1): x' = relu?(x · scale + shift) per image and input channel,
// `scale` and `shift` (N, Cin) rows, applied to each tile's input rows as they are copied into a buffer of
// the thread's that the register blocks then read (ConvNeXt-V2's GRN before fc2). Null `scale`: none.
// With `layer_norm` (prologue 3) each row is first normalized over its Cin values (biased variance, `eps`),
// then scaled and shifted (a ViT block's LayerNorm before qkv or fc1: its γ and β as every image's rows).
struct Prologue {
  const float* scale = nullptr;
  const float* shift = nullptr;
  bool relu = false;
  bool layer_norm = false;
  float eps = 0.0f;
};

// One row of `cin` floats normalized (the mean, then the mean square about it, in float32 vectors of 16
// lanes and a scalar tail) and scaled and shifted per channel, into `out`.
#ifdef ZOO_TARGET_CLONES
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void layer_norm_row(const float* src, int64_t cin, const float* a, const float* b, float eps, float* out) {
  typedef zoo::Vec<16>::type v16;
  const int64_t whole = cin - cin % 16;
  v16 acc{};
  for (int64_t c = 0; c < whole; c += 16) acc += zoo::load<16>(src + c);
  float sum = 0.0f;
  for (int i = 0; i < 16; ++i) sum += acc[i];
  for (int64_t c = whole; c < cin; ++c) sum += src[c];
  const float mean = sum / static_cast<float>(cin);
  v16 sq{};
  for (int64_t c = 0; c < whole; c += 16) {
    const v16 d = zoo::load<16>(src + c) - mean;
    sq += d * d;
  }
  float total = 0.0f;
  for (int i = 0; i < 16; ++i) total += sq[i];
  for (int64_t c = whole; c < cin; ++c) total += (src[c] - mean) * (src[c] - mean);
  const float inv = 1.0f / std::sqrt(total / static_cast<float>(cin) + eps);
  for (int64_t c = 0; c < whole; c += 16) {
    zoo::store<16>(out + c, (zoo::load<16>(src + c) - mean) * inv * zoo::load<16>(a + c) + zoo::load<16>(b + c));
  }
  for (int64_t c = whole; c < cin; ++c) out[c] = (src[c] - mean) * inv * a[c] + b[c];
}

// Pixels [p0, p0 + count) of x (rows of `cin` floats; pixel p in image p / per_image) through the prologue
// into `dst`, row by row.
void apply_prologue(const Prologue& pro, const float* x, int64_t cin, int64_t per_image, int64_t p0, int64_t count,
                    float* dst) {
  for (int64_t p = 0; p < count; ++p) {
    const int64_t image = (p0 + p) / per_image;
    const float* a = pro.scale + image * cin;
    const float* b = pro.shift + image * cin;
    const float* src = x + (p0 + p) * cin;
    float* out = dst + p * cin;
    if (pro.layer_norm) {
      layer_norm_row(src, cin, a, b, pro.eps, out);
    } else if (pro.relu) {
      for (int64_t c = 0; c < cin; ++c) out[c] = std::max(src[c] * a[c] + b[c], 0.0f);
    } else {
      for (int64_t c = 0; c < cin; ++c) out[c] = src[c] * a[c] + b[c];
    }
  }
}

// erf(x) as a rational function of x on [-4, 4] (beyond, ±1 in float32): Eigen's float32 odd
// numerator over even denominator, a few ulp; the fused GELU is then as close to the exact one as
// XLA's float32 GELU (kernels/zoo-cpu-kernels/tests/test_pointwise.py). T: a float or a vector.
template <typename T>
__attribute__((always_inline)) inline T erf_rational(T x) {
  const T four = T{} + 4.0f, minus_four = T{} - 4.0f;
  x = x > four ? four : x;
  x = x < minus_four ? minus_four : x;
  const T x2 = x * x;
  T p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
  p = x2 * p + -2.10102402082508e-06f;
  p = x2 * p + -5.69250639462346e-05f;
  p = x2 * p + -7.34990630326855e-04f;
  p = x2 * p + -2.95459980854025e-03f;
  p = x2 * p + -1.60960333262415e-02f;
  T q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
  q = x2 * q + -1.68282697438203e-03f;
  q = x2 * q + -7.37332916720468e-03f;
  q = x2 * q + -1.42647390514189e-02f;
  return x * p / q;
}

// PyTorch's exact GELU as it writes it, 0.5 · x · (1 + erf(x / √2)).
template <typename T>
__attribute__((always_inline)) inline T gelu(T x) {
  return 0.5f * x * (1.0f + erf_rational<T>(x * 0.70710678118654752f));
}

// Input element offsets (pixel index · Cin) of output pixels [p0, p0 + count), into `off`.
void input_offsets(const Shape& s, int64_t p0, int64_t count, int64_t* off) {
  if (s.stride == 1) {
    for (int64_t i = 0; i < count; ++i) off[i] = (p0 + i) * s.xc;
    return;
  }
  const int64_t per_image = s.oh * s.ow;
  int64_t n = p0 / per_image, i = p0 % per_image / s.ow, j = p0 % s.ow;
  for (int64_t p = 0; p < count; ++p) {
    off[p] = ((n * s.h + s.stride * i) * s.w + s.stride * j) * s.xc;
    if (++j == s.ow) {
      j = 0;
      if (++i == s.oh) i = 0, ++n;
    }
  }
}

#if defined(__x86_64__)
// How a register block reads the kernel rows [c0, c1) of its block of output channels: row c at
// `rows` + (c - c0) · `ld` (in place: the kernel's row c0 and `ld` = Cout; packed: the chunk's copy,
// `ld` = the block's width), its row 0 at `row0` (the moments' shift); and whether it prefetches the
// next block's input rows (`fetch_input`).
struct Slice {
  const float* rows;
  int64_t ld;
  const float* row0;
  bool fetch_input;
  // The next chunk's kernel rows (`ahead`, Cout floats apart, `ahead_lines` cache lines: U per row),
  // prefetched into L2 a line per step by the chunk's full register blocks, so that its copy reads
  // them from L2 (null where the chunks are not copied). A chunk's copy otherwise waits on memory, one
  // page per row: with 49 pixels the register blocks use each kernel float 49 times, and ConvNeXt-T's
  // batch-1 stage-4 (49, 768) × (768, 3072) ran at 149 GFLOP/s with its weights in memory against 177
  // in L3 (173 with this). Whole models at batch 1, paired: 1.02-1.07×, batch 8 level.
  const float* ahead = nullptr;
  int64_t ahead_ld = 0;
  int64_t ahead_lines = 0;
};

// R pixels (input offsets `off`) × U·16 channels: input channels [c0, c1) added to what y holds
// (nothing when `first`), and the epilogue applied when `last`. Reads off[R, 2R) for prefetching.
// With M, the kernel rows [c0, c1) it loads also go into the moments' sums `m`. With M or P (the first
// block of a chunk: the kernel rows come from L3 or memory, Cout floats apart, where the hardware
// prefetcher does not follow) it prefetches the kernel rows kAhead ahead.
constexpr int64_t kAhead = 24;
template <int U, int R, bool M = false, bool P = false, bool A = false>
__attribute__((always_inline)) inline void micro(const Shape& s, const float* x, const int64_t* off, const Slice& k,
                                                 float* y, int64_t c0, int64_t c1, bool first, bool last,
                                                 const Epilogue& e, zoo::ColumnSums* m = nullptr,
                                                 int64_t ahead_base = 0) {
  [[maybe_unused]] vec sh[U], m1[U] = {}, m2[U] = {};  // the moments' shift (kernel row 0) and partial sums
  if constexpr (M) {
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) sh[u] = load(k.row0 + u * 16);
  }
  const float* xr[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) xr[r] = x + off[r];
  vec acc[R][U];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) acc[r][u] = first ? vec{} : load(y + r * s.cout + u * 16);
  auto step = [&](int64_t c) __attribute__((always_inline)) {
    // Every 16 channels, a cache line of each of the next block's input rows: the hardware
    // prefetcher keeps up with R rows read side by side only partly (56² × 256 channels: +35%).
    if (k.fetch_input && ((c - c0) & 15) == 0) {
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) __builtin_prefetch(x + off[R + r] + c, 0, 3);
    }
    if constexpr (M || P) {
#pragma GCC unroll 4
      for (int u = 0; u < U; ++u) __builtin_prefetch(k.rows + (c - c0 + kAhead) * k.ld + u * 16, 0, 3);
    }
    if constexpr (A) {
      const int64_t line = ahead_base + (c - c0);
      if (line < k.ahead_lines) __builtin_prefetch(k.ahead + line / U * k.ahead_ld + line % U * 16, 0, 2);
    }
    vec kv[U];
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) kv[u] = load(k.rows + (c - c0) * k.ld + u * 16);
    if constexpr (M) zoo::ColumnSums::accumulate<U>(kv, sh, m1, m2);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const float xv = xr[r][c];
#pragma GCC unroll 4
      for (int u = 0; u < U; ++u) acc[r][u] += kv[u] * xv;
    }
  };
  zoo::ColumnSums::rows<M, U>(c0, c1, m, m1, m2, step, k.ld <= 256);
  if (last) {
    const vec zero{};
    int64_t row[R];  // each pixel's offset into scale and shift: its image's row (0 when shared)
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) row[r] = e.image_stride ? (e.p0 + r) / e.per_image * e.image_stride : 0;
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) {
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        vec v = acc[r][u] * load(e.scale + row[r] + u * 16) + load(e.shift + row[r] + u * 16);
        if (e.residual) v += load(e.residual + r * s.cout + u * 16);
        if (e.relu) v = v < zero ? zero : v;  // NaN stays NaN, as max(v, 0)
        if (e.gelu) v = gelu(v);
        acc[r][u] = v;
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) store(y + r * s.cout + u * 16, acc[r][u]);
}

// Blocks of B pixels from pixel `p` while `whole` (all that fit) or once (if one fits); advances `p`.
template <int U, int B>
__attribute__((always_inline)) inline void blocks(const Shape& s, const float* x, const int64_t* off, int64_t count,
                                                  const Slice& k, float* y, int64_t c0, int64_t c1, bool first,
                                                  bool last, const Epilogue& e, int64_t& p, bool whole) {
  while (p + B <= count) {
    Epilogue at = e;
    if (e.residual) at.residual += p * s.cout;
    at.p0 += p;
    const int64_t base = p / B * (c1 - c0);
    if (k.ahead && base < k.ahead_lines) {
      micro<U, B, false, false, true>(s, x, off + p, k, y + p * s.cout, c0, c1, first, last, at, nullptr, base);
    } else {
      micro<U, B>(s, x, off + p, k, y + p * s.cout, c0, c1, first, last, at);
    }
    p += B;
    if (!whole) return;
  }
}

// `count` pixels in blocks of R, then the tail in blocks of 8, 4, 2, 1. The first block prefetches the
// chunk's kernel rows for the rest; with `m` it (R pixels: the caller checks there are) also takes the
// moments.
template <int U, int R>
__attribute__((always_inline)) inline void pixels(const Shape& s, const float* x, const int64_t* off, int64_t count,
                                                  const Slice& k, float* y, int64_t c0, int64_t c1, bool first,
                                                  bool last, const Epilogue& e, zoo::ColumnSums* m) {
  int64_t p = 0;
  if (m) {
    micro<U, R, true>(s, x, off, k, y, c0, c1, first, last, e, m), p = R;
  } else if (count >= R && k.ld == s.cout) {  // in place (a packed chunk's copy prefetched its rows)
    micro<U, R, false, true>(s, x, off, k, y, c0, c1, first, last, e), p = R;
  }
  blocks<U, R>(s, x, off, count, k, y, c0, c1, first, last, e, p, true);
  if constexpr (R > 8) blocks<U, 8>(s, x, off, count, k, y, c0, c1, first, last, e, p, false);
  if constexpr (R > 4) blocks<U, 4>(s, x, off, count, k, y, c0, c1, first, last, e, p, false);
  if constexpr (R > 2) blocks<U, 2>(s, x, off, count, k, y, c0, c1, first, last, e, p, false);
  blocks<U, 1>(s, x, off, count, k, y, c0, c1, first, last, e, p, true);
}

__attribute__((target("avx512f"))) void item_avx512(const Shape& s, const float* x, const int64_t* off,
                                                    int64_t count, const float* k, float* y, int64_t width,
                                                    const Epilogue& e, zoo::ColumnSums* m, float* packed,
                                                    bool fetch_input, const float* prepacked, const float* next_k) {
  // Chunks within one run of x: kernel rows [r0, r0 + run) read patch row r0 / run, W·Cin floats below
  // the previous one, through `xs` (x shifted so that row c of the kernel meets xs + off[p] + c).
  for (int64_t r0 = 0; r0 < s.cin; r0 += s.run) {
    const float* xs = x + r0 / s.run * (s.w * s.xc - s.run);
    for (int64_t c0 = r0; c0 < r0 + s.run; c0 += s.cin_block) {
      const int64_t c1 = std::min(r0 + s.run, c0 + s.cin_block);
      const bool first = c0 == 0, last = c1 == s.cin;
      // With `packed`, the chunk's kernel rows are first copied side by side (rows of `width` floats,
      // 64-byte aligned), rows kAhead ahead prefetched: read in place, rows Cout floats apart, a chunk
      // of a wide kernel falls into a few of L1's sets (Cout 768: 3 KiB apart, 16 of its 64 sets; 3072:
      // 4) and every register block reads it from L2 again.
      Slice slice{k + c0 * s.cout, s.cout, k, fetch_input};
      if (prepacked) {  // the block's rows side by side for all of Cin (`pack_blocks`)
        slice = Slice{prepacked + c0 * width, width, prepacked, fetch_input};
      } else if (packed) {
        for (int64_t c = c0; c < c1; ++c) {
          for (int64_t o = 0; o < width; o += 16) __builtin_prefetch(k + (c + kAhead) * s.cout + o, 0, 3);
          std::memcpy(packed + (c - c0) * width, k + c * s.cout, width * sizeof(float));
        }
        slice.rows = packed, slice.ld = width;
        // The next chunk: this block's rows from c1 on, or the next item's first rows.
        const float* ahead = c1 < s.cin ? k + c1 * s.cout : next_k;
        if (ahead) {
          const int64_t from = c1 < s.cin ? c1 : 0;
          slice.ahead = ahead, slice.ahead_ld = s.cout;
          slice.ahead_lines = std::min(s.cin_block, s.cin - from) * (width / 16);
        }
      }
      switch (width / 16) {
        case 4: pixels<4, 6>(s, xs, off, count, slice, y, c0, c1, first, last, e, m); break;
        case 3: pixels<3, 8>(s, xs, off, count, slice, y, c0, c1, first, last, e, m); break;
        case 2: pixels<2, 12>(s, xs, off, count, slice, y, c0, c1, first, last, e, m); break;
        default: pixels<1, 16>(s, xs, off, count, slice, y, c0, c1, first, last, e, m); break;
      }
    }
  }
}
#endif

// The pixels of the AVX-512 loop's first register block for `width` output channels.
int64_t first_block(int64_t width) {
  switch (width / 16) {
    case 4: return 6;
    case 3: return 8;
    case 2: return 12;
    default: return 16;
  }
}

// The same item, plainly (CPUs without AVX-512): per pixel, each input value times the kernel row
// of the block's output channels, added to the output row, then the epilogue.
void item_portable(const Shape& s, const float* x, const int64_t* off, int64_t count, const float* k, float* y,
                   int64_t width, const Epilogue& e) {
  for (int64_t p = 0; p < count; ++p) {
    float* out = y + p * s.cout;
    std::fill(out, out + width, 0.0f);
    for (int64_t c = 0; c < s.cin; ++c) {
      const float in = x[off[p] + c / s.run * s.w * s.xc + c % s.run];  // patch row c / run, its element c % run
      for (int64_t o = 0; o < width; ++o) out[o] += in * k[c * s.cout + o];
    }
    const int64_t row = e.image_stride ? (e.p0 + p) / e.per_image * e.image_stride : 0;
    for (int64_t o = 0; o < width; ++o) {
      float v = out[o] * e.scale[row + o] + e.shift[row + o];
      if (e.residual) v += e.residual[p * s.cout + o];
      v = e.relu && v < 0.0f ? 0.0f : v;
      out[o] = e.gelu ? gelu(v) : v;
    }
  }
}

// Whether the AVX-512 loop runs (else the plain one).
bool avx512_loop(const Shape& s, bool portable) {
  if (portable || s.cin == 0) return false;  // no input channels: the plain loop
#if defined(__x86_64__) && !defined(ZOO_POINTWISE_PORTABLE)
  static const bool has_avx512 = __builtin_cpu_supports("avx512f");
  return has_avx512;
#else
  return false;
#endif
}

// Whether every block's kernel columns are first copied side by side for all of Cin (`pack_blocks`),
// where the AVX-512 loop runs over two or more tiles of at least kPackTile pixels, and
//  - the kernel is wide (Cout >= kPackCout): one copy instead of one per chunk and item;
//  - or a block's rows are >= 1 KiB apart and at most 128 deep (Cout >= 256, Cin <= 128), where the
//    packed block fits in L1 and the rows read in place fall into a quarter of its sets;
//  - or it is 2 MiB or more, read again by every tile from L3 or memory.
// Medians of paired calls on both Xeon cores (old / new): (25088, 96) × (96, 384) 1.06-1.10×,
// (1568, 1536) × (1536, 384) 1.05×, (1568, 384) × (384, 1536) 1.05×, (1576, 768) × (768, 3072) 1.10×.
// Not for small kernels read by a few tiles from L2 in place, where the copy only costs: every kernel
// packed gave (784, 512) × (512, 128) 0.89×, (784, 768) × (768, 192) 0.91-0.95×, (3136, 256) × (256, 64) 0.95×.
bool prepacks(const Shape& s, bool portable) {
  const bool pays = s.cout >= kPackCout || (s.cin <= 128 && s.cout >= 256) || s.cin * s.cout >= (int64_t{1} << 19);
  return pays && avx512_loop(s, portable) && s.tiles() >= 2 && s.tile >= kPackTile;
}

// Blocks [b0, b1) of the kernel's 64 output channels copied into `dst` (64-byte aligned): block b at
// dst + 64·b·Cin, its Cin rows of `width` floats side by side.
void pack_blocks(const Shape& s, const float* k, float* dst, int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t o0 = b * 64, width = std::min<int64_t>(64, s.cout - o0);
    float* out = dst + o0 * s.cin;
    for (int64_t c = 0; c < s.cin; ++c) {
      for (int64_t o = 0; o < width; o += 16) __builtin_prefetch(k + (c + kAhead) * s.cout + o0 + o, 0, 3);
      std::memcpy(out + c * width, k + c * s.cout + o0, width * sizeof(float));
    }
  }
}

// The first output channel of work item `item`'s block (items as in `run`).
int64_t item_o0(const Shape& s, int64_t item) {
  return (s.tile_major ? item % s.blocks() : item / s.tiles()) * 64;
}

// Work items [first, last): tile t's pixels × output channels [64·b, 64·b + 64), item t · blocks + b
// where `tile_major`, else b · tiles + t. With `moments` (a (2, Cout) result), tile 0's item of each
// block takes the block's moments in its first register block (or plainly, where it has too few
// pixels or the loop is the plain one).
void run(const Shape& s, bool portable, const float* x, const float* k, float* y, float* moments, Epilogue e,
         int64_t first, int64_t last, const float* prepacked = nullptr, const Prologue& pro = Prologue{}) {
  const bool avx512 = avx512_loop(s, portable);
  std::vector<int64_t> off(s.tile + 16);  // past the tile: zeros, read by the last blocks' prefetches
  int64_t offsets_of = -1;  // the tile whose offsets `off` holds
  // Each chunk of a wide kernel (Cout >= kPackCout) is copied here before the tile reads it
  // (`item_avx512`; chunks of at most kSmallTileChunk channels in tiles under kPackTile pixels).
  const bool pack = avx512 && !prepacked && s.cout >= kPackCout;
  zoo::AlignedFloats pack_store(pack ? s.cin_block * 64 : 0);
  float* packed = pack ? pack_store.data() : nullptr;
  const int64_t blocks = s.blocks(), tiles = s.tiles();
  for (int64_t item = first; item < last; ++item) {
    const int64_t t = s.tile_major ? item / blocks : item % tiles;
    const int64_t o0 = item_o0(s, item), p0 = t * s.tile;
    const int64_t count = std::min(s.tile, s.pixels() - p0), width = std::min<int64_t>(64, s.cout - o0);
    const bool new_tile = t != offsets_of;
    if (new_tile) input_offsets(s, p0, count, off.data()), offsets_of = t;
    // With a prologue, the tile's input rows as the prologue leaves them, in the thread's buffer (kept for
    // its next calls, as the packed kernel), read through `xt` at the same offsets as x.
    thread_local zoo::AlignedFloats tile_store;
    const float* xt = x;
    if (pro.scale) {
      if (new_tile) {
        if (tile_store.size() < static_cast<size_t>(s.tile * s.cin)) tile_store.resize(s.tile * s.cin);
        apply_prologue(pro, x, s.cin, s.oh * s.ow, p0, count, tile_store.data());
      }
      xt = tile_store.data() - p0 * s.cin;
    }
    const Epilogue at{e.scale + o0, e.shift + o0, e.residual ? e.residual + p0 * s.cout + o0 : nullptr, e.relu,
                      e.gelu, e.image_stride, e.per_image, p0};
    float* yo = y + p0 * s.cout + o0;
    zoo::ColumnSums sums;
    const bool takes = moments && t == 0, in_block = takes && avx512 && count >= first_block(width);
    if (takes && !in_block) sums.add_rows(k + o0, s.cin, s.cout, width);
#if defined(__x86_64__)
    if (avx512) {
      // Prefetching the next block's input rows pays where they come from memory; with a packed kernel
      // the items after a tile's first find them in L2, and the prefetches into L1 only crowd out the
      // kernel's chunk (ViT-B's (1576, 768) × (768, 3072) on one Xeon core: 130 → 140 GFLOP/s).
      item_avx512(s, xt, off.data(), count, k + o0, yo, width, at, in_block ? &sums : nullptr, packed,
                  !(packed || prepacked) || new_tile, prepacked ? prepacked + o0 * s.cin : nullptr,
                  packed && item + 1 < last ? k + item_o0(s, item + 1) : nullptr);
    } else {
      item_portable(s, xt, off.data(), count, k + o0, yo, width, at);
    }
#else
    item_portable(s, xt, off.data(), count, k + o0, yo, width, at);
#endif
    if (takes) sums.finish(k + o0, s.cin, width, moments + o0, s.cout);
  }
}

// Whether items tile by tile move fewer floats into L2 than block by block, each thread taking a
// contiguous share of them. Block by block, a thread reads all the input again for each of its blocks
// unless the input fits in L2 (kL2Floats), and the kernel once; tile by tile, it reads the whole
// kernel again for each of its tiles unless the kernel fits, and a tile's input once where the tile
// fits, else again for each block. E.g. (1568, 384) × (384, 1536) on both Xeon cores: 1.06× tile by
// tile (the kernel read 5 times against the input 24 times); (392, 768) × (768, 3072) 0.975× (the input
// fits in L2: block by block reads everything once).
constexpr int64_t kL2Floats = 384 << 10;  // 1.5 MiB of the Xeon's 2 MiB per core
bool tile_major_reads_less(const Shape& s, int64_t threads) {
  const int64_t input = s.pixels() * s.cin, kernel = s.cin * s.cout, blocks = s.blocks(), tiles = s.tiles();
  const int64_t by_block = kernel + (input <= kL2Floats ? threads * input : blocks * input);
  const int64_t by_tile = (kernel <= kL2Floats ? threads * kernel : tiles * kernel) +
                          (s.tile * s.cin <= kL2Floats ? input : blocks * input);
  return by_tile <= by_block;
}

// Tiles of equal size (a multiple of 6 pixels) whose input rows stay within ~512 KiB of L2 over at
// most two chunks of `cin_block` channels (tile × min(Cin, 2·cin_block) floats), and at least ~16
// items to spread over the `threads` where the pixels allow, unless the blocks of output channels alone
// give each thread 4. Each item reads its block's whole kernel (Cin × 64 floats) once, so every tile
// reads the whole kernel again: a tile sized by all of a wide Cin (3072: 42 pixels) did so every few
// register blocks (392 × 3072 → 768 on a 2-core Xeon: 186 against 250 GFLOP/s), and splitting
// ConvNeXt-T's batch-1 stage-4 fc2 (49 pixels × 3072 → 768, 12 blocks) into two tiles for the threads
// read its 9.4 MB kernel twice. With 8 tiles or more the items go tile by tile; with fewer, block by
// block (the threads' contiguous ranges of items then share the tiles evenly, where tile by tile one
// thread could get a tile and the other the short last one) unless tile by tile moves fewer floats
// into L2 (`tile_major_reads_less`: ConvNeXt-T 1.015-1.017×, ResNet-50 1.013-1.018×).
void choose_tiles(Shape& s, int64_t threads) {
  const int64_t m = s.pixels(), blocks = s.blocks();
  const int64_t chunk = std::max<int64_t>(std::min(s.cin, 2 * s.cin_block), 1);
  const int64_t cached = std::max<int64_t>(6, (int64_t{1} << 17) / chunk);
  int64_t tiles = (m + cached - 1) / cached;
  if (tiles * blocks < 16 && blocks < 4 * threads) tiles = std::min((m + 5) / 6, (16 + blocks - 1) / blocks);
  s.tile = ((m + tiles - 1) / tiles + 5) / 6 * 6;
  s.tile_major = s.tiles() >= 8 || (s.tiles() >= 2 && tile_major_reads_less(s, threads));
}

// scale and shift: (Cout,), or (N, Cout) per image.
template <typename Dims>
bool affine_ok(const Dims& d, int64_t n, int64_t cout) {
  return (d.size() == 1 && d[0] == cout) || (d.size() == 2 && d[0] == n && d[1] == cout);
}

// The threads a call spreads over: the pool's, at most `max_threads` where that is positive.
int64_t pool_threads(ffi::ThreadPool& pool, int64_t max_threads) {
  return max_threads > 0 ? std::min<int64_t>(max_threads, pool.num_threads()) : pool.num_threads();
}

// Tiles, their order and the chunk of input channels for a GEMM spread over `threads`.
void plan(Shape& s, int64_t threads, bool prologue) {
  choose_tiles(s, threads);
  if (s.cout >= kPackCout && s.tile < kPackTile) s.cin_block = std::min(s.cin_block, kSmallTileChunk);
  // A prologue transforms a thread's tile once where the thread's items go tile by tile; block by block,
  // every item would do it again (ConvNeXt-V2-T's batch-1 fc2 at stage 3, 3 tiles × 6 blocks: 0.93×).
  if (prologue) s.tile_major = true;
}

// Packed kernels live in buffers of the calling thread's, kept for its next calls (a fresh one would
// page-fault on every call: 3.2 µs per 4 KiB page on the AMD EPYC of docs/performance.md): store 0 for a
// pointwise call or an MLP's fc1, store 1 for an MLP's fc2.
zoo::AlignedFloats& packed_kernels(int i) {
  thread_local zoo::AlignedFloats stores[2];
  return stores[i];
}

// The kernel's blocks packed into `store` where `prepacks` says it pays (else null).
const float* pack_kernel(ffi::ThreadPool& pool, const Shape& s, bool portable, const float* k,
                         zoo::AlignedFloats& store, int64_t max_threads) {
  if (!prepacks(s, portable)) return nullptr;
  if (store.size() < static_cast<size_t>(s.blocks() * 64 * s.cin)) store.resize(s.blocks() * 64 * s.cin);
  float* packed = store.data();
  // Split over the threads from 2^16 floats (256 KiB) on, below on this thread alone: a hand-off costs
  // more than a small kernel's copy, and a larger one copied by one thread while the others wait cost
  // (784, 192) × (192, 768) 6% (0.92× against 0.97× split).
  zoo::parallel_ranges(pool, s.blocks(), 16 * s.cin * s.cout, max_threads, [&](int64_t first, int64_t last) {
    pack_blocks(s, k, packed, first, last);
  });
  return packed;
}

// The residual, the first of `rest`: its data where it is float32 and shaped as y (dimensions `yd`), else null.
template <typename Dims>
const float* residual_of(ffi::RemainingArgs& rest, const Dims& yd) {
  const auto r = rest.get<ffi::Buffer<ffi::F32>>(0);
  if (!r.has_value() || r->dimensions().size() != 4 || !std::equal(yd.begin(), yd.end(), r->dimensions().begin())) {
    return nullptr;
  }
  return r->typed_data();
}

// The conv with its epilogue, and with `moments` (a (2, Cout) result, else null) each output
// channel's kernel mean and biased variance over Cin, taken as the conv reads the kernel.
ffi::Error Conv(ffi::ThreadPool& pool, ffi::Buffer<ffi::F32>& x, ffi::Buffer<ffi::F32>& kernel,
                ffi::Buffer<ffi::F32>& scale, ffi::Buffer<ffi::F32>& shift, ffi::RemainingArgs& rest,
                ffi::ResultBuffer<ffi::F32>& y, float* moments, int64_t stride, int64_t relu, int64_t gelu,
                int64_t has_residual, int64_t cin_block, int64_t max_threads, int64_t portable, int64_t prologue,
                float prologue_eps) {
  const auto xd = x.dimensions();
  const auto kd = kernel.dimensions();
  const auto yd = y->dimensions();
  // A (s·s·Cin, Cout) kernel with stride s >= 2 is a patch conv; else a 1×1 conv at stride 1 or 2.
  const bool patch = xd.size() == 4 && kd.size() == 2 && stride >= 2 && kd[0] == stride * stride * xd[3] && xd[3] > 0;
  const bool shapes_ok =
      xd.size() == 4 && kd.size() == 2 && yd.size() == 4 && (kd[0] == xd[3] || patch) && kd[1] % 16 == 0 &&
      (stride == 1 || stride == 2 || patch) && !(relu && gelu) && yd[0] == xd[0] &&
      yd[1] == (patch ? xd[1] / stride : (xd[1] - 1) / stride + 1) &&
      yd[2] == (patch ? xd[2] / stride : (xd[2] - 1) / stride + 1) && yd[3] == kd[1] &&
      affine_ok(scale.dimensions(), xd[0], kd[1]) &&
      std::equal(scale.dimensions().begin(), scale.dimensions().end(), shift.dimensions().begin(),
                 shift.dimensions().end()) && cin_block >= 1 && prologue >= 0 && prologue <= 3 &&
      rest.size() == (has_residual ? 1u : 0u) + (prologue ? 2u : 0u);
  if (!shapes_ok) {
    return ffi::Error::InvalidArgument(
        "zoo_pointwise: expected x (N, H, W, Cin), kernel (Cin, Cout) with Cout % 16 == 0 at stride 1 or 2 and y "
        "(N, (H - 1) / stride + 1, (W - 1) / stride + 1, Cout), or a patch conv's kernel (stride·stride·Cin, Cout) "
        "at stride >= 2 and y (N, H / stride, W / stride, Cout), scale and shift both (Cout,) or both (N, Cout), "
        "a residual shaped as y exactly where has_residual, and at most one of relu and gelu");
  }
  const float* residual = nullptr;
  if (has_residual && !(residual = residual_of(rest, yd))) {
    return ffi::Error::InvalidArgument("zoo_pointwise: the residual must be float32 shaped as y");
  }
  // The prologue's (N, Cin) scale and shift follow the residual; a 1×1 conv at stride 1 only.
  Prologue pro;
  if (prologue) {
    const auto a = rest.get<ffi::Buffer<ffi::F32>>(has_residual ? 1 : 0);
    const auto b = rest.get<ffi::Buffer<ffi::F32>>(has_residual ? 2 : 1);
    const auto rows_ok = [&](const auto& buf) {
      return buf.has_value() && buf->dimensions().size() == 2 && buf->dimensions()[0] == xd[0] &&
             buf->dimensions()[1] == xd[3];
    };
    if (patch || stride != 1 || !rows_ok(a) || !rows_ok(b)) {
      return ffi::Error::InvalidArgument("zoo_pointwise: a prologue needs a 1×1 conv at stride 1 and its scale and "
                                         "shift float32 (N, Cin)");
    }
    pro = Prologue{a->typed_data(), b->typed_data(), prologue == 2, prologue == 3, prologue_eps};
  }
  Shape s{xd[0], xd[1], xd[2], kd[0], kd[1], yd[1], yd[2], stride, cin_block, 0, true, xd[3],
          patch ? stride * xd[3] : kd[0]};
  if (moments && s.cin == 0) {
    return ffi::Error::InvalidArgument("zoo_pointwise_moments: the kernel has no input channels to take moments over");
  }
  if (s.pixels() == 0) {  // nothing to convolve: the moments alone
    for (int64_t o0 = 0; moments && o0 < s.cout; o0 += 64) {
      zoo::ColumnSums sums;
      sums.add_rows(kernel.typed_data() + o0, s.cin, s.cout, std::min<int64_t>(64, s.cout - o0));
      sums.finish(kernel.typed_data() + o0, s.cin, std::min<int64_t>(64, s.cout - o0), moments + o0, s.cout);
    }
    return ffi::Error::Success();
  }
  plan(s, pool_threads(pool, max_threads), pro.scale != nullptr);
  const float* xp = x.typed_data();
  const float* kp = kernel.typed_data();
  float* yp = y->typed_data();
  const Epilogue e{scale.typed_data(), shift.typed_data(), residual, relu != 0, gelu != 0,
                   scale.dimensions().size() == 2 ? s.cout : 0, s.oh * s.ow, 0};
  const int64_t flops = s.pixels() * s.cout * std::max<int64_t>(s.cin, 1);
  const float* prepacked = pack_kernel(pool, s, portable != 0, kp, packed_kernels(0), max_threads);
  zoo::parallel_ranges(pool, s.tiles() * s.blocks(), flops, max_threads, [&](int64_t first, int64_t last) {
    run(s, portable != 0, xp, kp, yp, moments, e, first, last, prepacked, pro);
  });
  return ffi::Error::Success();
}

ffi::Error Pointwise(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> kernel,
                     ffi::Buffer<ffi::F32> scale, ffi::Buffer<ffi::F32> shift, ffi::RemainingArgs rest,
                     ffi::ResultBuffer<ffi::F32> y, int64_t stride, int64_t relu, int64_t gelu,
                     int64_t has_residual, int64_t cin_block, int64_t max_threads, int64_t portable,
                     int64_t prologue, float prologue_eps) {
  return Conv(pool, x, kernel, scale, shift, rest, y, nullptr, stride, relu, gelu, has_residual, cin_block,
              max_threads, portable, prologue, prologue_eps);
}

ffi::Error PointwiseMoments(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> kernel,
                            ffi::Buffer<ffi::F32> scale, ffi::Buffer<ffi::F32> shift, ffi::RemainingArgs rest,
                            ffi::ResultBuffer<ffi::F32> y, ffi::ResultBuffer<ffi::F32> moments, int64_t stride,
                            int64_t relu, int64_t gelu, int64_t has_residual, int64_t cin_block,
                            int64_t max_threads, int64_t portable, int64_t prologue, float prologue_eps) {
  const auto md = moments->dimensions();
  if (md.size() != 2 || md[0] != 2 || kernel.dimensions().size() != 2 || md[1] != kernel.dimensions()[1]) {
    return ffi::Error::InvalidArgument("zoo_pointwise_moments: expected a (2, Cout) moments result");
  }
  return Conv(pool, x, kernel, scale, shift, rest, y, moments->typed_data(), stride, relu, gelu, has_residual,
              cin_block, max_threads, portable, prologue, prologue_eps);
}

// An MLP, fc2(gelu(fc1(x'))) with each layer's affine and fc2's residual, x' = x or LayerNorm(x) (a ViT
// block's norm2 as fc1's prologue): x (N, H, W, K) rows, fc1's kernel (K, D) and scale and shift (D,),
// fc2's kernel (D, O) and scale and shift (O,), then the residual (N, H, W, O) where `has_residual` and the
// norm's scale and shift (K,) where `layer_norm`. The rows go in chunks of pixels whose D hidden values
// (at most `chunk_floats` of them, 4 MiB) stay in cache between the two layers: fc1 over a chunk into a
// buffer of the calling thread's, then fc2 from it, each spread over the threads as one pointwise call.
// The hidden activations never reach memory, and XLA's per-call buffer does not hold them (ConvNeXt-T at
// batch 8: 38.5 MB of them in each stage-1 block, the buffer 59 MB, over glibc's 32 MB reuse threshold).
ffi::Error MlpCall(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> k1,
                   ffi::Buffer<ffi::F32> scale1, ffi::Buffer<ffi::F32> shift1, ffi::Buffer<ffi::F32> k2,
                   ffi::Buffer<ffi::F32> scale2, ffi::Buffer<ffi::F32> shift2, ffi::RemainingArgs rest,
                   ffi::ResultBuffer<ffi::F32> y, int64_t has_residual, int64_t layer_norm, float eps,
                   int64_t cin_block, int64_t max_threads, int64_t portable, int64_t chunk_floats) {
  const auto xd = x.dimensions(), ad = k1.dimensions(), bd = k2.dimensions(), yd = y->dimensions();
  const auto is_vec = [](const auto& d, int64_t n) { return d.size() == 1 && d[0] == n; };
  const bool shapes_ok = xd.size() == 4 && ad.size() == 2 && bd.size() == 2 && yd.size() == 4 && ad[0] == xd[3] &&
                         bd[0] == ad[1] && ad[1] % 16 == 0 && bd[1] % 16 == 0 && yd[0] == xd[0] &&
                         yd[1] == xd[1] && yd[2] == xd[2] && yd[3] == bd[1] && is_vec(scale1.dimensions(), ad[1]) &&
                         is_vec(shift1.dimensions(), ad[1]) && is_vec(scale2.dimensions(), bd[1]) &&
                         is_vec(shift2.dimensions(), bd[1]) && cin_block >= 1 && chunk_floats >= 1 &&
                         rest.size() == (has_residual ? 1u : 0u) + (layer_norm ? 2u : 0u);
  if (!shapes_ok) {
    return ffi::Error::InvalidArgument(
        "zoo_pointwise_mlp: expected x (N, H, W, K), fc1's kernel (K, D), scale and shift (D,), fc2's kernel (D, O), "
        "scale and shift (O,), D and O multiples of 16, y (N, H, W, O), then a residual shaped as y where "
        "has_residual and the norm's scale and shift (K,) where layer_norm");
  }
  const int64_t k = xd[3], d = ad[1], o = bd[1], m = xd[0] * xd[1] * xd[2];
  const float* residual = nullptr;
  if (has_residual && !(residual = residual_of(rest, yd))) {
    return ffi::Error::InvalidArgument("zoo_pointwise_mlp: the residual must be float32 shaped as y");
  }
  Prologue pro;
  if (layer_norm) {
    const auto a = rest.get<ffi::Buffer<ffi::F32>>(has_residual ? 1 : 0);
    const auto b = rest.get<ffi::Buffer<ffi::F32>>(has_residual ? 2 : 1);
    if (!a.has_value() || !b.has_value() || !is_vec(a->dimensions(), k) || !is_vec(b->dimensions(), k)) {
      return ffi::Error::InvalidArgument("zoo_pointwise_mlp: the norm's scale and shift must be float32 (K,)");
    }
    pro = Prologue{a->typed_data(), b->typed_data(), false, true, eps};
  }
  if (m == 0) return ffi::Error::Success();
  const int64_t threads = pool_threads(pool, max_threads);
  // Chunks of equal size, a multiple of 6 pixels (the register block), their hidden rows within chunk_floats.
  const int64_t most = std::max<int64_t>(6, chunk_floats / d), chunks = (m + most - 1) / most;
  const int64_t g = std::min(m, ((m + chunks - 1) / chunks + 5) / 6 * 6);
  // A chunk's pixels as one row of an image (the prologue's scale and shift are the same for every image).
  const auto shape = [&](int64_t count, int64_t cin, int64_t cout, bool prologue) {
    Shape s{1, 1, count, cin, cout, 1, count, 1, cin_block, 0, true, cin, cin};
    plan(s, threads, prologue);
    return s;
  };
  thread_local zoo::AlignedFloats hidden_store;
  if (hidden_store.size() < static_cast<size_t>(g * d)) hidden_store.resize(g * d);
  float* hidden = hidden_store.data();
  const float* packed1 =
      pack_kernel(pool, shape(g, k, d, layer_norm), portable != 0, k1.typed_data(), packed_kernels(0), max_threads);
  const float* packed2 =
      pack_kernel(pool, shape(g, d, o, false), portable != 0, k2.typed_data(), packed_kernels(1), max_threads);
  for (int64_t p0 = 0; p0 < m; p0 += g) {
    const int64_t count = std::min(g, m - p0);
    const Shape s1 = shape(count, k, d, layer_norm), s2 = shape(count, d, o, false);
    const Epilogue e1{scale1.typed_data(), shift1.typed_data(), nullptr, false, true, 0, count, 0};
    const Epilogue e2{scale2.typed_data(), shift2.typed_data(), residual ? residual + p0 * o : nullptr, false, false,
                      0, count, 0};
    const float* xp = x.typed_data() + p0 * k;
    zoo::parallel_ranges(pool, s1.tiles() * s1.blocks(), count * k * d, max_threads, [&](int64_t first, int64_t last) {
      run(s1, portable != 0, xp, k1.typed_data(), hidden, nullptr, e1, first, last, packed1, pro);
    });
    float* yp = y->typed_data() + p0 * o;
    zoo::parallel_ranges(pool, s2.tiles() * s2.blocks(), count * d * o, max_threads, [&](int64_t first, int64_t last) {
      run(s2, portable != 0, hidden, k2.typed_data(), yp, nullptr, e2, first, last, packed2);
    });
  }
  return ffi::Error::Success();
}

// The operands and attributes both targets bind, around their results (the moments target has two).
template <typename Results>
auto Bound(Results results) {
  return std::move(results)
      .template Attr<int64_t>("stride")
      .template Attr<int64_t>("relu")
      .template Attr<int64_t>("gelu")
      .template Attr<int64_t>("has_residual")
      .template Attr<int64_t>("cin_block")
      .template Attr<int64_t>("max_threads")
      .template Attr<int64_t>("portable")
      .template Attr<int64_t>("prologue")
      .template Attr<float>("prologue_eps");
}

auto Operands() {
  return ffi::Ffi::Bind()
      .Ctx<ffi::ThreadPool>()
      .Arg<ffi::Buffer<ffi::F32>>()
      .Arg<ffi::Buffer<ffi::F32>>()
      .Arg<ffi::Buffer<ffi::F32>>()
      .Arg<ffi::Buffer<ffi::F32>>()
      .RemainingArgs();
}

}  // namespace

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* ZooPointwise(XLA_FFI_CallFrame* call_frame);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooPointwise, Pointwise, Bound(Operands().Ret<ffi::Buffer<ffi::F32>>()));

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* ZooPointwiseMoments(XLA_FFI_CallFrame* call_frame);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooPointwiseMoments, PointwiseMoments,
                              Bound(Operands().Ret<ffi::Buffer<ffi::F32>>().Ret<ffi::Buffer<ffi::F32>>()));

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* ZooPointwiseMlp(XLA_FFI_CallFrame* call_frame);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooPointwiseMlp, MlpCall,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .RemainingArgs()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("has_residual")
                                  .Attr<int64_t>("layer_norm")
                                  .Attr<float>("eps")
                                  .Attr<int64_t>("cin_block")
                                  .Attr<int64_t>("max_threads")
                                  .Attr<int64_t>("portable")
                                  .Attr<int64_t>("chunk_floats"));
