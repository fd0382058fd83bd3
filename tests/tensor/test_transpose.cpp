// transpose_block (tensor/transpose.h): the AVX2 8 x 8 blocks and the plain loops give the same bits,
// with and without the per-row scale, on shapes that are and are not multiples of 8, with leading
// dimensions wider than the block, at every SIMD level; and both equal the definition
// dst[c ldd + r] = src[r lds + c] * scale[c].
#include <doctest/doctest.h>

#include <vector>

#include "tensor/random.h"
#include "tensor/simd_dispatch.h"
#include "tensor/transpose.h"

using namespace ld;

TEST_CASE("transpose_block: every SIMD level equals the definition, bit for bit") {
  Generator g(7);
  const SimdLevel saved = simd_level();
  for (int64_t rows : {1, 7, 8, 9, 16, 49, 196})
    for (int64_t cols : {1, 8, 15, 16, 32, 64})
      for (bool scaled : {false, true}) {
        const int64_t lds = cols + 3, ldd = rows + 5;  // leading dimensions wider than the block
        const std::vector<float> src = rand_normal({rows * lds}, g).to_vector(),
                                 scale = rand_normal({cols}, g).to_vector();
        const std::vector<float> sentinel(static_cast<size_t>(cols * ldd), -7.0f);
        std::vector<float> want = sentinel;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < cols; ++c) {
            const float v = src[static_cast<size_t>(r * lds + c)];
            want[static_cast<size_t>(c * ldd + r)] = scaled ? v * scale[static_cast<size_t>(c)] : v;
          }
        const float* s = scaled ? scale.data() : nullptr;
        INFO("rows ", rows, " cols ", cols, " scaled ", scaled);
        std::vector<float> plain = sentinel;
        transpose_block_plain(src.data(), lds, rows, cols, plain.data(), ldd, s);
        CHECK(plain == want);
        for (SimdLevel level : {SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512}) {
          set_simd_level(level);              // capped at what this CPU has
          std::vector<float> got = sentinel;  // the padding between rows must stay untouched
          transpose_block(src.data(), lds, rows, cols, got.data(), ldd, s);
          CHECK(got == want);
        }
        set_simd_level(saved);
      }
}
