// Tests of nn/dropout, nn/activation and nn/sequential.
#include <doctest/doctest.h>

#include <cmath>

#include "nn/activation.h"
#include "nn/dropout.h"
#include "nn/gradcheck_module.h"
#include "nn/linear.h"
#include "nn/sequential.h"

using namespace ld;
using namespace ld::nn;

TEST_CASE("Dropout: scaled Bernoulli mask in training, identity in eval, seeded") {
  Generator g1(1), g2(1);
  Dropout a(0.25f, g1), b(0.25f, g2);
  Var x(Tensor::ones({10000}));
  std::vector<float> ya = a(x).value().to_vector(), yb = b(x).value().to_vector();
  CHECK(ya == yb);
  int zeros = 0;
  for (float v : ya) {
    CHECK((v == 0.0f || std::fabs(v - 1.0f / 0.75f) < 1e-6f));
    zeros += v == 0.0f;
  }
  CHECK(zeros == doctest::Approx(2500).epsilon(0.08));
  a.eval();
  CHECK(a(x).value().to_vector() == std::vector<float>(10000, 1.0f));
  CHECK_THROWS_AS(Dropout(1.0f, g1), Error);
}

TEST_CASE("SiLU, GELU, ReLU values") {
  Var x(Tensor::from_vector({-1.0f, 0.0f, 2.0f}, {3}));
  std::vector<float> s = SiLU()(x).value().to_vector(), g = GELU()(x).value().to_vector(),
                     r = ReLU()(x).value().to_vector();
  CHECK(s[0] == doctest::Approx(-1.0 / (1.0 + std::exp(1.0))));
  CHECK(s[2] == doctest::Approx(2.0 / (1.0 + std::exp(-2.0))));
  CHECK(g[0] == doctest::Approx(-1.0 * 0.5 * (1.0 + std::erf(-1.0 / std::sqrt(2.0)))));
  CHECK(g[2] == doctest::Approx(2.0 * 0.5 * (1.0 + std::erf(2.0 / std::sqrt(2.0)))));
  CHECK(r == std::vector<float>{0.0f, 0.0f, 2.0f});
}

TEST_CASE("Sequential chains its children, named 0, 1, ...; gradcheck through all of them") {
  Generator gen(2);
  Sequential mlp;
  mlp.push_back(make<Linear>(3, 5, true, gen))
      .push_back(make<GELU>())
      .push_back(make<Linear>(5, 2, true, gen));
  mlp.push_back(make<SiLU>());
  CHECK(mlp.size() == 4);
  std::vector<std::string> names;
  for (auto& [n, _] : mlp.named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  auto r = gradcheck_module(mlp, [&](const std::vector<Var>& in) { return mlp(in[0]); },
                            {rand_normal({4, 3}, gen)});
  CHECK_MESSAGE(r.ok, r.message);
  // replacing a child by its name changes what the chain computes
  mlp.replace_module("1", make<ReLU>());
  CHECK(mlp[1]->type_name() == "ReLU");
}
