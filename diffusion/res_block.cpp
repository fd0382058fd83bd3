// diffusion/res_block.cpp: the UNet's residual block, with the time embedding added after
// the first convolution (formulas in res_block.h).
#include "diffusion/res_block.h"

#include "autograd/ops.h"

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

ag::Var ResBlock::forward(const ag::Var& x, const ag::Var& silu_temb) {
  ag::Var h = conv1->forward(ag::silu(norm1->forward(x)));
  ag::Var t = time_proj->forward(silu_temb);  // (B, cout)
  h = h + ag::reshape(t, {t.size(0), cout, 1, 1});
  h = conv2->forward(dropout->forward(ag::silu(norm2->forward(h))));
  return h + (skip ? skip->forward(x) : x);
}

}  // namespace ld::diffusion
