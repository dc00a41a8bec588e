// Multi-head self-attention, softmax(q kᵀ · scale) v per head, for XLA's CPU backend as an XLA FFI
// handler: a ViT block's attention between its qkv and proj layers, read and written token-major.
//
// float32 qkv (N, T, 3·H·D), the qkv layer's product as it is (channel (s, h, d) at s·H·D + h·D + d,
// s = 0, 1, 2 for q, k, v: timm's `reshape(B, T, 3, H, D)`), and that layer's bias (3·H·D,), added
// here as q, k and v are read (so the layer's output is never written out) → y (N, T, H·D), y[n, t, h·D + d] =
// Σ_j softmax_j(scale · q[t] · k[j]) v[j, d] for head h; D a multiple of 16. The softmax subtracts
// each row's maximum and divides the weighted sum of v by the row's sum of exponentials after the
// second product (one division per output value instead of one per weight).
//
// Work items are (image, head) pairs, spread over XLA's intra-op thread pool. Per item, kᵀ (D × T,
// padded to T16 = T rounded up to 16 columns; 16 × 16 blocks transposed in registers) and v (T × D) are
// copied out once, biased; then per panel of 6 query rows (copied out biased and scaled, the next
// panel's rows prefetched): the 6 × T16 logits in strips of 64 columns (6 × 4 zmm accumulators, q
// broadcast, kᵀ rows as vectors), each row's maximum raised as its logits are stored, exponentials (a
// degree-6 polynomial on the reduced argument, scaled by 2^n: within 2 ulp of expf) and sums (the
// padding's lanes masked out), then the 6 × D output over the T keys (6 × 4 accumulators, the weights
// broadcast, v rows as vectors), divided by the sums as it is stored.
// The panel's logits (6 × T16 floats) stay in L1, kᵀ and v in L1-L2. Other CPUs (or `portable` = 1)
// get a plain loop.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common.h"
#include "xla/ffi/api/ffi.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ffi = xla::ffi;

