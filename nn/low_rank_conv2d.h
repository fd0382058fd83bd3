// nn/low_rank_conv2d.h: a convolution stored as two thinner ones (claims C1-C3 for conv layers).
//
//   y = conv1x1(conv_kxk(x, V), U) + b
//   V (r, in, k, k): a k x k convolution in -> r with the layer's stride and padding
//   U (out, r, 1, 1): a 1x1 convolution r -> out;  b (out)
//
// As matrices (fan_in = in k k) the weight is W ~ U V with U (out, r), V (r, fan_in): the
// dense kernel reshaped to (out, in*k*k) and factorised like a Linear (LowRankLinear). A 1x1
// convolution is exactly a LowRankLinear applied at every pixel. Parameters: r (fan_in + out)
// instead of fan_in * out; names `<layer>.bias`, `<layer>.V.weight`, `<layer>.U.weight`.
#pragma once
#include "nn/conv2d.h"

namespace ld::nn {

class LowRankConv2d : public Module {
 public:
  LowRankConv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride,
                int64_t padding, int64_t rank, bool bias, Generator& gen);
  std::string type_name() const override { return "LowRankConv2d"; }
  Var forward(const Var& x) override;

  // U (out, r) or (out, r, 1, 1), V (r, in*k*k) or (r, in, k, k), bias (out) or undefined.
  void set_factors(const Tensor& U, const Tensor& V, const Tensor& bias = Tensor());
  // (U V) reshaped to (out, in, k, k): the dense kernel this layer stands for.
  Tensor dense_weight() const;

  int64_t in_channels, out_channels, kernel_size, stride, padding, rank;
  Var bias;                      // (out), undefined when built without bias
  std::shared_ptr<Conv2d> V, U;  // V: in -> r (k x k), U: r -> out (1 x 1), both without bias
};

}  // namespace ld::nn
