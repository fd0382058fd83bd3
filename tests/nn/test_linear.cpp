// Tests of nn/linear: forward formula, PyTorch init bounds, gradcheck through x, W, b.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"
#include "nn/gradcheck_module.h"
#include "nn/linear.h"

using namespace ld;
using namespace ld::nn;

TEST_CASE("Linear computes x W^T + b") {
  Generator gen(1);
  Linear lin(3, 2, true, gen);
  lin.weight.set_value(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}));
  lin.bias.set_value(Tensor::from_vector({10, 20}, {2}));
  Tensor y = lin(Var(Tensor::from_vector({1, 0, -1}, {1, 3}))).value();
  CHECK(y.to_vector() == std::vector<float>{1 - 3 + 10, 4 - 6 + 20});
  CHECK_THROWS_WITH_AS(lin(Var(Tensor::zeros({1, 4}))), doctest::Contains("must end in 3"), Error);
}

TEST_CASE("Linear init is U(-1/sqrt(in), 1/sqrt(in)) for weight and bias, seeded") {
  Generator g1(7), g2(7);
  Linear a(100, 200, true, g1), b(100, 200, true, g2);
  CHECK(a.weight.value().to_vector() == b.weight.value().to_vector());
  std::vector<float> w = a.weight.value().to_vector();
  double lo = 1, hi = -1, sum = 0, sq = 0;
  for (float v : w) {
    lo = std::min<double>(lo, v), hi = std::max<double>(hi, v), sum += v, sq += double(v) * v;
  }
  const double bound = 0.1;  // 1/sqrt(100)
  CHECK(lo >= -bound);
  CHECK(hi <= bound);
  CHECK(lo < -0.99 * bound);
  CHECK(hi > 0.99 * bound);
  CHECK(std::fabs(sum / w.size()) < 0.003);
  CHECK(sq / w.size() == doctest::Approx(bound * bound / 3).epsilon(0.03));  // variance of U(-b, b)
  for (float v : a.bias.value().to_vector()) CHECK(std::fabs(v) <= bound);
  Linear nb(4, 3, false, g1);
  CHECK_FALSE(nb.bias.defined());
  CHECK(nb.named_parameters().size() == 1);
}

TEST_CASE("Linear gradcheck through input, weight and bias (with and without bias)") {
  for (bool bias : {true, false}) {
    Generator gen(3);
    Linear lin(4, 3, bias, gen);
    auto r = gradcheck_module(lin, [&](const std::vector<Var>& in) { return lin(in[0]); },
                              {rand_normal({2, 5, 4}, gen)});
    CHECK_MESSAGE(r.ok, r.message);
    CHECK(r.checked == 40 + 12 + (bias ? 3 : 0));
  }
}

TEST_CASE("gradcheck_module catches a wrong gradient reaching a parameter") {
  // A layer whose forward uses the weight twice but whose "parameter" is then
  // perturbed: gradcheck must see the analytic and numeric gradients agree only
  // when the graph really reaches the rebound Var. Here we break it on purpose by
  // detaching the weight: the analytic gradient is zero, the numeric one is not.
  struct Broken : Module {
    Var weight{Tensor::ones({2, 2}), true};
    Broken() { register_parameter("weight", weight); }
    std::string type_name() const override { return "Broken"; }
    Var forward(const Var& x) override { return ag::linear(x, weight.detach()); }
  };
  Broken m;
  Generator gen(1);
  auto r =
      gradcheck_module(m, [&](const std::vector<Var>& in) { return m(in[0]); }, {rand_normal({3, 2}, gen)});
  CHECK_FALSE(r.ok);
}
