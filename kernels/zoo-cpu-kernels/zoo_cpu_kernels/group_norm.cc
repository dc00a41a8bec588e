// GroupNorm followed by ReLU on NHWC images as one XLA FFI handler (BiT's pre-activation norms), where
// XLA runs a statistics pass, a dozen small ops on the (N, C) statistics and an apply pass, each
// writing its result out.
//
// x is (N, ..., C) float32, viewed as N images of P = H·W rows of C channels (C a multiple of 16).
// params is (4, C): the norm's scale (gamma) and shift (beta), then, where `folded`, the per-channel
// mean m and biased variance v of a weight-standardized conv's raw kernel, with `sums` (N, ..., ) the
// window sums S of that conv's input at each output pixel: the conv's output is then
// z = (x - S·m) / sqrt(v + std_eps) (zoo_core.nn.StdConv2d's fold), normalized here without being
// written out. Unfolded, z = x.
//
// Two passes over x. The first takes each image's per-channel sums of d = z - z[row 0] and d² (float32
// over runs of 16 rows, then double: the shift keeps a mean that is large against the spread from
// cancelling the variance away), rows split over XLA's intra-op thread pool, each part into its own
// sums, added in part order so the result does not depend on the threads. The calling thread then
// forms each group's mean and biased variance (its channels' mean variance plus the variance of their
// means). The second pass writes y = relu?((z - mean) · gamma / sqrt(var + eps) + beta) row by row and, where `emit_sums`, each row's sum over the channels
// (the window sums the next weight-standardized conv folds with).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

typedef zoo::Vec<16>::type f16;
typedef double d8 __attribute__((vector_size(8 * sizeof(double))));

__attribute__((always_inline)) inline void add_double(double* to, f16 v) {
  typedef float f8 __attribute__((vector_size(8 * sizeof(float))));
  const f8 lo = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
  const f8 hi = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  d8 a, b;
  std::memcpy(&a, to, sizeof(a));
  std::memcpy(&b, to + 8, sizeof(b));
  a += __builtin_convertvector(lo, d8);
  b += __builtin_convertvector(hi, d8);
  std::memcpy(to, &a, sizeof(a));
  std::memcpy(to + 8, &b, sizeof(b));
}

constexpr int64_t kRun = 16;

// Channels [c0, c0 + 16·U) of rows [r0, r1) (at most kRun) of one image: the sums of d and d² added to
// s1, s2.
template <int U, bool F>
__attribute__((always_inline)) inline void column_block(const float* x, const float* s, const float* fa,
                                                        const float* fb, const float* shift, int64_t C, int64_t r0,
                                                        int64_t r1, int64_t c0, double* s1, double* s2) {
  f16 a[U], b[U], sh[U], m1[U], m2[U];
#pragma GCC unroll 4
  for (int u = 0; u < U; ++u) {
    sh[u] = zoo::load<16>(shift + c0 + 16 * u);
    if constexpr (F) a[u] = zoo::load<16>(fa + c0 + 16 * u), b[u] = zoo::load<16>(fb + c0 + 16 * u);
    m1[u] = f16{}, m2[u] = f16{};
  }
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * C + c0;
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) {
      f16 z = zoo::load<16>(row + 16 * u);
      if constexpr (F) z = z * a[u] + s[r] * b[u];
      const f16 d = z - sh[u];
      m1[u] += d;
      m2[u] += d * d;
    }
  }
#pragma GCC unroll 4
  for (int u = 0; u < U; ++u) add_double(s1 + c0 + 16 * u, m1[u]), add_double(s2 + c0 + 16 * u, m2[u]);
}

// Rows [r0, r1) of one image in runs of kRun rows, each run read from memory once and then from cache by
// each block of 64 channels (walking every row once per block strode through the whole image as many
// times: 8 × (56, 56, 256) took 2.5 ms against 1.9 ms for XLA's passes).
template <bool F>
__attribute__((always_inline)) inline void run_sums(const float* x, const float* s, const float* fa,
                                                    const float* fb, const float* shift, int64_t C, int64_t r0,
                                                    int64_t r1, double* s1, double* s2) {
  for (int64_t r = r0; r < r1; r += kRun) {
    const int64_t end = std::min(r1, r + kRun);
    int64_t c0 = 0;
    for (; c0 + 64 <= C; c0 += 64) column_block<4, F>(x, s, fa, fb, shift, C, r, end, c0, s1, s2);
    for (; c0 < C; c0 += 16) column_block<1, F>(x, s, fa, fb, shift, C, r, end, c0, s1, s2);
  }
}

