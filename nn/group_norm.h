// nn/group_norm.h: GroupNorm (Wu & He 2018) on x (N, C, H, W) with G groups.
//   per (n, g): mu, var over the C/G channels and H*W positions of the group,
//   y[n, c] = weight[c] * (x[n, c] - mu) / sqrt(var + eps) + bias[c]
// weight starts at 1, bias at 0. Backward: ag::group_norm (autograd/ops/group_norm.cpp).
#pragma once
#include "nn/module.h"

namespace ld::nn {

class GroupNorm : public Module {
 public:
  GroupNorm(int64_t groups, int64_t channels, float eps = 1e-5f);
  std::string type_name() const override { return "GroupNorm"; }
  Var forward(const Var& x) override;
  // silu(forward(x)) as one op (ag::group_norm_silu): the normalised tensor is not kept for backward
  Var forward_silu(const Var& x);
  // conv(silu(forward(x))) [+ residual], as a ResBlock runs them. With a plain Conv2d one op
  // (ag::group_norm_silu_conv2d: while sampling, the normalised tensor never goes to memory); a
  // replaced conv (LoRA, low-rank compression) gets forward_silu(x) as its input.
  Var forward_silu_conv(Module& conv, const Var& x, const Var& residual = Var());

  int64_t groups, channels;
  float eps;
  Var weight, bias;  // (C)
};

}  // namespace ld::nn
