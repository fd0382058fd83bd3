// Tests of lora/lora_linear and lora/lora_conv2d: Eq. (LoRA) by hand, B = 0 and w = 0 change
// nothing (bit for bit), gradcheck through x, A and B (W0 frozen), merge / unmerge round trip,
// several adapters with their own weights, dropout only in training, the names of the parameters.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"
#include "lora/lora_conv2d.h"
#include "lora/lora_linear.h"
#include "nn/gradcheck_module.h"
#include "tensor/elementwise.h"
#include "tensor/matmul.h"
#include "tests/tensor_compare.h"

using namespace ld;
using namespace ld::lora;
using ld::test::max_abs_diff;

namespace {

// Give an adapter random A and B (B is zero after add_adapter).
void randomize(LoRAAdapter& a, Generator& gen) {
  a.A().set_value(rand_normal(a.A().shape(), gen, 0.0f, 0.5f));
  a.B().set_value(rand_normal(a.B().shape(), gen, 0.0f, 0.5f));
}

}  // namespace

TEST_CASE("LoRALinear: h = W0 x + b + w (alpha / r) B A x, parameter names as reference-model.md") {
  Generator gen(1);
  auto base = nn::make<nn::Linear>(6, 5, true, gen);
  LoRALinear layer(base);
  const size_t i = layer.add_adapter("a", 3, 6.0f, 0.5f, 0.0f, gen);
  randomize(layer.adapter(i), gen);
  Tensor x = rand_normal({4, 6}, gen);
  Tensor h = layer(Var(x)).value();
  const LoRAAdapter& a = layer.adapter(i);
  // by hand: x W0^T + b + 0.5 * (6/3) * x A^T B^T
  Tensor expect = add(matmul(x, base->weight.value().transpose(0, 1)), base->bias.value());
  Tensor lowrank = matmul(matmul(x, a.A().value().transpose(0, 1)), a.B().value().transpose(0, 1));
  expect = add(expect, mul_scalar(lowrank, 0.5f * 6.0f / 3.0f));
  CHECK(max_abs_diff(h, expect) < 1e-5);

  std::vector<std::string> names;
  for (auto& [n, p] : layer.named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"weight", "bias", "lora_A.weight", "lora_B.weight"});
  CHECK(a.A().shape() == Shape{3, 6});  // (r, in)
  CHECK(a.B().shape() == Shape{5, 3});  // (out, r)
  // a second adapter gets suffixed names
  layer.add_adapter("b", 2, 2.0f, 1.0f, 0.0f, gen);
  CHECK(layer.named_parameters().size() == 6);
  CHECK(layer.named_parameters()[4].first == "lora_A_1.weight");
  CHECK_THROWS_WITH_AS(layer.add_adapter("a", 2, 2.0f, 1.0f, 0.0f, gen),
                       doctest::Contains("already attached"), Error);
  CHECK_THROWS_WITH_AS(layer(Var(Tensor::zeros({2, 5}))), doctest::Contains("must end in 6"), Error);
}

TEST_CASE("a new adapter (B = 0) and an adapter with weight 0 leave the output bit-identical") {
  Generator gen(2);
  auto base = nn::make<nn::Linear>(8, 7, true, gen);
  Tensor x = rand_normal({3, 4, 8}, gen);
  const std::vector<float> before = base->forward(Var(x)).value().to_vector();
  LoRALinear layer(base);
  const size_t i = layer.add_adapter("a", 4, 4.0f, 1.0f, 0.0f, gen);
  // A is Kaiming-uniform U(-1/sqrt(in), 1/sqrt(in)), B zero
  for (float v : layer.adapter(i).A().value().to_vector()) CHECK(std::fabs(v) <= 1.0f / std::sqrt(8.0f));
  for (float v : layer.adapter(i).B().value().to_vector()) CHECK(v == 0.0f);
  CHECK(layer(Var(x)).value().to_vector() == before);
  randomize(layer.adapter(i), gen);
  CHECK(layer(Var(x)).value().to_vector() != before);
  layer.adapter(i).weight = 0.0f;
  CHECK(layer(Var(x)).value().to_vector() == before);
}

