// Tests of nn/group_norm and nn/layer_norm: init (ones, zeros), normalisation, gradcheck.
#include <doctest/doctest.h>

#include <string>

#include "autograd/ops.h"
#include "nn/gradcheck_module.h"
#include "nn/group_norm.h"
#include "nn/layer_norm.h"

using namespace ld;
using namespace ld::nn;

TEST_CASE("GroupNorm starts at weight 1, bias 0 and normalises each group") {
  GroupNorm gn(2, 4);
  CHECK(gn.weight.value().to_vector() == std::vector<float>(4, 1.0f));
  CHECK(gn.bias.value().to_vector() == std::vector<float>(4, 0.0f));
  Generator gen(1);
  Tensor y = gn(Var(rand_normal({2, 4, 3, 3}, gen, 5.0f, 3.0f))).value();
  // group (n=0, g=1) = channels 2, 3
  Tensor g = y.narrow(0, 0, 1).narrow(1, 2, 2);
  std::vector<float> v = g.to_vector();
  double m = 0, s = 0;
  for (float f : v) m += f;
  m /= v.size();
  for (float f : v) s += (f - m) * (f - m);
  CHECK(m == doctest::Approx(0).epsilon(1e-5).scale(1));
  CHECK(s / v.size() == doctest::Approx(1).epsilon(1e-3));
  CHECK_THROWS_WITH_AS(GroupNorm(3, 4), doctest::Contains("cannot be split"), Error);
}

TEST_CASE("GroupNorm gradcheck through input, weight and bias") {
  Generator gen(2);
  GroupNorm gn(2, 4);
  // non-trivial affine parameters, so their gradients are not all alike
  gn.weight.set_value(rand_normal({4}, gen));
  gn.bias.set_value(rand_normal({4}, gen));
  auto r = gradcheck_module(gn, [&](const std::vector<Var>& in) { return gn(in[0]); },
                            {rand_normal({2, 4, 3, 2}, gen)});
  CHECK_MESSAGE(r.ok, r.message);
}

TEST_CASE(
    "GroupNorm::forward_silu equals silu(forward) and passes gradcheck; it keeps no normalised tensor") {
  Generator gen(4);
  GroupNorm gn(2, 4);
  gn.weight.set_value(rand_normal({4}, gen));
  gn.bias.set_value(rand_normal({4}, gen));
  Tensor x = rand_normal({2, 4, 3, 2}, gen, 0.5f, 2.0f);
  Var a(x.clone(), true), b(x.clone(), true);
  Var za = gn.forward_silu(a), zb = ag::silu(gn.forward(b));
  const auto va = za.value().to_vector(), vb = zb.value().to_vector();
  for (size_t i = 0; i < va.size(); ++i) CHECK(va[i] == doctest::Approx(vb[i]).epsilon(1e-6).scale(1));
  Tensor dz = rand_normal(x.shape(), gen);
  za.backward(dz);
  const auto ga = a.grad().to_vector();
  gn.zero_grad();
  zb.backward(dz);
  const auto gb = b.grad().to_vector();
  for (size_t i = 0; i < ga.size(); ++i) CHECK(ga[i] == doctest::Approx(gb[i]).epsilon(1e-5).scale(1));
  CHECK(std::string(za.node()->op) == "group_norm_silu");  // one node: no stored normalised tensor
  CHECK(za.node()->inputs[0].get() == a.node());           // straight from x
  auto r = gradcheck_module(gn, [&](const std::vector<Var>& in) { return gn.forward_silu(in[0]); },
                            {rand_normal({2, 4, 3, 2}, gen)});
  CHECK_MESSAGE(r.ok, r.message);
}

TEST_CASE("LayerNorm normalises the last axis; gradcheck through input, weight and bias") {
  Generator gen(3);
  LayerNorm ln(6);
  Tensor y = ln(Var(rand_normal({4, 6}, gen, 2.0f, 4.0f))).value();
  for (int64_t r = 0; r < 4; ++r) {
    double m = 0;
    for (int64_t c = 0; c < 6; ++c) m += y.at({r, c});
    CHECK(m / 6 == doctest::Approx(0).scale(1).epsilon(1e-5));
  }
  ln.weight.set_value(rand_normal({6}, gen));
  ln.bias.set_value(rand_normal({6}, gen));
  auto r = gradcheck_module(ln, [&](const std::vector<Var>& in) { return ln(in[0]); },
                            {rand_normal({2, 3, 6}, gen)});
  CHECK_MESSAGE(r.ok, r.message);
}
