// tensor/transpose.h: a block of floats turned the other way round (transpose_block),
//   dst[c * ldd + r] = src[r * lds + c]  (* scale[c])      r < rows, c < cols,
// for the copies that give a product or a layout the operand it needs: attention's k^T, v^T and
// Q_blk^T and its transposed output (tensor/attention.cpp), Winograd's channels-last buffers
// (tensor/winograd.cpp). Plain loops, and 8 x 8 blocks in AVX2 registers where the CPU has AVX2:
// the plain loops store (or load) one float at a time, ld floats apart. Both give the same bits: a
// transpose only moves floats, and a scale is one rounded multiply either way.
#pragma once
#include <cstdint>

#include "tensor/simd_dispatch.h"

#if LORADIFF_SIMD_DISPATCH
#include <immintrin.h>
#endif

namespace ld {

// `scale` (cols floats, one per row of dst) may be nullptr.
void transpose_block(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst, int64_t ldd,
                     const float* scale = nullptr);
// The plain loops, for the tests and for CPUs without AVX2.
void transpose_block_plain(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst, int64_t ldd,
                           const float* scale = nullptr);

#if LORADIFF_SIMD_DISPATCH
// The register kernel: r[j][i] <- r[i][j] for eight rows of eight floats (unpack pairs of rows,
// shuffle pairs of pairs, then swap 128-bit halves). For callers with their own addressing
// (Winograd's per-pixel offsets); call only from AVX2 code.
[[gnu::target("avx2"), gnu::always_inline]] inline void transpose8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 4; ++i) {  // t[2i], t[2i + 1]: rows 2i and 2i + 1 interleaved
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h) {  // four rows' elements j, j + 4 side by side, per 128-bit half
    s[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(1, 0, 1, 0));
    s[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(3, 2, 3, 2));
    s[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(1, 0, 1, 0));
    s[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int j = 0; j < 4; ++j) {  // rows 0-3 and 4-7 of columns j and j + 4
    r[j] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x20);
    r[j + 4] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x31);
  }
}
#endif

}  // namespace ld
