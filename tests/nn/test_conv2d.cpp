// Tests of nn/conv2d: output size, init bound, gradcheck through x, W, b with stride and padding.
#include <doctest/doctest.h>

#include <cmath>

#include "nn/conv2d.h"
#include "nn/gradcheck_module.h"

using namespace ld;
using namespace ld::nn;

TEST_CASE("Conv2d output shapes for the reference model's convolutions") {
  Generator gen(1);
  Conv2d conv3(2, 4, 3, 1, 1, true, gen), down(2, 2, 3, 2, 1, true, gen), proj(2, 3, 1, 1, 0, false, gen);
  Var x(rand_normal({1, 2, 28, 28}, gen));
  CHECK(conv3(x).shape() == Shape{1, 4, 28, 28});
  CHECK(down(x).shape() == Shape{1, 2, 14, 14});
  CHECK(proj(x).shape() == Shape{1, 3, 28, 28});
  CHECK(proj.named_parameters().size() == 1);
  CHECK_THROWS_WITH_AS(conv3(Var(Tensor::zeros({1, 3, 5, 5}))), doctest::Contains("must be (N, 2, H, W)"),
                       Error);
}

TEST_CASE("Conv2d init bound is 1/sqrt(cin * k * k)") {
  Generator gen(2);
  Conv2d c(4, 8, 3, 1, 1, true, gen);
  const float bound = 1.0f / std::sqrt(36.0f);
  float hi = 0;
  for (float v : c.weight.value().to_vector()) hi = std::max(hi, std::fabs(v));
  CHECK(hi <= bound);
  CHECK(hi > 0.95f * bound);
  for (float v : c.bias.value().to_vector()) CHECK(std::fabs(v) <= bound);
}

TEST_CASE("Conv2d gradcheck through input, weight and bias") {
  struct Case {
    int64_t k, stride, pad;
    bool bias;
  };
  for (Case c : {Case{3, 1, 1, true}, Case{3, 2, 1, true}, Case{1, 1, 0, false}}) {
    Generator gen(3);
    Conv2d conv(2, 3, c.k, c.stride, c.pad, c.bias, gen);
    auto r = gradcheck_module(conv, [&](const std::vector<Var>& in) { return conv(in[0]); },
                              {rand_normal({2, 2, 5, 5}, gen)});
    CHECK_MESSAGE(r.ok, r.message);
  }
}
