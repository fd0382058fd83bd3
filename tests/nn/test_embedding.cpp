// Tests of nn/embedding: lookup, N(0,1) init, range check, gradcheck through the table.
#include <doctest/doctest.h>

#include <cmath>

#include "nn/embedding.h"
#include "nn/gradcheck_module.h"

using namespace ld;
using namespace ld::nn;

TEST_CASE("Embedding looks rows up; ids out of range fail") {
  Generator gen(1);
  Embedding e(5, 3, gen);
  Tensor ids = Tensor::from_ints({4, 0, 4}, {1, 3});
  Tensor y = e.forward(ids).value();
  CHECK(y.shape() == Shape{1, 3, 3});
  for (int64_t j = 0; j < 3; ++j) {
    CHECK(y.at({0, 0, j}) == e.weight.value().at({4, j}));
    CHECK(y.at({0, 1, j}) == e.weight.value().at({0, j}));
  }
  CHECK_THROWS_WITH_AS(e.forward(Tensor::from_ints({5}, {1})), doctest::Contains("id 5"), Error);
  CHECK_THROWS_AS(e.forward(Tensor::zeros({2})), Error);  // F32 ids
}

TEST_CASE("Embedding init is N(0, 1)") {
  Generator gen(2);
  Embedding e(100, 100, gen);
  double m = 0, s = 0;
  std::vector<float> v = e.weight.value().to_vector();
  for (float f : v) m += f, s += double(f) * f;
  CHECK(std::fabs(m / v.size()) < 0.03);
  CHECK(s / v.size() == doctest::Approx(1.0).epsilon(0.03));
}

TEST_CASE("Embedding gradcheck through the table (a row used twice gets both gradients)") {
  Generator gen(3);
  Embedding e(4, 3, gen);
  auto r = gradcheck_module(e, [&](const std::vector<Var>& in) { return e(in[0]); },
                            {Tensor::from_ints({1, 3, 1, 0}, {2, 2})});
  CHECK_MESSAGE(r.ok, r.message);
  CHECK(r.checked == 12);
}
