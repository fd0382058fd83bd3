// softmax / log-softmax stability and masking; layer norm and group norm statistics.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "tensor/index.h"
#include "tensor/norm.h"
#include "tensor/random.h"
#include "tensor/softmax.h"

using namespace ld;

TEST_CASE("softmax is stable for large inputs and rows sum to 1") {
  Tensor x = Tensor::from_vector({1000, 1001, 1002, -5, 0, 5}, {2, 3});
  auto y = softmax(x, -1).to_vector();
  CHECK(y[0] + y[1] + y[2] == doctest::Approx(1.0));
  CHECK(y[2] == doctest::Approx(1.0 / (1.0 + std::exp(-1.0) + std::exp(-2.0))));
  auto l = log_softmax(x, 1).to_vector();
  CHECK(l[2] == doctest::Approx(std::log(y[2])).epsilon(1e-5));
  auto y0 = softmax(x, 0).to_vector();
  CHECK(y0[0] + y0[3] == doctest::Approx(1.0));
}

TEST_CASE("a fully masked softmax row gives zeros, not NaN") {
  const float inf = std::numeric_limits<float>::infinity();
  auto y = softmax(Tensor::from_vector({-inf, -inf, 0, -inf}, {2, 2}), -1).to_vector();
  CHECK(y == std::vector<float>{0, 0, 1, 0});
}

TEST_CASE("layer norm gives zero mean, unit variance rows, then the affine map") {
  Generator g(3);
  Tensor x = rand_normal({4, 16}, g, 3.0f, 2.0f);
  NormResult r = layer_norm_forward(x, Tensor::full({16}, 2.0f), Tensor::full({16}, 1.0f), 1e-5f);
  auto y = r.y.to_vector();
  for (int i = 0; i < 4; ++i) {
    double m = 0, v = 0;
    for (int c = 0; c < 16; ++c) m += y[i * 16 + c];
    m /= 16;
    for (int c = 0; c < 16; ++c) v += (y[i * 16 + c] - m) * (y[i * 16 + c] - m);
    CHECK(m == doctest::Approx(1.0).epsilon(1e-4));
    CHECK(v / 16 == doctest::Approx(4.0).epsilon(1e-3));
  }
  CHECK_THROWS_AS(layer_norm_forward(x, Tensor::ones({8}), Tensor::zeros({8}), 1e-5f), Error);
}

TEST_CASE("group norm normalises each (sample, group) over channels and positions") {
  Generator g(4);
  Tensor x = rand_normal({2, 4, 3, 3}, g, 1.0f, 3.0f);
  NormResult r = group_norm_forward(x, 2, Tensor::ones({4}), Tensor::zeros({4}), 1e-5f);
  auto y = r.y.to_vector();
  double m = 0;
  for (int i = 0; i < 18; ++i) m += y[18 + i];  // sample 0, group 1: channels 2,3
  CHECK(m / 18 == doctest::Approx(0.0).epsilon(1e-5));
  CHECK_THROWS_WITH_AS(group_norm_forward(x, 3, Tensor::ones({4}), Tensor::zeros({4}), 1e-5f),
                       doctest::Contains("cannot be split into 3 groups"), Error);
}

TEST_CASE("concat, embedding lookup and its adjoint, upsample") {
  Tensor a = Tensor::from_vector({1, 2}, {1, 2}), b = Tensor::from_vector({3, 4, 5, 6}, {2, 2});
  CHECK(concat({a, b}, 0).to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(concat({b, b}, 1).shape() == Shape{2, 4});
  CHECK_THROWS_AS(concat({a, b}, 1), Error);
  Tensor table = Tensor::from_vector({0, 0, 1, 1, 2, 2}, {3, 2});
  Tensor ids = Tensor::from_ints({2, 0, 2}, {3});
  CHECK(index_select_rows(table, ids).to_vector() == std::vector<float>{2, 2, 0, 0, 2, 2});
  Tensor grad = Tensor::zeros({3, 2});
  index_add_rows_(grad, ids, Tensor::ones({3, 2}));
  CHECK(grad.to_vector() == std::vector<float>{1, 1, 0, 0, 2, 2});
  CHECK_THROWS_WITH_AS(index_select_rows(table, Tensor::from_ints({3}, {1})), doctest::Contains("id 3"), Error);
  Tensor up = upsample_nearest2x(Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2}));
  CHECK(up.to_vector() == std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  CHECK(upsample_nearest2x_backward(Tensor::ones({1, 1, 4, 4})).to_vector() == std::vector<float>{4, 4, 4, 4});
}