#ifdef ZOO_TARGET_CLONES
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void part_sums(const float* x, const float* s, const float* fa, const float* fb, const float* shift, int64_t C,
               int64_t r0, int64_t r1, double* s1, double* s2) {
  if (s) {
    run_sums<true>(x, s, fa, fb, shift, C, r0, r1, s1, s2);
  } else {
    run_sums<false>(x, s, fa, fb, shift, C, r0, r1, s1, s2);
  }
}

// Rows [r0, r1) of one image: y = relu?((z - m)·a + b) with z = x·fa + S·fb where `s` (else x) and m, a,
// b per channel, and each row's sum of y over the channels into `sums_out` where that is not null.
#ifdef ZOO_TARGET_CLONES
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void apply_rows(const float* x, const float* s, const float* fa, const float* fb, const float* m, const float* a,
                const float* b, int64_t C, int64_t r0, int64_t r1, bool relu, float* y, float* sums_out) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    const float sr = s ? s[r] : 0.0f;
    f16 total{};
    for (int64_t k = 0; k < C; k += 16) {
      f16 z = zoo::load<16>(xr + k);
      if (s) z = z * zoo::load<16>(fa + k) + sr * zoo::load<16>(fb + k);
      f16 v = (z - zoo::load<16>(m + k)) * zoo::load<16>(a + k) + zoo::load<16>(b + k);
      if (relu) v = v > 0.0f ? v : f16{};
      zoo::store<16>(yr + k, v);
      total += v;
    }
    if (sums_out) {
      float t = 0.0f;
      for (int i = 0; i < 16; ++i) t += total[i];
      sums_out[r] = t;
    }
  }
}

