// Tests of nn/low_rank_linear, nn/low_rank_conv2d and nn/low_rank_layout: y = U (V x) + b by
// hand, the parameter names of a compressed checkpoint, gradcheck through x, U, V and b (a
// wrong backward is caught), the kxk conv as conv(r, kxk) then conv1x1, the "never larger than
// dense" rank limit, and rebuilding a layout by name.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"
#include "nn/gradcheck_module.h"
#include "nn/low_rank_conv2d.h"
#include "nn/low_rank_layout.h"
#include "nn/low_rank_linear.h"
#include "nn/sequential.h"
#include "tensor/conv.h"
#include "tensor/elementwise.h"
#include "tensor/matmul.h"
#include "tests/tensor_compare.h"

using namespace ld;
using namespace ld::nn;
using ld::test::max_abs_diff;

namespace {

std::vector<std::string> parameter_names(const Module& m) {
  std::vector<std::string> names;
  for (auto& [n, p] : m.named_parameters()) names.push_back(n);
  return names;
}

}  // namespace

TEST_CASE("max_compressing_rank: the largest r with r (in + out) < in * out") {
  CHECK(max_compressing_rank(64, 64) == 31);  // 31 * 128 = 3968 < 4096, 32 * 128 = 4096 is not
  CHECK(max_compressing_rank(16, 16) == 7);
  CHECK(max_compressing_rank(64, 256) == 51);  // 51 * 320 = 16320 < 16384 <= 52 * 320
  CHECK(max_compressing_rank(1, 5) == 0);      // a 1-input layer cannot shrink
  for (int64_t in : {3, 10, 33})
    for (int64_t out : {2, 9, 40}) {
      const int64_t r = max_compressing_rank(in, out);
      CHECK(r * (in + out) < in * out);
      CHECK((r + 1) * (in + out) >= in * out);
    }
}

TEST_CASE("LowRankLinear: y = x V^T U^T + b, names bias / V.weight / U.weight, errors") {
  Generator gen(1);
  LowRankLinear layer(7, 5, 3, true, gen);
  CHECK(parameter_names(layer) == std::vector<std::string>{"bias", "V.weight", "U.weight"});
  CHECK(layer.V->weight.shape() == Shape{3, 7});
  CHECK(layer.U->weight.shape() == Shape{5, 3});
  CHECK(layer.num_parameters() == 3 * (7 + 5) + 5);
  const Tensor U = rand_normal({5, 3}, gen), V = rand_normal({3, 7}, gen), b = rand_normal({5}, gen);
  layer.set_factors(U, V, b);
  const Tensor x = rand_normal({2, 4, 7}, gen);
  const Tensor expect = add(matmul(x, matmul(U, V).transpose(0, 1)), b);
  CHECK(max_abs_diff(layer(Var(x)).value(), expect) < 1e-5);
  CHECK(max_abs_diff(layer.dense_weight(), matmul(U, V)) < 1e-6);

  LowRankLinear no_bias(4, 4, 1, false, gen);
  CHECK(parameter_names(no_bias) == std::vector<std::string>{"V.weight", "U.weight"});
  CHECK_THROWS_WITH_AS(
      no_bias.set_factors(rand_normal({4, 1}, gen), rand_normal({1, 4}, gen), Tensor::zeros({4})),
      doctest::Contains("without bias"), Error);
  CHECK_THROWS_WITH_AS(layer.set_factors(V, U), doctest::Contains("must be (5, 3) and (3, 7)"), Error);
  CHECK_THROWS_WITH_AS(layer(Var(Tensor::zeros({2, 6}))), doctest::Contains("must end in 7"), Error);
  CHECK_THROWS_WITH_AS(LowRankLinear(4, 3, 4, true, gen), doctest::Contains("larger than min(in, out) = 3"),
                       Error);
}

TEST_CASE("LowRankLinear gradcheck through x, b, V and U") {
  Generator gen(2);
  LowRankLinear layer(5, 4, 2, true, gen);
  auto r = gradcheck_module(layer, [&](const std::vector<Var>& in) { return layer(in[0]); },
                            {rand_normal({3, 5}, gen)});
  CHECK_MESSAGE(r.ok, r.message);
  CHECK(r.checked == 15 + 4 + 2 * 5 + 4 * 2);  // x, b, V (2, 5), U (4, 2)

  // the check is not vacuous: a layer whose forward drops the bias's gradient path fails it
  struct Broken : LowRankLinear {
    using LowRankLinear::LowRankLinear;
    Var forward(const Var& x) override {
      return ag::add(ag::linear(ag::linear(x, V->weight), U->weight), bias.detach());
    }
  };
  Broken broken(5, 4, 2, true, gen);
  auto rb = gradcheck_module(broken, [&](const std::vector<Var>& in) { return broken(in[0]); },
                             {rand_normal({3, 5}, gen)});
  CHECK_FALSE(rb.ok);
}