namespace {

typedef zoo::Vec<16>::type vec;
__attribute__((always_inline)) inline vec load(const float* p) { return zoo::load<16>(p); }
__attribute__((always_inline)) inline void store(float* p, vec v) { zoo::store<16>(p, v); }

constexpr int kRows = 6;  // query rows per panel

struct Shape {
  int64_t n, t, heads, d;
  float scale;
  int64_t t16() const { return (t + 15) / 16 * 16; }
  int64_t in_row() const { return 3 * heads * d; }   // floats per token of qkv
  int64_t out_row() const { return heads * d; }      // floats per token of y
};

struct Buffers {
  zoo::AlignedFloats kt, v, q, logits;  // rows of T16 or D floats: whole cache lines
};

Buffers& thread_buffers() {
  static thread_local Buffers buffers;
  return buffers;
}

// Head h of image n with its biases: kᵀ into kt (D rows of T16 floats, zeros past T) and v into v
// (T rows of D).
void pack_head(const Shape& s, const float* qkv, const float* bias, int64_t n, int64_t h, float* kt, float* v) {
  const int64_t t16 = s.t16();
  const float* bk = bias + (s.heads + h) * s.d;
  const float* bv = bias + (2 * s.heads + h) * s.d;
  const float* head = qkv + n * s.t * s.in_row() + h * s.d;
  for (int64_t j0 = 0; j0 < s.t; j0 += 16) {  // kᵀ 16 keys at a time: each kt row written in runs of 16
    const int64_t keys = std::min<int64_t>(16, s.t - j0);
    for (int64_t c = 0; c < s.d; ++c) {
      const float* k = head + j0 * s.in_row() + s.heads * s.d + c;
      float* dst = kt + c * t16 + j0;
      for (int64_t j = 0; j < keys; ++j) dst[j] = k[j * s.in_row()] + bk[c];
    }
  }
  for (int64_t j = 0; j < s.t; ++j) {
    const float* vr = head + j * s.in_row() + 2 * s.heads * s.d;
    for (int64_t c = 0; c < s.d; ++c) v[j * s.d + c] = vr[c] + bv[c];
  }
  for (int64_t c = 0; c < s.d; ++c) std::fill(kt + c * t16 + s.t, kt + (c + 1) * t16, 0.0f);
}

#if defined(__x86_64__)
// r[i][j] → r[j][i] for a 16 × 16 block of floats in registers (unpack pairs, then 64-bit, 128-bit and
// 256-bit lanes).
__attribute__((target("avx512f"), always_inline)) inline void transpose16(__m512 (&r)[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]), t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

// pack_head with vector loads: per 16 keys, each 16-channel slab of their k rows (biased) transposed in
// registers into kᵀ, their v rows copied biased; the next 16 keys' rows prefetched meanwhile (token
// rows are 3·H·D floats apart in qkv, read once, from L3 or memory: the scalar copy waited on them, 10%
// of the kernel's time at ViT-S's batch 8).
__attribute__((target("avx512f"))) void pack_head_avx512(const Shape& s, const float* qkv, const float* bias,
                                                         int64_t n, int64_t h, float* kt, float* v) {
  const int64_t t16 = s.t16(), row = s.in_row();
  const float* bk = bias + (s.heads + h) * s.d;
  const float* bv = bias + (2 * s.heads + h) * s.d;
  const float* head = qkv + n * s.t * row + h * s.d;
  for (int64_t j0 = 0; j0 < s.t; j0 += 16) {
    const int64_t keys = std::min<int64_t>(16, s.t - j0);
    for (int64_t j = j0 + 16; j < std::min(s.t, j0 + 32); ++j)
      for (int64_t c = 0; c < s.d; c += 16) {
        _mm_prefetch(reinterpret_cast<const char*>(head + j * row + s.heads * s.d + c), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(head + j * row + 2 * s.heads * s.d + c), _MM_HINT_T0);
      }
    for (int64_t c = 0; c < s.d; c += 16) {
      const __m512 b = _mm512_loadu_ps(bk + c);
      __m512 r[16];
      for (int j = 0; j < 16; ++j)
        r[j] = j < keys ? _mm512_add_ps(_mm512_loadu_ps(head + (j0 + j) * row + s.heads * s.d + c), b) : _mm512_setzero_ps();
      transpose16(r);
      for (int i = 0; i < 16; ++i) _mm512_storeu_ps(kt + (c + i) * t16 + j0, r[i]);
      const __m512 b2 = _mm512_loadu_ps(bv + c);
      for (int64_t j = 0; j < keys; ++j)
        _mm512_storeu_ps(v + (j0 + j) * s.d + c,
                         _mm512_add_ps(_mm512_loadu_ps(head + (j0 + j) * row + 2 * s.heads * s.d + c), b2));
    }
  }
}

// e^x for x ≤ 0 (softmax's shifted logits; below ln(FLT_MIN) the result is 0 or a denormal):
// x = n·ln2 + r with |r| ≤ ln2 / 2, e^r as Cephes' expf polynomial, times 2^n by scalef.
__attribute__((target("avx512f"), always_inline)) inline vec exp_nonpositive(vec x) {
  const vec lowest = vec{} - 103.0f;
  x = x < lowest ? lowest : x;
  const __m512 n = _mm512_roundscale_ps((__m512)(x * 1.44269504088896341f), _MM_FROUND_TO_NEAREST_INT);
  const vec nv = (vec)n;
  vec r = x - nv * 0.693359375f;
  r = r - nv * -2.12194440e-4f;
  vec p = vec{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  return (vec)_mm512_scalef_ps((__m512)p, n);
}

// acc = a · b for R rows of a (row r at a + r·lda, `depth` values) and U·16 columns of b (row k at
// b + k·ldb): per k, U vectors of b's row and each row's value broadcast into them.
template <int R, int U>
__attribute__((always_inline)) inline void block_product(int64_t depth, const float* a, int64_t lda, const float* b,
                                                         int64_t ldb, vec (&acc)[R][U]) {
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) acc[r][u] = vec{};
  for (int64_t k = 0; k < depth; ++k) {
    vec bv[U];
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) bv[u] = load(b + k * ldb + u * 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const float av = a[r * lda + k];
#pragma GCC unroll 4
      for (int u = 0; u < U; ++u) acc[r][u] += bv[u] * av;
    }
  }
}

// Logits of R query rows (q: R rows of D, biased and scaled) × U·16 keys from column j0: q · kᵀ, each
// row's running maximum `mx` raised by them (lanes of keys past T left out: their logits, against kᵀ's
// zero padding, are 0).
template <int R, int U>
__attribute__((target("avx512f"), always_inline)) inline void logits_block(const Shape& s, const float* q,
                                                                          const float* kt, int64_t j0, float* out,
                                                                          vec (&mx)[R]) {
  const int64_t t16 = s.t16();
  vec acc[R][U];
  block_product<R, U>(s.d, q, s.d, kt + j0, t16, acc);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) {
      store(out + r * t16 + j0 + u * 16, acc[r][u]);
      const int64_t valid = s.t - j0 - 16 * u;  // keys of this vector within T
      const vec a = valid >= 16 ? acc[r][u]
                                : (vec)_mm512_mask_blend_ps(static_cast<__mmask16>((1u << valid) - 1),
                                                            _mm512_set1_ps(-INFINITY), (__m512)acc[r][u]);
      mx[r] = a > mx[r] ? a : mx[r];
    }
}

