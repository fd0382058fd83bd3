// nn/conv2d.cpp: see conv2d.h.
#include "nn/conv2d.h"

#include "autograd/ops.h"
#include "nn/init.h"

namespace ld::nn {

Conv2d::Conv2d(int64_t cin, int64_t cout, int64_t k, int64_t s, int64_t p, bool with_bias, Generator& gen)
    : in_channels(cin), out_channels(cout), kernel_size(k), stride(s), padding(p) {
  if (cin <= 0 || cout <= 0 || k <= 0 || s <= 0 || p < 0)
    fail("Conv2d: in ", cin, ", out ", cout, ", kernel ", k, ", stride ", s, ", padding ", p,
         " out of range");
  const int64_t fan_in = cin * k * k;
  weight = Var(kaiming_uniform({cout, cin, k, k}, fan_in, gen), true);
  if (with_bias) bias = Var(kaiming_uniform({cout}, fan_in, gen), true);
  register_parameter("weight", weight);
  register_parameter("bias", bias);
}

Var Conv2d::forward(const Var& x) {
  if (x.dim() != 4 || x.size(1) != in_channels)
    fail("Conv2d(", in_channels, " -> ", out_channels, "): input ", shape_str(x.shape()), " must be (N, ",
         in_channels, ", H, W)");
  return ag::conv2d(x, weight, bias, stride, padding);
}

Var Conv2d::forward_add(const Var& x, const Var& residual) {
  if (x.dim() != 4 || x.size(1) != in_channels)
    fail("Conv2d(", in_channels, " -> ", out_channels, "): input ", shape_str(x.shape()), " must be (N, ",
         in_channels, ", H, W)");
  return ag::conv2d(x, weight, bias, stride, padding, residual);
}

}  // namespace ld::nn
