// nn/group_norm.cpp: see group_norm.h.
#include "nn/group_norm.h"

#include "autograd/ops.h"
#include "nn/conv2d.h"

namespace ld::nn {

GroupNorm::GroupNorm(int64_t g, int64_t c, float e) : groups(g), channels(c), eps(e) {
  if (g <= 0 || c <= 0 || c % g != 0) fail("GroupNorm: ", c, " channels cannot be split into ", g, " groups");
  weight = Var(Tensor::ones({c}), true);
  bias = Var(Tensor::zeros({c}), true);
  register_parameter("weight", weight);
  register_parameter("bias", bias);
}

namespace {
void check_input(const Var& x, int64_t groups, int64_t channels) {
  if (x.dim() != 4 || x.size(1) != channels)
    fail("GroupNorm(", groups, ", ", channels, "): input ", shape_str(x.shape()), " must be (N, ", channels,
         ", H, W)");
}
}  // namespace

Var GroupNorm::forward(const Var& x) {
  check_input(x, groups, channels);
  return ag::group_norm(x, groups, weight, bias, eps);
}

Var GroupNorm::forward_silu(const Var& x) {
  check_input(x, groups, channels);
  return ag::group_norm_silu(x, groups, weight, bias, eps);
}

Var GroupNorm::forward_silu_conv(Module& conv, const Var& x, const Var& residual) {
  check_input(x, groups, channels);
  auto* c = dynamic_cast<Conv2d*>(&conv);
  if (!c || c->in_channels != channels) {
    const Var z = ag::group_norm_silu(x, groups, weight, bias, eps);
    return residual.defined() ? conv.forward_add(z, residual) : conv.forward(z);
  }
  return ag::group_norm_silu_conv2d(x, groups, weight, bias, eps, c->weight, c->bias, c->stride, c->padding,
                                    residual);
}

}  // namespace ld::nn
