// diffusion/res_block.cpp: the UNet's residual block, with the time embedding added after
// the first convolution (formulas in res_block.h).
#include "diffusion/res_block.h"

#include "autograd/ops.h"

// Shapes: B = batch, cin, cout = channels in and out, H, W = height, width of this level
// (28x28, 14x14 or 7x7 in mnist-t2i), E = time embedding width (128).

namespace ld::diffusion {

ResBlock::ResBlock(int64_t cin_, int64_t cout_, int64_t time_dim, int64_t groups, float p, Generator& gen)
    : cin(cin_),
      cout(cout_),
      norm1(nn::make<nn::GroupNorm>(groups, cin_)),
      norm2(nn::make<nn::GroupNorm>(groups, cout_)),
      conv1(nn::make<nn::Conv2d>(cin_, cout_, 3, 1, 1, true, gen)),
      conv2(nn::make<nn::Conv2d>(cout_, cout_, 3, 1, 1, true, gen)),
      time_proj(nn::make<nn::Linear>(time_dim, cout_, true, gen)),
      dropout(nn::make<nn::Dropout>(p, gen)) {
  register_module("norm1", norm1);
  register_module("conv1", conv1);
  register_module("time_proj", time_proj);
  register_module("norm2", norm2);
  register_module("dropout", dropout);
  register_module("conv2", conv2);
  if (cin != cout) {
    skip = nn::make<nn::Conv2d>(cin_, cout_, 1, 1, 0, true, gen);
    register_module("skip", skip);
  }
}

// x (B, cin, H, W), silu_temb (B, E) -> (B, cout, H, W)
ag::Var ResBlock::forward(const ag::Var& x, const ag::Var& silu_temb) {
  // conv1(silu(norm1(x))): (B, cin, H, W) -> (B, cout, H, W); one op while sampling (nn/group_norm.h)
  ag::Var h = norm1->forward_silu_conv(*conv1, x);
  ag::Var t = time_proj->forward(silu_temb);        // (B, E) -> (B, cout)
  h = h + ag::reshape(t, {t.size(0), cout, 1, 1});  // (B, cout, 1, 1) broadcast over H, W
  // conv2(dropout(silu(norm2(h)))) + skip(x), the skip added by conv2 as it writes its output
  // (skip: 1x1 conv (B, cin, H, W) -> (B, cout, H, W), or x itself when cin = cout); without an
  // active dropout (eval mode, sampling) the norm, SiLU and conv2 are one op as above
  const ag::Var r = skip ? skip->forward(x) : x;
  if (!dropout->is_training() || dropout->p == 0.0f) return norm2->forward_silu_conv(*conv2, h, r);
  return conv2->forward_add(dropout->forward(norm2->forward_silu(h)), r);
}

}  // namespace ld::diffusion
