// nn/conv2d.h: 2-D convolution, square kernel, same stride and padding on both axes.
//   y[n, o, i, j] = b[o] + sum_{c, u, v} W[o, c, u, v] x[n, c, i*s - p + u, j*s - p + v]
//   x (N, Cin, H, W), W (Cout, Cin, k, k), y (N, Cout, (H + 2p - k)/s + 1, (W + 2p - k)/s + 1)
// Backward (ag::conv2d, im2col + GEMM): dW = dY col(x)^T, dx = col2im(W^T dY), db = sum dY.
#pragma once
#include "nn/module.h"
#include "tensor/random.h"

namespace ld::nn {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride, int64_t padding,
         bool bias, Generator& gen);
  std::string type_name() const override { return "Conv2d"; }
  Var forward(const Var& x) override;
  Var forward_add(const Var& x, const Var& residual) override;  // one op: the layer + residual

  int64_t in_channels, out_channels, kernel_size, stride, padding;
  Var weight;  // (out, in, k, k)
  Var bias;    // (out), undefined when built without bias
};

}  // namespace ld::nn