// Output of R rows × U·16 channels from channel c0: Σ_j p[r, j] v[j, c0 + …], divided by sum[r].
template <int R, int U>
__attribute__((always_inline)) inline void output_block(const Shape& s, const float* p, const float* v,
                                                        const float* inv_sum, int64_t c0, float* y) {
  vec acc[R][U];
  block_product<R, U>(s.t, p, s.t16(), v + c0, s.d, acc);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) store(y + r * s.out_row() + c0 + u * 16, acc[r][u] * inv_sum[r]);
}

// R query rows from row i0 of head h, image n (q: room for R rows of D).
template <int R>
__attribute__((target("avx512f"), always_inline)) inline void panel(const Shape& s, const float* qkv,
                                                                   const float* bias, int64_t n, int64_t h,
                                                                   int64_t i0, const float* kt, const float* v,
                                                                   float* q, float* logits, float* y) {
  const int64_t t16 = s.t16();
  for (int64_t i = i0 + R; i < std::min(s.t, i0 + 2 * R); ++i)  // the next panel's q rows, from L3 or memory
    for (int64_t c = 0; c < s.d; c += 16)
      _mm_prefetch(reinterpret_cast<const char*>(qkv + (n * s.t + i) * s.in_row() + h * s.d + c), _MM_HINT_T0);
  for (int r = 0; r < R; ++r) {  // (q + bias) · scale, as the composition scales q before its product
    const float* row = qkv + (n * s.t + i0 + r) * s.in_row() + h * s.d;
    for (int64_t c = 0; c < s.d; ++c) q[r * s.d + c] = (row[c] + bias[h * s.d + c]) * s.scale;
  }
  vec mx[R];
  for (int r = 0; r < R; ++r) mx[r] = vec{} - INFINITY;
  int64_t j0 = 0;
  for (; j0 + 64 <= t16; j0 += 64) logits_block<R, 4>(s, q, kt, j0, logits, mx);
  switch ((t16 - j0) / 16) {
    case 3: logits_block<R, 3>(s, q, kt, j0, logits, mx); break;
    case 2: logits_block<R, 2>(s, q, kt, j0, logits, mx); break;
    case 1: logits_block<R, 1>(s, q, kt, j0, logits, mx); break;
    default: break;
  }
  // Exponentials and their sums; the last vector's lanes past T (weights the second product never reads)
  // left out of the sum.
  const __mmask16 tail = static_cast<__mmask16>((1u << (s.t - (t16 - 16))) - 1);
  float inv_sum[R];
  for (int r = 0; r < R; ++r) {
    float* row = logits + r * t16;
    const vec m = vec{} + _mm512_reduce_max_ps((__m512)mx[r]);
    vec sum{};
    for (int64_t j = 0; j < t16 - 16; j += 16) {
      const vec e = exp_nonpositive(load(row + j) - m);
      store(row + j, e);
      sum += e;
    }
    const vec e = exp_nonpositive(load(row + t16 - 16) - m);
    store(row + t16 - 16, e);
    sum += (vec)_mm512_maskz_mov_ps(tail, (__m512)e);
    inv_sum[r] = 1.0f / _mm512_reduce_add_ps((__m512)sum);
  }
  float* out = y + (n * s.t + i0) * s.out_row() + h * s.d;
  int64_t c0 = 0;
  for (; c0 + 64 <= s.d; c0 += 64) output_block<R, 4>(s, logits, v, inv_sum, c0, out);
  switch ((s.d - c0) / 16) {
    case 3: output_block<R, 3>(s, logits, v, inv_sum, c0, out); break;
    case 2: output_block<R, 2>(s, logits, v, inv_sum, c0, out); break;
    case 1: output_block<R, 1>(s, logits, v, inv_sum, c0, out); break;
    default: break;
  }
}

__attribute__((target("avx512f"))) void head_avx512(const Shape& s, const float* qkv, const float* bias, int64_t n,
                                                    int64_t h, Buffers& buf, float* y) {
  pack_head_avx512(s, qkv, bias, n, h, buf.kt.data(), buf.v.data());
  const float *kt = buf.kt.data(), *v = buf.v.data();
  float *q = buf.q.data(), *logits = buf.logits.data();
  int64_t i0 = 0;
  for (; i0 + kRows <= s.t; i0 += kRows) panel<kRows>(s, qkv, bias, n, h, i0, kt, v, q, logits, y);
  switch (s.t - i0) {
    case 5: panel<5>(s, qkv, bias, n, h, i0, kt, v, q, logits, y); break;
    case 4: panel<4>(s, qkv, bias, n, h, i0, kt, v, q, logits, y); break;
    case 3: panel<3>(s, qkv, bias, n, h, i0, kt, v, q, logits, y); break;
    case 2: panel<2>(s, qkv, bias, n, h, i0, kt, v, q, logits, y); break;
    case 1: panel<1>(s, qkv, bias, n, h, i0, kt, v, q, logits, y); break;
    default: break;
  }
}
#endif

