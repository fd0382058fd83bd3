// Pixel conversions, area/bilinear resizing, fitting with padding, grids.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "data/image.h"
#include "tensor/error.h"

using namespace ld::data;

TEST_CASE("bytes <-> [-1, 1] tensors") {
  GrayImage g{3, 1, {0, 128, 255}};
  const ld::Tensor t = tensor_from_image(g);
  CHECK(t.shape() == ld::Shape{1, 1, 3});
  CHECK(t.at({0, 0, 0}) == -1.0f);
  CHECK(t.at({0, 0, 2}) == 1.0f);
  CHECK(image_from_tensor(t).pixels == g.pixels);
  // out-of-range values are clamped
  CHECK(image_from_tensor(ld::Tensor::from_vector({-3.0f, 3.0f}, {1, 2})).pixels ==
        std::vector<uint8_t>{0, 255});
  CHECK_THROWS_AS(image_from_tensor(ld::Tensor::zeros({2, 3, 3})), ld::Error);
}

// In a constant expression a float-to-integer conversion of NaN or of an out-of-range value
// does not compile: these prove the conversion is defined for the special values.
using L = std::numeric_limits<float>;
static_assert(pixel_to_byte(L::quiet_NaN()) == 0);
static_assert(pixel_to_byte(-L::quiet_NaN()) == 0);
static_assert(pixel_to_byte(L::infinity()) == 255);
static_assert(pixel_to_byte(-L::infinity()) == 0);
static_assert(pixel_to_byte(L::max()) == 255);
static_assert(pixel_to_byte(L::lowest()) == 0);
static_assert(pixel_to_byte(0.0f) == 128);

TEST_CASE("pixel_to_byte: a defined byte for every float") {
  CHECK(pixel_to_byte(-1.0f) == 0);
  CHECK(pixel_to_byte(1.0f) == 255);
  CHECK(pixel_to_byte(0.0f) == 128);  // 127.5: halves round away from zero
  CHECK(pixel_to_byte(-0.0f) == 128);
  CHECK(pixel_to_byte(L::quiet_NaN()) == 0);
  CHECK(pixel_to_byte(-L::quiet_NaN()) == 0);
  CHECK(pixel_to_byte(L::signaling_NaN()) == 0);
  CHECK(pixel_to_byte(L::infinity()) == 255);
  CHECK(pixel_to_byte(-L::infinity()) == 0);
  CHECK(pixel_to_byte(L::max()) == 255);
  CHECK(pixel_to_byte(L::lowest()) == 0);
  CHECK(pixel_to_byte(1.5f) == 255);
  CHECK(pixel_to_byte(-7.0f) == 0);
  CHECK(pixel_to_byte(L::denorm_min()) == 128);
  CHECK(pixel_to_byte(-L::denorm_min()) == 128);
  // every byte comes back from its own value, and the boundaries between bytes fall at the
  // midpoints: (k + 0.5) / 127.5 - 1 separates k from k + 1
  for (int k = 0; k < 256; ++k) {
    CAPTURE(k);
    CHECK(pixel_to_byte(static_cast<float>(k / 127.5 - 1.0)) == k);
    if (k == 255) break;
    const double mid = (k + 0.5) / 127.5 - 1.0;
    CHECK(pixel_to_byte(static_cast<float>(mid - 1e-4)) == k);
    CHECK(pixel_to_byte(static_cast<float>(mid + 1e-4)) == k + 1);
  }
  // through image_from_tensor too
  CHECK(image_from_tensor(
            ld::Tensor::from_vector({L::quiet_NaN(), L::infinity(), -L::infinity(), 0.0f}, {1, 4}))
            .pixels == std::vector<uint8_t>{0, 255, 0, 128});
}

TEST_CASE("shrinking averages areas; enlarging interpolates") {
  FloatImage img{4, 2, {0, 1, 0.5f, 0.5f, 1, 0, 0.5f, 0.5f}};
  FloatImage half = resize_image(img, 2, 1);
  CHECK(half.pixels[0] == doctest::Approx(0.5));
  CHECK(half.pixels[1] == doctest::Approx(0.5));
  // 3 -> 2: output pixel 0 covers source [0, 1.5): (1*a + 0.5*b) / 1.5
  FloatImage row{3, 1, {0.0f, 0.6f, 0.9f}};
  FloatImage two = resize_image(row, 2, 1);
  CHECK(two.pixels[0] == doctest::Approx(0.2));
  CHECK(two.pixels[1] == doctest::Approx(0.8));
  // 2 -> 4 bilinear on pixel centres: 0, 0.25, 0.75, 1 of the way
  FloatImage up = resize_image(FloatImage{2, 1, {0.0f, 1.0f}}, 4, 1);
  CHECK(up.pixels[0] == doctest::Approx(0.0));
  CHECK(up.pixels[1] == doctest::Approx(0.25));
  CHECK(up.pixels[2] == doctest::Approx(0.75));
  CHECK(up.pixels[3] == doctest::Approx(1.0));
}

TEST_CASE("fit_square keeps the aspect and pads with the given level") {
  FloatImage wide{8, 4, std::vector<float>(32, 1.0f)};
  FloatImage sq = fit_square(wide, 4, 0.25f);
  REQUIRE(sq.width == 4);
  CHECK(sq.at(0, 0) == doctest::Approx(0.25));  // padding rows above and below
  CHECK(sq.at(0, 1) == doctest::Approx(1.0));
  CHECK(sq.at(3, 2) == doctest::Approx(1.0));
  CHECK(sq.at(3, 3) == doctest::Approx(0.25));
}

TEST_CASE("grid: cells row by row, 1-pixel gaps, upscale") {
  // 3 images 2x2 with values -1, 0, 1 in a 2 x 2 grid, upscale 2
  std::vector<float> v;
  for (float x : {-1.0f, 0.0f, 1.0f})
    for (int k = 0; k < 4; ++k) v.push_back(x);
  const GrayImage g = make_grid(ld::Tensor::from_vector(v, {3, 1, 2, 2}), 2, 2, 2);
  CHECK(g.width == 2 * 4 + 1);
  CHECK(g.height == 2 * 4 + 1);
  CHECK(g.at(0, 0) == 0);
  CHECK(g.at(4, 0) == kGridGapValue);  // vertical gap
  CHECK(g.at(5, 3) == 128);            // image 1 (value 0 -> 128)
  CHECK(g.at(0, 4) == kGridGapValue);  // horizontal gap
  CHECK(g.at(3, 5) == 255);            // image 2
  CHECK(g.at(8, 8) == 0);              // empty fourth cell is black
  CHECK_THROWS_WITH_AS(make_grid(ld::Tensor::from_vector(v, {3, 1, 2, 2}), 1, 2),
                       doctest::Contains("do not fit"), ld::Error);
  int64_t rows = 0, cols = 0;
  grid_shape(10, rows, cols);
  CHECK(rows == 3);
  CHECK(cols == 4);
}
