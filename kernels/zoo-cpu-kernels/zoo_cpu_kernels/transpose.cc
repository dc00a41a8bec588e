// Blocked 2-D transpose of 4-byte elements, for zoo's weight loader.
//
// dst[j * ld_dst + i] = src[i * ld_src + j] for i < rows, j < cols. The loader calls it on a block
// of a PyTorch (out, in) weight read from the file into a cache-sized buffer, writing the block's
// columns of the (in, out) result. It goes in 8 × 8 tiles: each tile reads eight source rows and
// writes eight destination rows, 32 bytes of each, so both sides stay within a few cache lines and
// pages while the compiler vectorizes the tile. numpy's strided copy of a transposed view moves
// 1.7–2.2 GB/s on the machine measured; this, 4.2–4.7 GB/s (docs/performance.md).

#include <cstdint>

namespace {

constexpr int kTile = 8;

#ifdef ZOO_TARGET_CLONES
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void transpose32(const uint32_t* __restrict__ src, uint32_t* __restrict__ dst, int64_t rows, int64_t cols,
                 int64_t ld_src, int64_t ld_dst) {
  int64_t j0 = 0;
  for (; j0 + kTile <= cols; j0 += kTile) {
    int64_t i0 = 0;
    for (; i0 + kTile <= rows; i0 += kTile) {
      for (int j = 0; j < kTile; ++j) {
        for (int i = 0; i < kTile; ++i) dst[(j0 + j) * ld_dst + i0 + i] = src[(i0 + i) * ld_src + j0 + j];
      }
    }
    for (int64_t j = j0; j < j0 + kTile; ++j) {
      for (int64_t i = i0; i < rows; ++i) dst[j * ld_dst + i] = src[i * ld_src + j];
    }
  }
  for (int64_t j = j0; j < cols; ++j) {
    for (int64_t i = 0; i < rows; ++i) dst[j * ld_dst + i] = src[i * ld_src + j];
  }
}

}  // namespace

extern "C" __attribute__((visibility("default"))) void ZooTranspose32(const void* src, void* dst, int64_t rows,
                                                                      int64_t cols, int64_t ld_src, int64_t ld_dst) {
  transpose32(static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst), rows, cols, ld_src, ld_dst);
}
