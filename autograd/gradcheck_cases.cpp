// autograd/gradcheck_cases.cpp: the list of gradient checks, one or more per op of ops.h
// (run by tests/autograd/test_gradcheck_ops.cpp and `loradiff gradcheck`).
#include "autograd/gradcheck_cases.h"

#include <cmath>

#include "autograd/ops.h"
#include "tensor/elementwise.h"

namespace ld::ag {

namespace {

uint64_t g_seed = 100;
Tensor randn(const Shape& s) {
  Generator g(g_seed++);
  return rand_normal(s, g);
}
// |x| >= 0.2 with random sign: keeps finite differences away from kinks (relu, abs)
Tensor away_from_zero(const Shape& s) {
  Tensor x = randn(s);
  float* p = x.f32();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = (p[i] >= 0 ? 1.0f : -1.0f) * (0.2f + std::fabs(p[i]));
  return x;
}
Tensor positive(const Shape& s) {
  Tensor x = randn(s);
  float* p = x.f32();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = 0.5f + std::fabs(p[i]);
  return x;
}
// A (rows, cols) tensor that is the transpose of contiguous memory: not contiguous.
Tensor transposed(const Shape& s) { return randn({s[1], s[0]}).transpose(0, 1); }

}  // namespace

std::vector<GradcheckCase> gradcheck_cases() {
  g_seed = 100;
  using V = const std::vector<Var>&;
  std::vector<GradcheckCase> c;
  auto add_case = [&](std::string name, GradcheckFn fn, std::vector<Tensor> in, GradcheckOptions o = {}) {
    c.push_back({std::move(name), std::move(fn), std::move(in), o});
  };

  // arithmetic, with broadcasting both ways and non-contiguous operands
  add_case("add/same", [](V x) { return x[0] + x[1]; }, {randn({3, 4}), randn({3, 4})});
  add_case("add/broadcast_row", [](V x) { return x[0] + x[1]; }, {randn({3, 4}), randn({4})});
  add_case("add/broadcast_both", [](V x) { return x[0] + x[1]; }, {randn({2, 1, 4}), randn({3, 1})});
  add_case("add/noncontiguous", [](V x) { return x[0] + x[1]; }, {transposed({3, 4}), randn({3, 4})});
  add_case("sub/broadcast", [](V x) { return x[0] - x[1]; }, {randn({2, 3}), randn({2, 1})});
  add_case("mul/broadcast", [](V x) { return x[0] * x[1]; }, {randn({2, 3, 4}), randn({3, 1})});
  add_case("mul/sliced", [](V x) { return x[0] * x[1]; }, {randn({4, 6}).narrow(1, 1, 3), randn({4, 3})});
  add_case("div/broadcast", [](V x) { return x[0] / x[1]; }, {randn({3, 4}), positive({4})});
  add_case("neg", [](V x) { return -x[0]; }, {randn({5})});
  add_case("scale", [](V x) { return x[0] * 2.5f; }, {randn({2, 3})});
  add_case("add_scalar", [](V x) { return x[0] + 1.5f; }, {randn({2, 3})});

  // element-wise functions
  add_case("exp", [](V x) { return exp(x[0]); }, {randn({3, 4})});
  add_case("log", [](V x) { return log(x[0]); }, {positive({3, 4})});
  add_case("sqrt", [](V x) { return sqrt(x[0]); }, {positive({3, 4})});
  add_case("pow", [](V x) { return pow(x[0], 2.5f); }, {positive({3, 4})});
  add_case("tanh", [](V x) { return tanh(x[0]); }, {randn({3, 4})});
  add_case("sigmoid", [](V x) { return sigmoid(x[0]); }, {randn({3, 4})});
  add_case("relu", [](V x) { return relu(x[0]); }, {away_from_zero({3, 4})});
  add_case("silu", [](V x) { return silu(x[0]); }, {randn({3, 4})});
  add_case("silu/noncontiguous", [](V x) { return silu(x[0]); }, {transposed({3, 4})});
  add_case("gelu", [](V x) { return gelu(x[0]); }, {randn({3, 4})});

  // products
  add_case("matmul/2d", [](V x) { return matmul(x[0], x[1]); }, {randn({3, 4}), randn({4, 5})});
  add_case("matmul/transposed", [](V x) { return matmul(x[0], x[1]); }, {transposed({3, 4}), transposed({4, 2})});
  add_case("matmul/batched", [](V x) { return matmul(x[0], x[1]); }, {randn({2, 3, 4}), randn({2, 4, 5})});
  add_case("matmul/broadcast", [](V x) { return matmul(x[0], x[1]); }, {randn({2, 3, 4}), randn({4, 2})});
  add_case("matmul/permuted_4d", [](V x) { return matmul(x[0], x[1]); },
           {randn({2, 3, 2, 4}).permute({0, 2, 1, 3}), randn({2, 2, 4, 3})});
  add_case("linear/bias", [](V x) { return linear(x[0], x[1], x[2]); }, {randn({4, 3}), randn({5, 3}), randn({5})});
  add_case("linear/no_bias_3d", [](V x) { return linear(x[0], x[1]); }, {randn({2, 3, 4}), randn({2, 4})});
  add_case("linear/noncontiguous", [](V x) { return linear(x[0], x[1], x[2]); },
           {transposed({3, 4}), randn({2, 4}), randn({2})});
  // the layer and its GELU in one op, GELU(x W^T + b) (the fused path itself: tests/nn/test_forward_gelu.cpp)
  add_case("linear_gelu/bias", [](V x) { return linear_gelu(x[0], x[1], x[2]); },
           {randn({4, 3}), randn({5, 3}), randn({5})});
  add_case("linear_gelu/no_bias_3d", [](V x) { return linear_gelu(x[0], x[1]); }, {randn({2, 3, 4}), randn({2, 4})});
  // a residual connection fused into the layer (x W^T + b) + r; dr = dY
  add_case("linear/residual", [](V x) { return linear(x[0], x[1], x[2], x[3]); },
           {randn({4, 3}), randn({5, 3}), randn({5}), randn({4, 5})});
  // the residual is the input itself (x W^T + b + x, in == out): its two gradients add
  add_case("linear/residual_is_input", [](V x) { return linear(x[0], x[1], x[2], x[0]); },
           {randn({4, 3}), randn({3, 3}), randn({3})});
  add_case("conv2d/residual_is_input", [](V x) { return conv2d(x[0], x[1], x[2], 1, 1, x[0]); },
           {randn({2, 3, 4, 4}), randn({3, 3, 3, 3}), randn({3})});
  add_case("linear/residual_no_bias_3d", [](V x) { return linear(x[0], x[1], Var(), x[2]); },
           {randn({2, 3, 4}), randn({2, 4}), randn({2, 3, 2})});

  // reductions
  add_case("sum/all", [](V x) { return sum(x[0]); }, {randn({3, 4})});
  add_case("sum/axes_keepdim", [](V x) { return sum(x[0], {0, 2}, true); }, {randn({2, 3, 4})});
  add_case("sum/noncontiguous", [](V x) { return sum(x[0], {1}); }, {transposed({3, 4})});
  add_case("mean/axis", [](V x) { return mean(x[0], {-1}); }, {randn({2, 3, 4})});

  // views and joins
  add_case("reshape", [](V x) { return reshape(x[0], {4, 3}) * x[1]; }, {randn({3, 4}), randn({4, 3})});
  add_case("permute", [](V x) { return permute(x[0], {2, 0, 1}) * x[1]; }, {randn({2, 3, 4}), randn({4, 2, 3})});
  add_case("transpose", [](V x) { return transpose(x[0], 0, 1) * x[1]; }, {randn({2, 3}), randn({3, 2})});
  add_case("narrow", [](V x) { return narrow(x[0], 1, 1, 2) * x[1]; }, {randn({3, 4}), randn({3, 2})});
  add_case("expand", [](V x) { return expand(x[0], {3, 4}) * x[1]; }, {randn({1, 4}), randn({3, 4})});
  add_case("concat", [](V x) { return concat({x[0], x[1]}, 1) * x[2]; },
           {randn({2, 3}), transposed({2, 2}), randn({2, 5})});

  // softmax
  add_case("softmax/last", [](V x) { return softmax(x[0], -1); }, {randn({3, 5})});
  add_case("softmax/axis0", [](V x) { return softmax(x[0], 0); }, {randn({4, 3})});
  add_case("log_softmax", [](V x) { return log_softmax(x[0], -1); }, {randn({3, 5})});

  // layers' maths
  add_case("conv2d/3x3_pad1", [](V x) { return conv2d(x[0], x[1], x[2], 1, 1); },
           {randn({2, 3, 5, 5}), randn({4, 3, 3, 3}), randn({4})});
  add_case("conv2d/stride2", [](V x) { return conv2d(x[0], x[1], x[2], 2, 1); },
           {randn({2, 2, 6, 6}), randn({3, 2, 3, 3}), randn({3})});
  // 16 channels in and out: the Winograd F(2x2, 3x3) path (tensor/winograd.h); odd size 3x5.
  // Weights scaled by 1/sqrt(fan-in) as in training, so that outputs stay O(1) and float32
  // rounding of the 144-term sums does not swamp the finite differences.
  add_case("conv2d/winograd_3x3", [](V x) { return conv2d(x[0], x[1], x[2], 1, 1); },
           {randn({1, 16, 3, 5}), affine(randn({16, 16, 3, 3}), 1.0f / 12, 0.0f), randn({16})});
  add_case("conv2d/1x1_no_bias", [](V x) { return conv2d(x[0], x[1], Var(), 1, 0); },
           {randn({2, 3, 4, 4}), randn({2, 3, 1, 1})});
  add_case("conv2d/noncontiguous", [](V x) { return conv2d(x[0], x[1], x[2], 1, 1); },
           {randn({2, 4, 4, 3}).permute({0, 3, 1, 2}), randn({2, 3, 3, 3}), randn({2})});
  // a residual connection fused into each convolution path: im2col, strided, Winograd, 1x1
  add_case("conv2d/residual_3x3", [](V x) { return conv2d(x[0], x[1], x[2], 1, 1, x[3]); },
           {randn({2, 3, 5, 5}), randn({4, 3, 3, 3}), randn({4}), randn({2, 4, 5, 5})});
  add_case("conv2d/residual_stride2", [](V x) { return conv2d(x[0], x[1], x[2], 2, 1, x[3]); },
           {randn({2, 2, 6, 6}), randn({3, 2, 3, 3}), randn({3}), randn({2, 3, 3, 3})});
  add_case("conv2d/residual_winograd", [](V x) { return conv2d(x[0], x[1], x[2], 1, 1, x[3]); },
           {randn({1, 16, 3, 5}), affine(randn({16, 16, 3, 3}), 1.0f / 12, 0.0f), randn({16}), randn({1, 16, 3, 5})});
  add_case("conv2d/residual_1x1", [](V x) { return conv2d(x[0], x[1], x[2], 1, 0, x[3]); },
           {randn({2, 3, 4, 4}), randn({2, 3, 1, 1}), randn({2}), randn({2, 2, 4, 4})});
  add_case("upsample_nearest2x", [](V x) { return upsample_nearest2x(x[0]); }, {randn({2, 2, 3, 3})});
  // sampling's fused ops: with a backward to come they are their two ops, which these check (the fused
  // forwards, bit for bit against the two ops: tests/nn/test_conv_input_maps.cpp and
  // tests/diffusion/test_feed_forward.cpp)
  add_case("group_norm_silu_conv2d",
           [](V x) { return group_norm_silu_conv2d(x[0], 2, x[1], x[2], 1e-5f, x[3], x[4], 1, 1, x[5]); },
           {randn({2, 4, 3, 3}), randn({4}), randn({4}), randn({3, 4, 3, 3}), randn({3}), randn({2, 3, 3, 3})});
  add_case("upsample_nearest2x_conv2d", [](V x) { return upsample_nearest2x_conv2d(x[0], x[1], x[2], 1, 1); },
           {randn({2, 2, 3, 3}), randn({3, 2, 3, 3}), randn({3})});
  add_case("feed_forward", [](V x) { return feed_forward(x[0], x[1], x[2], x[3], x[4], x[5]); },
           {randn({4, 3}), randn({6, 3}), randn({6}), randn({3, 6}), randn({3}), randn({4, 3})});
  add_case("group_norm", [](V x) { return group_norm(x[0], 2, x[1], x[2]); },
           {randn({2, 4, 3, 3}), randn({4}), randn({4})});
  add_case("layer_norm", [](V x) { return layer_norm(x[0], x[1], x[2]); }, {randn({3, 6}), randn({6}), randn({6})});
  add_case("layer_norm/noncontiguous", [](V x) { return layer_norm(x[0], x[1], x[2]); },
           {transposed({3, 5}), randn({5}), randn({5})});
  Tensor ids = Tensor::from_ints({1, 3, 1, 0, 2, 3}, {2, 3});
  add_case("embedding", [ids](V x) { return embedding(ids, x[0]); }, {randn({4, 5})});
  add_case("dropout", [](V x) {
    Generator g(7);  // same mask on every evaluation
    return dropout(x[0], 0.3f, true, g);
  }, {randn({4, 5})});

  // losses
  add_case("mse_loss", [](V x) { return mse_loss(x[0], x[1]); }, {randn({3, 4}), randn({3, 4})});
  Tensor targets = Tensor::from_ints({2, 0, 4}, {3});
  add_case("cross_entropy", [targets](V x) { return cross_entropy(x[0], targets); }, {randn({3, 5})});

  // attention
  add_case("attention/no_mask", [](V x) { return scaled_dot_product_attention(x[0], x[1], x[2]); },
           {randn({1, 2, 3, 4}), randn({1, 2, 5, 4}), randn({1, 2, 5, 4})});
  Tensor keep = Tensor::from_vector({1, 1, 1, 0, 0, 1, 1, 0, 0, 0}, {2, 5});
  add_case("attention/key_padding_mask",
           [keep](V x) { return scaled_dot_product_attention(x[0], x[1], x[2], keep); },
           {randn({2, 2, 3, 4}), randn({2, 2, 5, 4}), randn({2, 2, 5, 4})});
  add_case("attention/fused_multi_head", [](V x) { return multi_head_attention(x[0], x[1], x[2], 2); },
           {randn({1, 3, 8}), randn({1, 5, 8}), randn({1, 5, 8})});
  add_case("attention/fused_key_padding_mask",
           [keep](V x) { return multi_head_attention(x[0], x[1], x[2], 2, keep); },
           {randn({2, 3, 8}), randn({2, 5, 8}), randn({2, 5, 8})});
  return c;
}

}  // namespace ld::ag
