// nn/low_rank_conv2d.cpp: y = conv1x1(conv_kxk(x, V), U) + b (see low_rank_conv2d.h).
#include "nn/low_rank_conv2d.h"

#include "autograd/ops.h"
#include "nn/init.h"
#include "tensor/matmul.h"

namespace ld::nn {

LowRankConv2d::LowRankConv2d(int64_t cin, int64_t cout, int64_t k, int64_t s, int64_t p, int64_t r,
                             bool with_bias, Generator& gen)
    : in_channels(cin), out_channels(cout), kernel_size(k), stride(s), padding(p), rank(r) {
  if (cin <= 0 || cout <= 0 || k <= 0 || s <= 0 || p < 0 || r <= 0)
    fail("LowRankConv2d: in ", cin, ", out ", cout, ", kernel ", k, ", stride ", s, ", padding ", p,
         ", rank ", r, " out of range");
  if (r > std::min(cin * k * k, cout))
    fail("LowRankConv2d(", cin, " -> ", cout, ", ", k, "x", k, "): rank ", r,
         " is larger than min(in*k*k, out) = ", std::min(cin * k * k, cout));
  V = make<Conv2d>(cin, r, k, s, p, false, gen);
  U = make<Conv2d>(r, cout, 1, 1, 0, false, gen);
  if (with_bias) bias = Var(kaiming_uniform({cout}, cin * k * k, gen), true);
  register_parameter("bias", bias);
  register_module("V", V);
  register_module("U", U);
}

Var LowRankConv2d::forward(const Var& x) {
  if (x.dim() != 4 || x.size(1) != in_channels)
    fail("LowRankConv2d(", in_channels, " -> ", rank, " -> ", out_channels, "): input ", shape_str(x.shape()),
         " must be (N, ", in_channels, ", H, W)");
  return ag::conv2d(ag::conv2d(x, V->weight, Var(), stride, padding), U->weight, bias, 1, 0);
}

void LowRankConv2d::set_factors(const Tensor& u, const Tensor& v, const Tensor& b) {
  const int64_t fan_in = in_channels * kernel_size * kernel_size;
  if (u.numel() != out_channels * rank || u.size(0) != out_channels || v.numel() != rank * fan_in ||
      v.size(0) != rank)
    fail("LowRankConv2d(", in_channels, " -> ", rank, " -> ", out_channels, ").set_factors: U ",
         shape_str(u.shape()), " and V ", shape_str(v.shape()), " must be (", out_channels, ", ", rank,
         ") and (", rank, ", ", fan_in, ")");
  U->weight.set_value(u.contiguous().reshape({out_channels, rank, 1, 1}).clone());
  V->weight.set_value(v.contiguous().reshape({rank, in_channels, kernel_size, kernel_size}).clone());
  if (b.defined()) {
    if (!bias.defined() || b.shape() != Shape{out_channels})
      fail("LowRankConv2d.set_factors: bias ", shape_str(b.shape()), " does not fit a layer ",
           bias.defined() ? "with" : "without", " bias of ", out_channels, " outputs");
    bias.set_value(b.contiguous().clone());
  }
}

Tensor LowRankConv2d::dense_weight() const {
  const int64_t fan_in = in_channels * kernel_size * kernel_size;
  return matmul(U->weight.value().reshape({out_channels, rank}), V->weight.value().reshape({rank, fan_in}))
      .reshape({out_channels, in_channels, kernel_size, kernel_size});
}

}  // namespace ld::nn