TEST_CASE("LoRALinear gradcheck through x, A and B with W0 frozen; W0 gets no gradient") {
  Generator gen(3);
  auto base = nn::make<nn::Linear>(5, 4, true, gen);
  base->requires_grad(false);
  LoRALinear layer(base);
  randomize(layer.adapter(layer.add_adapter("a", 2, 3.0f, 0.7f, 0.0f, gen)), gen);
  auto r = nn::gradcheck_module(layer, [&](const std::vector<Var>& in) { return layer(in[0]); },
                                {rand_normal({3, 5}, gen)});
  CHECK_MESSAGE(r.ok, r.message);
  CHECK(r.checked == 15 + 2 * 5 + 4 * 2);  // x, A (2, 5), B (4, 2); not W0 or b

  Var x(rand_normal({3, 5}, gen), true);
  ag::sum(layer(x)).backward();
  CHECK_FALSE(layer.weight.grad().defined());
  CHECK(layer.adapter(0).A().grad().defined());
  CHECK(layer.adapter(0).B().grad().defined());
}

TEST_CASE("gradcheck with two adapters (one at weight 0) and the base trainable too") {
  Generator gen(4);
  auto base = nn::make<nn::Linear>(4, 3, false, gen);
  LoRALinear layer(base);
  randomize(layer.adapter(layer.add_adapter("a", 2, 2.0f, 1.5f, 0.0f, gen)), gen);
  randomize(layer.adapter(layer.add_adapter("b", 1, 1.0f, -0.5f, 0.0f, gen)), gen);
  auto r = nn::gradcheck_module(layer, [&](const std::vector<Var>& in) { return layer(in[0]); },
                                {rand_normal({2, 4}, gen)});
  CHECK_MESSAGE(r.ok, r.message);
  CHECK(r.checked == 8 + 12 + (8 + 6) + (4 + 3));
}

TEST_CASE("the fused op and the composed ops agree: outputs and every gradient") {
  for (bool frozen : {true, false}) {
    CAPTURE(frozen);
    Generator gen(11);
    auto base = nn::make<nn::Linear>(6, 5, true, gen);
    if (frozen) base->requires_grad(false);
    LoRALinear layer(base);
    randomize(layer.adapter(layer.add_adapter("a", 3, 6.0f, 0.5f, 0.0f, gen)), gen);
    randomize(layer.adapter(layer.add_adapter("b", 2, 1.0f, -2.0f, 0.0f, gen)), gen);
    layer.add_adapter("zero", 2, 1.0f, 0.0f, 0.0f, gen);  // weight 0: skipped by both
    Tensor xt = rand_normal({2, 3, 6}, gen), dy = rand_normal({2, 3, 5}, gen);
    std::vector<std::vector<float>> outs, grads;
    for (bool fused : {true, false}) {
      layer.fused = fused;
      layer.zero_grad();
      Var x(xt, true);
      Var y = layer(x);
      outs.push_back(y.value().to_vector());
      y.backward(dy);
      std::vector<float> g = x.grad().to_vector();
      for (auto& [name, p] : layer.named_parameters())
        if (p.grad().defined())
          for (float v : p.grad().to_vector()) g.push_back(v);
      grads.push_back(g);
    }
    CHECK(std::string(layer.fused ? "" : "composed") == "composed");
    REQUIRE(outs[0].size() == outs[1].size());
    REQUIRE(grads[0].size() == grads[1].size());
    CHECK(grads[0].size() == 36 + (frozen ? 0 : 35) + 18 + 15 + 12 + 10);
    for (size_t i = 0; i < outs[0].size(); ++i)
      CHECK(outs[0][i] == doctest::Approx(outs[1][i]).epsilon(1e-5));
    for (size_t i = 0; i < grads[0].size(); ++i)
      CHECK(grads[0][i] == doctest::Approx(grads[1][i]).epsilon(1e-4));
  }
}

TEST_CASE("several adapters: h = W0 x + sum_i w_i (alpha_i / r_i) B_i A_i x") {
  Generator gen(5);
  auto base = nn::make<nn::Linear>(6, 6, true, gen);
  LoRALinear layer(base);
  const size_t a = layer.add_adapter("a", 2, 4.0f, 0.8f, 0.0f, gen);
  const size_t b = layer.add_adapter("b", 3, 3.0f, -1.2f, 0.0f, gen);
  randomize(layer.adapter(a), gen);
  randomize(layer.adapter(b), gen);
  Tensor x = rand_normal({5, 6}, gen);
  Tensor h = layer(Var(x)).value();
  Tensor w = base->weight.value().clone();
  axpy_(w, 0.8f, layer.delta_weight(a));
  axpy_(w, -1.2f, layer.delta_weight(b));
  Tensor expect = add(matmul(x, w.transpose(0, 1)), base->bias.value());
  CHECK(max_abs_diff(h, expect) < 1e-5);
  // delta_weight(i) is (alpha/r) B A
  Tensor d = mul_scalar(matmul(layer.adapter(a).B().value(), layer.adapter(a).A().value()), 2.0f);
  CHECK(max_abs_diff(layer.delta_weight(a), d) < 1e-6);
}

