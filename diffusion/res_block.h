// diffusion/res_block.h: the UNet's residual block, conditioned on the time embedding.
//   h = conv1(SiLU(norm1(x)))                         cin -> cout, 3x3
//   h = h + time_proj(SiLU(temb))[:, :, None, None]   the step t enters here
//   h = conv2(Dropout(SiLU(norm2(h))))                cout -> cout, 3x3
//   out = h + (cin == cout ? x : skip(x))             skip: 1x1 conv
#pragma once
#include "nn/conv2d.h"
#include "nn/dropout.h"
#include "nn/group_norm.h"
#include "nn/linear.h"

namespace ld::diffusion {

class ResBlock : public nn::Module {
 public:
  ResBlock(int64_t cin, int64_t cout, int64_t time_dim, int64_t groups, float dropout, Generator& gen);
  std::string type_name() const override { return "ResBlock"; }
  // silu_temb = SiLU(temb), computed once per UNet call and shared by every block
  ag::Var forward(const ag::Var& x, const ag::Var& silu_temb);

  int64_t cin, cout;
  std::shared_ptr<nn::GroupNorm> norm1, norm2;
  std::shared_ptr<nn::Module> conv1, conv2, time_proj, skip;
  std::shared_ptr<nn::Dropout> dropout;
};

}  // namespace ld::diffusion
