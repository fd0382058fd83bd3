// tensor/transpose.cpp: see transpose.h.
#include "tensor/transpose.h"

namespace ld {

namespace {

// The plain loops over rows [r0, r1) and columns [c0, c1).
void transpose_range(const float* src, int64_t lds, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                     float* dst, int64_t ldd, const float* scale) {
  for (int64_t c = c0; c < c1; ++c) {
    float* out = dst + c * ldd;
    const float s = scale ? scale[c] : 1.0f;
    for (int64_t r = r0; r < r1; ++r) out[r] = scale ? src[r * lds + c] * s : src[r * lds + c];
  }
}

#if LORADIFF_SIMD_DISPATCH
[[gnu::target("avx2")]] void transpose_avx2(const float* src, int64_t lds, int64_t rows, int64_t cols,
                                            float* dst, int64_t ldd, const float* scale) {
  const int64_t R8 = rows / 8 * 8, C8 = cols / 8 * 8;
  for (int64_t r0 = 0; r0 < R8; r0 += 8)
    for (int64_t c0 = 0; c0 < C8; c0 += 8) {
      __m256 v[8];
      for (int i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(src + (r0 + i) * lds + c0);
      transpose8(v);  // v[j]: column c0 + j of rows r0 .. r0 + 7
      for (int j = 0; j < 8; ++j) {
        if (scale) v[j] = _mm256_mul_ps(v[j], _mm256_set1_ps(scale[c0 + j]));
        _mm256_storeu_ps(dst + (c0 + j) * ldd + r0, v[j]);
      }
    }
  transpose_range(src, lds, R8, rows, 0, C8, dst, ldd, scale);    // the last rows (rows % 8)
  transpose_range(src, lds, 0, rows, C8, cols, dst, ldd, scale);  // the last columns (cols % 8)
}
#endif

}  // namespace

void transpose_block_plain(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst, int64_t ldd,
                           const float* scale) {
  transpose_range(src, lds, 0, rows, 0, cols, dst, ldd, scale);
}

void transpose_block(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst, int64_t ldd,
                     const float* scale) {
#if LORADIFF_SIMD_DISPATCH
  if (simd_level() != SimdLevel::Baseline) return transpose_avx2(src, lds, rows, cols, dst, ldd, scale);
#endif
  transpose_block_plain(src, lds, rows, cols, dst, ldd, scale);
}

}  // namespace ld
