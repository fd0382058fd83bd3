// gradcheck can fail: a deliberately wrong backward is caught.
#include <doctest/doctest.h>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "tensor/elementwise.h"
#include "tensor/random.h"

using namespace ld;
using namespace ld::ag;

// y = x^2 with a wrong backward (dx = x dy, missing the factor 2)
static Var broken_square(const Var& x) {
  return make_node(mul(x.value(), x.value()), "broken_square", {x}, [](Node& self) {
    self.inputs[0]->accumulate(mul(self.grad, self.inputs[0]->value));
  });
}

// y = x^2 with the right backward
static Var good_square(const Var& x) {
  return make_node(mul(x.value(), x.value()), "square", {x}, [](Node& self) {
    self.inputs[0]->accumulate(mul_scalar(mul(self.grad, self.inputs[0]->value), 2.0f));
  });
}

TEST_CASE("a wrong backward fails gradcheck, the right one passes") {
  Generator g(1);
  Tensor x = rand_normal({3, 4}, g);
  auto bad = gradcheck([](const std::vector<Var>& v) { return broken_square(v[0]); }, {x});
  CHECK_FALSE(bad.ok);
  CHECK(bad.message.find("analytic") != std::string::npos);
  auto good = gradcheck([](const std::vector<Var>& v) { return good_square(v[0]); }, {x});
  CHECK(good.ok);
}

TEST_CASE("a backward that forgets broadcasting is caught") {
  Generator g(2);
  Tensor a = rand_normal({3, 4}, g), b = rand_normal({4}, g);
  // correct: add broadcasts b and sums its gradient over rows
  auto ok = gradcheck([](const std::vector<Var>& v) { return v[0] + v[1]; }, {a, b});
  CHECK(ok.ok);
  // wrong: pretend b's gradient is only the first row of dy
  auto bad = gradcheck(
      [](const std::vector<Var>& v) {
        return make_node(add(v[0].value(), v[1].value()), "bad_add", {v[0], v[1]}, [](Node& self) {
          self.inputs[0]->accumulate(self.grad);
          self.inputs[1]->accumulate(self.grad.select(0, 0));
        });
      },
      {a, b});
  CHECK_FALSE(bad.ok);
}
