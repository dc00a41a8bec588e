// The CPU's float32 multiply-add ceiling, for the benchmarks: `threads` threads, each running 12
// independent chains of vector multiply-adds (AVX-512, else AVX2 + FMA, else plain floats) for about
// `seconds`; returns the FLOP rate of them all (2 FLOP a multiply-add), in GFLOP/s. Nothing a model
// does in float32 runs faster than this; bench_families.py prints it beside the matmul peak, so that a
// ratio bar can be held against what the hardware allows (docs/performance.md).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

namespace {

constexpr int kChains = 12;
constexpr int64_t kStep = 1 << 16;  // rounds of multiply-adds per chain in one step

template <int V>
struct Lanes {
  typedef float type __attribute__((vector_size(V * sizeof(float))));
};

// kChains chains of V-float multiply-adds, `steps` times kStep rounds; the result feeds a sink so that
// the loop is kept.
template <int V>
__attribute__((always_inline)) inline float chains(int64_t steps) {
  typedef typename Lanes<V>::type vec;
  vec a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = vec{} + (1.0f + 1e-3f * static_cast<float>(i));
  const vec b = vec{} + 0.999999f, c = vec{} + 1e-7f;
  for (int64_t s = 0; s < steps * kStep; ++s) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) a[i] = a[i] * b + c;
  }
  float sum = 0.0f;
  for (int i = 0; i < kChains; ++i)
    for (int l = 0; l < V; ++l) sum += a[i][l];
  return sum;
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) float chains_avx512(int64_t steps) { return chains<16>(steps); }
__attribute__((target("avx2,fma"))) float chains_avx2(int64_t steps) { return chains<8>(steps); }
#endif
float chains_plain(int64_t steps) { return chains<1>(steps); }

// The widest loop this CPU runs, and its floats per multiply-add.
std::pair<float (*)(int64_t), int> widest() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return {chains_avx512, 16};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {chains_avx2, 8};
#endif
  return {chains_plain, 1};
}

}  // namespace

extern "C" __attribute__((visibility("default"))) double ZooFmaPeak(int64_t threads, double seconds) {
  if (threads < 1 || !(seconds > 0.0)) return -1.0;
  const auto [run, lanes] = widest();
  // One step on this thread, timed, sizes the run to about `seconds`.
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  volatile float sink = run(1);
  const double one = std::chrono::duration<double>(clock::now() - start).count();
  const int64_t steps = std::max<int64_t>(1, static_cast<int64_t>(seconds / std::max(one, 1e-9)));
  std::vector<std::thread> pool;
  std::vector<float> sums(threads);
  start = clock::now();
  for (int64_t t = 0; t < threads; ++t) pool.emplace_back([&, t] { sums[t] = run(steps); });
  for (auto& th : pool) th.join();
  const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
  for (float s : sums) sink = sink + s;
  return 2.0 * kChains * lanes * static_cast<double>(kStep) * steps * threads / elapsed / 1e9;
}
