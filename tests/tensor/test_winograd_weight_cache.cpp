// winograd_conv3x3's `same_weights` (tensor/winograd.h): the weight transform kept between calls
// (sampling) gives the very bits of a fresh transform, and is never used for weights that changed:
// the same buffer rewritten in place (an optimizer step), the same buffer read as another shape,
// and more weights than the cache holds. And U stored in column panels for loradiff's kernel
// (Cout > 64: panels of 64 and a narrower last one) still gives the convolution.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/random.h"
#include "tensor/thin_gemm.h"
#include "tensor/winograd.h"

using namespace ld;

namespace {

std::vector<float> conv(const std::vector<float>& x, const float* w, int64_t N, int64_t C, int64_t HW,
                        int64_t Cout, int tile, bool same) {
  std::vector<float> y(static_cast<size_t>(N * Cout * HW * HW));
  winograd_conv3x3(x.data(), w, N, C, HW, HW, Cout, y.data(), tile, nullptr, nullptr, InputMap(), same);
  return y;
}

}  // namespace

TEST_CASE("winograd same_weights: the kept transform gives a fresh one's bits, and follows the weights") {
  Generator g(11);
  for (int tile : {2, 4}) {
    INFO("tile ", tile);
    const int64_t N = 3, C = 16, Cout = 24, HW = 9;
    const std::vector<float> x = rand_normal({N * C * HW * HW}, g).to_vector();
    std::vector<float> w = rand_normal({Cout * C * 9}, g).to_vector();
    const std::vector<float> fresh = conv(x, w.data(), N, C, HW, Cout, tile, false);
    CHECK(conv(x, w.data(), N, C, HW, Cout, tile, true) == fresh);  // first call: transformed, kept
    CHECK(conv(x, w.data(), N, C, HW, Cout, tile, true) == fresh);  // second: the kept transform
    // the same buffer rewritten in place (one value is enough to differ)
    w[5] += 0.5f;
    const std::vector<float> changed = conv(x, w.data(), N, C, HW, Cout, tile, false);
    REQUIRE(changed != fresh);
    CHECK(conv(x, w.data(), N, C, HW, Cout, tile, true) == changed);
    // the same buffer read as another shape (C 16 -> 8, Cout 24 -> 48: as many floats)
    const std::vector<float> x8(x.begin(), x.begin() + N * 8 * HW * HW);
    CHECK(conv(x8, w.data(), N, 8, HW, 48, tile, true) == conv(x8, w.data(), N, 8, HW, 48, tile, false));
  }
  // more weights than the cache keeps (64): each still gets its own transform
  const int64_t N = 1, C = 16, Cout = 16, HW = 4;
  const std::vector<float> x = rand_normal({N * C * HW * HW}, g).to_vector();
  std::vector<std::vector<float>> ws;
  for (int i = 0; i < 70; ++i) ws.push_back(rand_normal({Cout * C * 9}, g).to_vector());
  for (int round = 0; round < 2; ++round)
    for (size_t i = 0; i < ws.size(); i += 7)
      CHECK(conv(x, ws[i].data(), N, C, HW, Cout, 2, true) ==
            conv(x, ws[i].data(), N, C, HW, Cout, 2, false));
  for (const auto& w : ws)
    CHECK(conv(x, w.data(), N, C, HW, Cout, 2, true) == conv(x, w.data(), N, C, HW, Cout, 2, false));
}

TEST_CASE("winograd: U in column panels (Cout > 64) gives the convolution, kept or fresh") {
  if (thin_gemm_isa()[0] == '\0') return;  // the panels are for loradiff's own kernel only
  Generator g(5);
  for (int tile : {2, 4})
    for (int64_t Cout : {65, 130, 192}) {
      const int64_t N = 2, C = 64, HW = 8;
      INFO("tile ", tile, " Cout ", Cout);
      const std::vector<float> x = rand_normal({N * C * HW * HW}, g).to_vector();
      const std::vector<float> w = rand_normal({Cout * C * 9}, g).to_vector();
      // the direct sum, in double
      std::vector<double> want(static_cast<size_t>(N * Cout * HW * HW), 0.0);
      double scale = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < Cout; ++o)
          for (int64_t i = 0; i < HW; ++i)
            for (int64_t j = 0; j < HW; ++j) {
              double acc = 0;
              for (int64_t c = 0; c < C; ++c)
                for (int64_t u = 0; u < 3; ++u)
                  for (int64_t v = 0; v < 3; ++v) {
                    const int64_t h = i - 1 + u, ww = j - 1 + v;
                    if (h < 0 || h >= HW || ww < 0 || ww >= HW) continue;
                    acc += double(x[static_cast<size_t>(((n * C + c) * HW + h) * HW + ww)]) *
                           w[static_cast<size_t>(((o * C + c) * 3 + u) * 3 + v)];
                  }
              want[static_cast<size_t>(((n * Cout + o) * HW + i) * HW + j)] = acc;
              scale = std::max(scale, std::abs(acc));
            }
      for (bool same : {false, true, true}) {
        const std::vector<float> got = conv(x, w.data(), N, C, HW, Cout, tile, same);
        double err = 0;
        for (size_t i = 0; i < got.size(); ++i) err = std::max(err, std::abs(got[i] - want[i]));
        CHECK(err <= 1e-4 * scale);
      }
    }
}
