// Tests of nn/attention: projection names and biases, agreement with a hand-written
// single-head computation, the key padding mask, and gradcheck through everything.
#include <doctest/doctest.h>

#include <cmath>

#include "nn/attention.h"
#include "nn/gradcheck_module.h"
#include "nn/linear.h"

using namespace ld;
using namespace ld::nn;

TEST_CASE("projections are named to_q, to_k, to_v, to_out with the configured biases") {
  Generator gen(1);
  MultiHeadAttention unet_cross(8, 4, 6, /*qkv_bias=*/false, /*out_bias=*/true, gen);
  std::vector<std::string> names;
  for (auto& [n, p] : unet_cross.named_parameters()) names.push_back(n + shape_str(p.shape()));
  CHECK(names == std::vector<std::string>{"to_q.weight(8,8)", "to_k.weight(8,6)", "to_v.weight(8,6)",
                                          "to_out.weight(8,8)", "to_out.bias(8)"});
  MultiHeadAttention text(8, 4, 0, true, true, gen);
  CHECK(text.named_parameters().size() == 8);
  CHECK(text.context_dim == 8);
  CHECK_THROWS_WITH_AS(MultiHeadAttention(6, 4, 0, true, true, gen), doctest::Contains("heads"), Error);
}

TEST_CASE("one head, identity projections: softmax(q k^T / sqrt(d)) v by hand") {
  Generator gen(2);
  MultiHeadAttention attn(2, 1, 0, false, false, gen);
  for (const char* n : {"to_q.weight", "to_k.weight", "to_v.weight", "to_out.weight"})
    attn.parameter(n).set_value(Tensor::from_vector({1, 0, 0, 1}, {2, 2}));
  Tensor x = Tensor::from_vector({1, 0, 0, 2, 1, 1}, {1, 3, 2});
  Tensor y = attn(Var(x)).value();
  for (int64_t i = 0; i < 3; ++i) {
    double w[3], z = 0;
    for (int64_t j = 0; j < 3; ++j) {
      double s = (x.at({0, i, 0}) * x.at({0, j, 0}) + x.at({0, i, 1}) * x.at({0, j, 1})) / std::sqrt(2.0);
      w[j] = std::exp(s), z += w[j];
    }
    for (int64_t c = 0; c < 2; ++c) {
      double o = 0;
      for (int64_t j = 0; j < 3; ++j) o += w[j] / z * x.at({0, j, c});
      CHECK(y.at({0, i, c}) == doctest::Approx(o).epsilon(1e-5));
    }
  }
}

TEST_CASE("padded keys do not influence the output") {
  Generator gen(3);
  MultiHeadAttention attn(8, 2, 4, false, true, gen);
  Tensor x = rand_normal({2, 3, 8}, gen), c = rand_normal({2, 5, 4}, gen);
  Tensor keep = Tensor::from_vector({1, 1, 1, 0, 0, 1, 0, 0, 0, 0}, {2, 5});
  Tensor y1 = attn.forward(Var(x), Var(c), keep).value();
  Tensor c2 = c.clone();
  c2.narrow(1, 3, 2).narrow(0, 0, 1).fill_(100.0f);  // padded keys of sample 0
  c2.narrow(1, 1, 4).narrow(0, 1, 1).fill_(-50.0f);  // padded keys of sample 1
  Tensor y2 = attn.forward(Var(x), Var(c2), keep).value();
  std::vector<float> a = y1.to_vector(), b = y2.to_vector();
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-6));
  Tensor y3 = attn.forward(Var(x), Var(c2)).value();  // without the mask they matter
  CHECK(y3.to_vector() != a);
}

TEST_CASE(
    "gradcheck: self-attention (biases) and masked cross-attention through inputs and all projections") {
  Generator gen(4);
  MultiHeadAttention self_attn(4, 2, 0, true, true, gen);
  auto r = gradcheck_module(self_attn, [&](const std::vector<Var>& in) { return self_attn(in[0]); },
                            {rand_normal({2, 3, 4}, gen)});
  CHECK_MESSAGE(r.ok, r.message);

  MultiHeadAttention cross(4, 2, 3, false, true, gen);
  Tensor keep = Tensor::from_vector({1, 1, 0, 1, 0, 0}, {2, 3});
  r = gradcheck_module(cross, [&](const std::vector<Var>& in) { return cross.forward(in[0], in[1], keep); },
                       {rand_normal({2, 2, 4}, gen), rand_normal({2, 3, 3}, gen)});
  CHECK_MESSAGE(r.ok, r.message);
}