// The same head, plainly (CPUs without AVX-512): per query row, the logits, std::exp and the sum.
void head_portable(const Shape& s, const float* qkv, const float* bias, int64_t n, int64_t h, Buffers& buf,
                   float* y) {
  pack_head(s, qkv, bias, n, h, buf.kt.data(), buf.v.data());
  const int64_t t16 = s.t16();
  float *w = buf.logits.data(), *q = buf.q.data();
  for (int64_t i = 0; i < s.t; ++i) {
    const float* row = qkv + (n * s.t + i) * s.in_row() + h * s.d;
    for (int64_t c = 0; c < s.d; ++c) q[c] = (row[c] + bias[h * s.d + c]) * s.scale;
    float mx = -INFINITY;
    for (int64_t j = 0; j < s.t; ++j) {
      float dot = 0.0f;
      for (int64_t c = 0; c < s.d; ++c) dot += q[c] * buf.kt.data()[c * t16 + j];
      w[j] = dot;
      mx = std::max(mx, w[j]);
    }
    float total = 0.0f;
    for (int64_t j = 0; j < s.t; ++j) total += (w[j] = std::exp(w[j] - mx));
    float* out = y + (n * s.t + i) * s.out_row() + h * s.d;
    std::fill(out, out + s.d, 0.0f);
    for (int64_t j = 0; j < s.t; ++j)
      for (int64_t c = 0; c < s.d; ++c) out[c] += w[j] * buf.v.data()[j * s.d + c];
    for (int64_t c = 0; c < s.d; ++c) out[c] /= total;
  }
}

void run(const Shape& s, bool portable, const float* qkv, const float* bias, float* y, int64_t first, int64_t last) {
  bool avx512 = false;
#if defined(__x86_64__)
  static const bool has_avx512 = __builtin_cpu_supports("avx512f");
  avx512 = has_avx512 && !portable;
#endif
  Buffers& buf = thread_buffers();
  const size_t t16 = static_cast<size_t>(s.t16());
  if (buf.kt.size() < t16 * s.d) buf.kt.resize(t16 * s.d);
  if (buf.v.size() < static_cast<size_t>(s.t * s.d)) buf.v.resize(s.t * s.d);
  if (buf.q.size() < static_cast<size_t>(kRows * s.d)) buf.q.resize(kRows * s.d);
  if (buf.logits.size() < std::max<size_t>(kRows * t16, s.t)) buf.logits.resize(std::max<size_t>(kRows * t16, s.t));
  for (int64_t item = first; item < last; ++item) {
    const int64_t n = item / s.heads, h = item % s.heads;
#if defined(__x86_64__)
    if (avx512) {
      head_avx512(s, qkv, bias, n, h, buf, y);
      continue;
    }
#endif
    head_portable(s, qkv, bias, n, h, buf, y);
  }
}

ffi::Error Attention(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> qkv, ffi::Buffer<ffi::F32> bias,
                     ffi::ResultBuffer<ffi::F32> y, int64_t heads, float scale, int64_t max_threads, int64_t portable) {
  const auto xd = qkv.dimensions();
  const auto bd = bias.dimensions();
  const auto yd = y->dimensions();
  const bool shapes_ok = xd.size() == 3 && yd.size() == 3 && heads >= 1 && xd[2] % (3 * heads) == 0 &&
                         (xd[2] / (3 * heads)) % 16 == 0 && yd[0] == xd[0] && yd[1] == xd[1] &&
                         yd[2] == xd[2] / 3 && bd.size() == 1 && bd[0] == xd[2];
  if (!shapes_ok) {
    return ffi::Error::InvalidArgument(
        "zoo_attention: expected qkv (N, T, 3·heads·D) with D a multiple of 16, a bias (3·heads·D,) and y (N, T, "
        "heads·D)");
  }
  const Shape s{xd[0], xd[1], heads, xd[2] / (3 * heads), scale};
  if (s.n == 0 || s.t == 0 || s.d == 0) return ffi::Error::Success();
  const float* xp = qkv.typed_data();
  const float* bp = bias.typed_data();
  float* yp = y->typed_data();
  const int64_t flops = 2 * s.n * s.heads * s.t * s.t * s.d;
  zoo::parallel_ranges(pool, s.n * s.heads, flops, max_threads,
                       [&](int64_t first, int64_t last) { run(s, portable != 0, xp, bp, yp, first, last); });
  return ffi::Error::Success();
}

}  // namespace

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* ZooAttention(XLA_FFI_CallFrame* call_frame);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooAttention, Attention,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("heads")
                                  .Attr<float>("scale")
                                  .Attr<int64_t>("max_threads")
                                  .Attr<int64_t>("portable"));
