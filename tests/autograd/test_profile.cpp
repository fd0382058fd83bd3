// tests/autograd/test_profile.cpp: the op-by-op profile (autograd/profile.h): every recorded op gets a
// forward row, every backward closure a backward row, GEMM-shaped ops their exact FLOP counts, and
// nothing is recorded while the profile is off.
#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "autograd/profile.h"
#include "tensor/random.h"

using namespace ld;
using namespace ld::ag;

namespace {
const profile::Row* find(const std::vector<profile::Row>& rows, const std::string& op,
                         const std::string& phase) {
  for (const auto& r : rows)
    if (r.op == op && r.phase == phase) return &r;
  return nullptr;
}
}  // namespace

TEST_CASE("profile: rows per op and phase, with the FLOPs of linear, matmul and conv2d") {
  Generator g(0);
  Var x(rand_uniform({6, 8}, g, -1, 1), false);  // (M, in): no gradient wanted for the input
  Var w(rand_uniform({5, 8}, g, -1, 1), true);   // (out, in)
  Var img(rand_uniform({2, 3, 7, 7}, g, -1, 1), true);
  Var k(rand_uniform({4, 3, 3, 3}, g, -1, 1), true);
  profile::start();
  Var y = linear(x, w);                                           // 2 * 6*5 * 8 = 480
  Var z = matmul(y, Var(rand_uniform({5, 2}, g, -1, 1), false));  // 2 * 6*2 * 5 = 120
  Var c = conv2d(img, k, Var(), 1, 1);                            // 2 * (2*4*7*7) * 27 = 21168
  Var loss = sum(silu(z)) + sum(c);
  loss.backward();
  const auto rows = profile::stop();

  const auto* lf = find(rows, "linear", "forward");
  REQUIRE(lf);
  CHECK(lf->calls == 1);
  CHECK(lf->gflop * 1e9 == doctest::Approx(480));
  const auto* lb = find(rows, "linear", "backward");
  REQUIRE(lb);
  CHECK(lb->gflop * 1e9 == doctest::Approx(480));  // only dW: x needs no gradient
  CHECK(find(rows, "matmul", "forward")->gflop * 1e9 == doctest::Approx(120));
  CHECK(find(rows, "matmul", "backward")->gflop * 1e9 == doctest::Approx(120));  // only dA
  CHECK(find(rows, "conv2d", "forward")->gflop * 1e9 == doctest::Approx(21168));
  CHECK(find(rows, "conv2d", "backward")->gflop * 1e9 == doctest::Approx(2 * 21168));  // dx and dW
  REQUIRE(find(rows, "silu", "forward"));
  CHECK(find(rows, "silu", "forward")->gflop == 0);
  CHECK(find(rows, "silu", "backward"));
  CHECK(find(rows, "sum", "forward")->calls == 2);
  for (const auto& r : rows) CHECK(r.ms >= 0);
  // largest first
  for (size_t i = 1; i < rows.size(); ++i) CHECK(rows[i - 1].ms >= rows[i].ms);
}

TEST_CASE("profile: nothing is recorded while it is off, and NoGrad forwards are still profiled") {
  Generator g(1);
  Var w(rand_uniform({3, 4}, g, -1, 1), true);
  profile::start();
  (void)profile::stop();
  Var y = linear(Var(rand_uniform({2, 4}, g, -1, 1)), w);
  profile::start();
  {
    NoGrad ng;
    Var z = linear(Var(rand_uniform({2, 4}, g, -1, 1)), w);
  }
  const auto rows = profile::stop();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].op == "linear");
  CHECK(rows[0].phase == "forward");
  CHECK(rows[0].calls == 1);
  CHECK(!profile::enabled());
}