TEST_CASE("merge gives the same outputs; unmerge restores W0 exactly") {
  Generator gen(6);
  auto base = nn::make<nn::Linear>(16, 12, true, gen);
  const std::vector<float> w0 = base->weight.value().to_vector();
  LoRALinear layer(base);
  const size_t a = layer.add_adapter("a", 4, 8.0f, 0.9f, 0.0f, gen);
  const size_t b = layer.add_adapter("b", 2, 2.0f, 0.5f, 0.0f, gen);
  randomize(layer.adapter(a), gen);
  randomize(layer.adapter(b), gen);
  Tensor x = rand_normal({7, 16}, gen);
  const Tensor unmerged = layer(Var(x)).value();

  layer.merge(a);
  CHECK(layer.adapter(a).merged);
  CHECK(max_abs_diff(layer(Var(x)).value(), unmerged) < 1e-4);
  CHECK(base->weight.value().to_vector() != w0);  // the wrapped Linear sees the merged weight
  layer.merge(b);
  CHECK(max_abs_diff(layer(Var(x)).value(), unmerged) < 1e-4);
  CHECK(max_abs_diff(base->forward(Var(x)).value(), unmerged) < 1e-4);  // base alone = base + adapters
  CHECK_THROWS_WITH_AS(layer.merge(a), doctest::Contains("already merged"), Error);

  layer.unmerge(a);  // b stays merged: subtraction
  CHECK(max_abs_diff(layer(Var(x)).value(), unmerged) < 1e-4);
  layer.unmerge(b);  // nothing merged any more: the saved W0, bit for bit
  CHECK(base->weight.value().to_vector() == w0);
  CHECK(layer(Var(x)).value().to_vector() == unmerged.to_vector());
  CHECK_THROWS_WITH_AS(layer.unmerge(b), doctest::Contains("not merged"), Error);

  // merge, change nothing, unmerge: W0 exact after many rounds
  for (int k = 0; k < 5; ++k) {
    layer.merge(b);
    layer.unmerge(b);
  }
  CHECK(base->weight.value().to_vector() == w0);
}

TEST_CASE("adapter dropout acts in training mode only") {
  Generator gen(7);
  auto base = nn::make<nn::Linear>(32, 8, false, gen);
  LoRALinear layer(base);
  randomize(layer.adapter(layer.add_adapter("a", 4, 4.0f, 1.0f, 0.5f, gen)), gen);
  Tensor x = rand_normal({4, 32}, gen);
  layer.eval();
  const Tensor e1 = layer(Var(x)).value(), e2 = layer(Var(x)).value();
  CHECK(e1.to_vector() == e2.to_vector());
  layer.train();
  CHECK(layer(Var(x)).value().to_vector() != e1.to_vector());
  CHECK_THROWS_WITH_AS(layer.add_adapter("b", 2, 2.0f, 1.0f, 1.0f, gen), doctest::Contains("[0, 1)"), Error);
  CHECK_THROWS_WITH_AS(layer.add_adapter("b", 0, 2.0f, 1.0f, 0.0f, gen), doctest::Contains("rank 0"), Error);
}

TEST_CASE("LoRAConv2d (LoCon): B = 0 identical, gradcheck, merge matches, shapes") {
  for (int64_t k : {1, 3}) {
    CAPTURE(k);
    Generator gen(8);
    auto base = nn::make<nn::Conv2d>(3, 4, k, k == 3 ? 2 : 1, k == 3 ? 1 : 0, true, gen);
    Tensor x = rand_normal({2, 3, 5, 5}, gen);
    const std::vector<float> before = base->forward(Var(x)).value().to_vector();
    LoRAConv2d layer(base);
    const size_t i = layer.add_adapter("a", 2, 2.0f, 0.7f, 0.0f, gen);
    CHECK(layer.adapter(i).A().shape() == Shape{2, 3, k, k});
    CHECK(layer.adapter(i).B().shape() == Shape{4, 2, 1, 1});
    CHECK(layer(Var(x)).value().to_vector() == before);
    randomize(layer.adapter(i), gen);
    const Tensor h = layer(Var(x)).value();
    CHECK(h.to_vector() != before);

    base->requires_grad(false);
    auto r = nn::gradcheck_module(layer, [&](const std::vector<Var>& in) { return layer(in[0]); }, {x});
    CHECK_MESSAGE(r.ok, r.message);

    layer.merge(i);
    CHECK(max_abs_diff(base->forward(Var(x)).value(), h) < 1e-4);
    layer.unmerge(i);
    CHECK(base->forward(Var(x)).value().to_vector() == before);
  }
}
