// Reductions over axes, keepdim, max/argmax and sum_to (the adjoint of broadcasting).
#include <doctest/doctest.h>

#include <cmath>

#include "tensor/random.h"
#include "tensor/reduce.h"

using namespace ld;

static Tensor iota(const Shape& s) {
  std::vector<float> v(shape_numel(s));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return Tensor::from_vector(v, s);
}

TEST_CASE("sum over axes, with and without keepdim") {
  Tensor a = iota({2, 3, 4});
  CHECK(sum(a).item() == 276.0f);
  Tensor s = sum(a, {1});
  CHECK(s.shape() == Shape{2, 4});
  CHECK(s.at({1, 2}) == 14.0f + 18.0f + 22.0f);
  Tensor k = sum(a, {0, 2}, true);
  CHECK(k.shape() == Shape{1, 3, 1});
  CHECK(k.at({0, 1, 0}) == (4 + 5 + 6 + 7) + (16 + 17 + 18 + 19));
  CHECK(mean(a, {-1}).at({0, 0}) == 1.5f);
  CHECK_THROWS_WITH_AS(sum(a, {3}), doctest::Contains("axis 3 out of range"), Error);
}

TEST_CASE("sum of a non-contiguous view and a large threaded sum") {
  Tensor a = iota({3, 4}).transpose(0, 1);  // (4, 3)
  CHECK(sum(a, {1}).to_vector() == std::vector<float>{12, 15, 18, 21});
  Generator g(1);
  Tensor big = rand_normal({64, 32, 28, 28}, g);
  Tensor s = sum(big, {0, 2, 3});
  double expect = 0;
  for (int n = 0; n < 64; ++n)
    for (int i = 0; i < 28 * 28; ++i) expect += big.f32()[(n * 32 + 5) * 784 + i];
  CHECK(s.at({5}) == doctest::Approx(expect).epsilon(1e-4));
}

TEST_CASE("sums over leading axes (bias gradients): column sums, small and threaded") {
  // the reduced axes are a prefix of a contiguous tensor: tensor/reduce.cpp's column-sum path
  for (const Shape& shape : {Shape{2, 3, 4}, Shape{50176, 64}, Shape{64, 196, 48}}) {
    Generator g(7);
    Tensor x = rand_normal(shape, g);
    const int64_t C = shape.back(), R = x.numel() / C;
    Tensor s = sum(x, shape.size() == 3 ? std::vector<int64_t>{0, 1} : std::vector<int64_t>{0});
    REQUIRE(s.shape() == Shape{C});
    Tensor k = sum(x, {0}, true);
    CHECK(k.shape()[0] == 1);
    for (int64_t c = 0; c < C; ++c) {
      double expect = 0;
      for (int64_t r = 0; r < R; ++r) expect += x.f32()[r * C + c];
      CHECK(s.at({c}) == doctest::Approx(expect).epsilon(1e-4).scale(std::sqrt(double(R))));
    }
  }
  // the same reduction of a non-contiguous view goes the general way and agrees
  Tensor a = iota({4, 3}).transpose(0, 1).contiguous().transpose(0, 1);  // (4, 3), strides (1, 4)
  CHECK(sum(a, {0}).to_vector() == std::vector<float>{18, 22, 26});
}

TEST_CASE("max and argmax along an axis") {
  Tensor a = Tensor::from_vector({1, 9, 3, 7, 2, 8}, {2, 3});
  CHECK(max(a, 1).to_vector() == std::vector<float>{9, 8});
  CHECK(argmax(a, 1).to_ints() == std::vector<int32_t>{1, 2});
  CHECK(argmax(a, 0, true).shape() == Shape{1, 3});
  CHECK(argmax(a, 0).to_ints() == std::vector<int32_t>{1, 0, 1});
}

TEST_CASE("sum_to reduces a broadcast gradient back to the input shape") {
  Tensor g = Tensor::ones({2, 3, 4});
  CHECK(sum_to(g, {4}).to_vector() == std::vector<float>{6, 6, 6, 6});
  CHECK(sum_to(g, {3, 1}).to_vector() == std::vector<float>{8, 8, 8});
  CHECK(sum_to(g, {2, 3, 4}).numel() == 24);
  CHECK_THROWS_AS(sum_to(g, {5}), Error);
}