TEST_CASE("LowRankConv2d: conv_kxk to r channels, then 1x1 to out, = conv with (U V) reshaped") {
  Generator gen(3);
  for (int64_t k : {1, 3}) {
    CAPTURE(k);
    const int64_t stride = k == 3 ? 2 : 1, pad = k == 3 ? 1 : 0;
    LowRankConv2d layer(3, 6, k, stride, pad, 2, true, gen);
    CHECK(parameter_names(layer) == std::vector<std::string>{"bias", "V.weight", "U.weight"});
    CHECK(layer.V->weight.shape() == Shape{2, 3, k, k});
    CHECK(layer.U->weight.shape() == Shape{6, 2, 1, 1});
    const Tensor U = rand_normal({6, 2}, gen), V = rand_normal({2, 3 * k * k}, gen),
                 b = rand_normal({6}, gen);
    layer.set_factors(U, V, b);
    const Tensor x = rand_normal({2, 3, 7, 7}, gen);
    const Tensor W = matmul(U, V).reshape({6, 3, k, k});
    CHECK(max_abs_diff(layer.dense_weight(), W) < 1e-6);
    CHECK(max_abs_diff(layer(Var(x)).value(), conv2d_forward(x, W, b, stride, pad)) < 1e-4);
  }
  LowRankConv2d small(2, 3, 3, 1, 1, 2, true, gen);
  auto r = gradcheck_module(small, [&](const std::vector<Var>& in) { return small(in[0]); },
                            {rand_normal({1, 2, 4, 4}, gen)});
  CHECK_MESSAGE(r.ok, r.message);
  CHECK(r.checked == 32 + 3 + 2 * 18 + 3 * 2);
  CHECK_THROWS_WITH_AS(small(Var(Tensor::zeros({1, 3, 4, 4}))), doctest::Contains("must be (N, 2, H, W)"),
                       Error);
}

TEST_CASE("low-rank layout: listed by name, rebuilt in a fresh model, clear errors") {
  Generator gen(4);
  auto make_model = [&] {
    auto m = std::make_shared<Sequential>();
    m->push_back(make<Linear>(8, 8, true, gen));
    m->push_back(make<Conv2d>(4, 6, 3, 1, 1, false, gen));
    m->push_back(make<Linear>(8, 2, false, gen));
    return m;
  };
  auto a = make_model();
  a->replace_module("0", low_rank_like(*a->get_module("0"), 3, gen));
  a->replace_module("1", low_rank_like(*a->get_module("1"), 2, gen));
  const LowRankLayout layout = low_rank_layout(*a);
  CHECK(layout == LowRankLayout{{"0", 3}, {"1", 2}});
  CHECK(low_rank_layout_from_json(low_rank_layout_to_json(layout), "x") == layout);

  auto b = make_model();
  apply_low_rank_layout(*b, layout, "test.safetensors");
  CHECK(b->get_module("0")->type_name() == "LowRankLinear");
  auto conv = b->get_module_as<LowRankConv2d>("1");
  CHECK(conv->kernel_size == 3);
  CHECK_FALSE(conv->bias.defined());
  CHECK(b->get_module("2")->type_name() == "Linear");
  b->load_state_dict(a->state_dict(), true);  // same names and shapes: strict load works

  auto c = make_model();
  CHECK_THROWS_WITH_AS(apply_low_rank_layout(*c, {{"7", 2}}, "f.safetensors"),
                       doctest::Contains("f.safetensors: low-rank layer '7'"), Error);
  CHECK_THROWS_WITH_AS(apply_low_rank_layout(*c, {{"2", 5}}, "f.safetensors"),
                       doctest::Contains("larger than min(in, out)"), Error);
  CHECK_THROWS_WITH_AS(low_rank_layout_from_json("[1,2]", "f.safetensors"),
                       doctest::Contains("must be a JSON object"), Error);
}