ffi::Error GroupNormAct(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> params,
                        ffi::RemainingArgs rest, ffi::Result<ffi::Buffer<ffi::F32>> y, ffi::RemainingRets more,
                        int64_t groups, float eps, float std_eps, int64_t relu, int64_t folded, int64_t emit_sums) {
  const auto xd = x.dimensions();
  const auto pd = params.dimensions();
  const auto yd = y->dimensions();
  const int64_t C = xd.size() >= 2 ? xd[xd.size() - 1] : 0;
  const int64_t N = xd.size() >= 2 ? xd[0] : 0;
  int64_t P = 1;
  for (size_t i = 1; i + 1 < xd.size(); ++i) P *= xd[i];
  const bool ok = xd.size() >= 2 && C % 16 == 0 && groups >= 1 && C % groups == 0 && pd.size() == 2 &&
                  pd[0] == 4 && pd[1] == C && std::equal(xd.begin(), xd.end(), yd.begin(), yd.end()) &&
                  rest.size() == (folded ? 1u : 0u) && more.size() == (emit_sums ? 1u : 0u);
  if (!ok) {
    return ffi::Error::InvalidArgument(
        "zoo_group_norm_act: expected x (N, ..., C) with C a multiple of 16 and of groups, params (4, C), y shaped "
        "as x, and the window sums (N, ...) exactly where folded, their result exactly where emit_sums");
  }
  const float* s = nullptr;
  if (folded) {
    const auto b = rest.get<ffi::Buffer<ffi::F32>>(0);
    if (!b.has_value() || b->element_count() != N * P) {
      return ffi::Error::InvalidArgument("zoo_group_norm_act: the window sums must be float32 (N, ...) of x's rows");
    }
    s = b->typed_data();
  }
  float* sums_out = nullptr;
  if (emit_sums) {
    auto b = more.get<ffi::Buffer<ffi::F32>>(0);
    if (!b.has_value() || (*b)->element_count() != N * P) {
      return ffi::Error::InvalidArgument("zoo_group_norm_act: the row sums' result must be float32 (N, ...)");
    }
    sums_out = (*b)->typed_data();
  }
  if (N * P * C == 0) return ffi::Error::Success();
  const float* xp = x.typed_data();
  const float* gamma = params.typed_data();
  const float* beta = gamma + C;
  // z = x·fa + S·fb (the fold), else z = x.
  std::vector<float> fa(C, 1.0f), fb(C, 0.0f);
  if (folded) {
    for (int64_t c = 0; c < C; ++c) {
      const float r = 1.0f / std::sqrt(gamma[3 * C + c] + std_eps);
      fa[c] = r;
      fb[c] = -gamma[2 * C + c] * r;
    }
  }
  // Each image's first row of z: the shift of its sums.
  std::vector<float> shift(N * C);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const float v = xp[n * P * C + c];
      shift[n * C + c] = folded ? v * fa[c] + s[n * P] * fb[c] : v;
    }
  }
  const int64_t parts = std::min<int64_t>(P, std::max<int64_t>(1, pool.num_threads()));
  std::vector<double> sums(2 * N * parts * C, 0.0);
  zoo::parallel_ranges(pool, N * parts, 4 * N * P * C, 0, [&](int64_t first, int64_t last) {
    for (int64_t task = first; task < last; ++task) {
      const int64_t n = task / parts, p = task % parts;
      double* t = sums.data() + 2 * task * C;
      part_sums(xp + n * P * C, s ? s + n * P : nullptr, fa.data(), fb.data(), shift.data() + n * C, C,
                P * p / parts, P * (p + 1) / parts, t, t + C);
    }
  });
  // Per image and channel, y = (z - m)·a + b: m the group's mean, a = gamma / sqrt(var + eps), b = beta.
  std::vector<float> m(N * C), a(N * C);
  const int64_t cg = C / groups;
  std::vector<double> mean(C), var(C);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < C; ++k) {
      double s1 = 0.0, s2 = 0.0;
      for (int64_t p = 0; p < parts; ++p) {
        s1 += sums[2 * (n * parts + p) * C + k];
        s2 += sums[2 * (n * parts + p) * C + C + k];
      }
      const double m1 = s1 / static_cast<double>(P), m2 = s2 / static_cast<double>(P);
      mean[k] = static_cast<double>(shift[n * C + k]) + m1;
      var[k] = std::max(m2 - m1 * m1, 0.0);
    }
    for (int64_t g = 0; g < groups; ++g) {
      double mg = 0.0, vg = 0.0;
      for (int64_t k = g * cg; k < (g + 1) * cg; ++k) mg += mean[k];
      mg /= static_cast<double>(cg);
      for (int64_t k = g * cg; k < (g + 1) * cg; ++k) vg += var[k] + (mean[k] - mg) * (mean[k] - mg);
      vg /= static_cast<double>(cg);
      const double inv = 1.0 / std::sqrt(vg + static_cast<double>(eps));
      for (int64_t k = g * cg; k < (g + 1) * cg; ++k) {
        m[n * C + k] = static_cast<float>(mg);
        a[n * C + k] = static_cast<float>(static_cast<double>(gamma[k]) * inv);
      }
    }
  }
  float* yp = y->typed_data();
  zoo::parallel_ranges(pool, N * P, 3 * N * P * C, 0, [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last;) {
      const int64_t n = r / P, end = std::min(last, (n + 1) * P);
      apply_rows(xp + n * P * C, s ? s + n * P : nullptr, fa.data(), fb.data(), m.data() + n * C, a.data() + n * C,
                 beta, C, r - n * P, end - n * P, relu != 0, yp + n * P * C, sums_out ? sums_out + n * P : nullptr);
      r = end;
    }
  });
  return ffi::Error::Success();
}

}  // namespace

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* ZooGroupNormAct(XLA_FFI_CallFrame* call_frame);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooGroupNormAct, GroupNormAct,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .RemainingArgs()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .RemainingRets()
                                  .Attr<int64_t>("groups")
                                  .Attr<float>("eps")
                                  .Attr<float>("std_eps")
                                  .Attr<int64_t>("relu")
                                  .Attr<int64_t>("folded")
                                  .Attr<int64_t>("emit_sums"));
