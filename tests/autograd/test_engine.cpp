// The graph engine: accumulation, shared sub-expressions, NoGrad, detach, freeing.
#include <doctest/doctest.h>

#include "autograd/ops.h"

using namespace ld;
using namespace ld::ag;

TEST_CASE("a value used twice gets both gradients (d(x*x)/dx = 2x)") {
  Var x(Tensor::from_vector({3.0f}, {1}), true);
  Var y = sum(x * x + x);
  y.backward();
  CHECK(x.grad().item() == doctest::Approx(7.0));
}

TEST_CASE("gradients accumulate across backward calls until zero_grad") {
  Var w(Tensor::from_vector({2.0f, -1.0f}, {2}), true);
  sum(w * 3.0f).backward();
  sum(w * 3.0f).backward();
  CHECK(w.grad().to_vector() == std::vector<float>{6, 6});
  w.zero_grad();
  CHECK_FALSE(w.grad().defined());
}

TEST_CASE("NoGrad records nothing; detach cuts the graph") {
  Var w(Tensor::ones({2}), true);
  {
    NoGrad ng;
    Var y = w * 2.0f;
    CHECK_FALSE(y.requires_grad());
  }
  Var y = w * 2.0f;
  CHECK(y.requires_grad());
  CHECK_FALSE(y.detach().requires_grad());
  Var c(Tensor::ones({2}), false);
  CHECK_FALSE((c * c).requires_grad());
  CHECK_THROWS_WITH_AS(sum(c).backward(), doctest::Contains("does not require grad"), Error);
}

TEST_CASE("backward from a non-scalar needs its gradient; the graph is freed after") {
  Var x(Tensor::from_vector({1, 2, 3}, {3}), true);
  Var h = x * 2.0f;
  Var y = h * x;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("not a scalar"), Error);
  y.backward(Tensor::ones({3}));
  CHECK(x.grad().to_vector() == std::vector<float>{4, 8, 12});
  // interior nodes dropped their inputs and closures
  CHECK(y.node()->inputs.empty());
  CHECK(h.node()->inputs.empty());
  CHECK_FALSE(h.grad().defined());
}

TEST_CASE("a deep chain does not overflow the stack") {
  Var x(Tensor::from_vector({1.0f}, {1}), true);
  Var y = x;
  for (int i = 0; i < 20000; ++i) y = y + 0.0f;
  sum(y).backward();
  CHECK(x.grad().item() == 1.0f);
}
