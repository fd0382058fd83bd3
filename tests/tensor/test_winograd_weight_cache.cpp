// winograd_conv3x3's `same_weights` (tensor/winograd.h): the weight transform kept between calls
// (sampling) gives the very bits of a fresh transform, and is never used for weights that changed:
// the same buffer rewritten in place (an optimizer step), the same buffer read as another shape,
// and more weights than the cache holds.
#include <doctest/doctest.h>

#include <vector>

#include "tensor/random.h"
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
