// diffusion/unet.h: the denoiser eps_theta(x_t, t, y) of Eqs. (1) and (2), laid out
// exactly as docs/reference-model.md (names in brackets are the state-dict names):
//
//   x_t (B,1,28,28) -> [conv_in] -> 28x28, c0 ------------------------------------ skip0 -.
//     [down0] ResBlock(c0,c0)                          -> [down0.downsample] 14x14       |
//     [down1] ResBlock(c0,c1), AttnBlock(c1) --------- skip1 -.  -> [down1.downsample] 7x7 |
//     [down2] ResBlock(c1,c2), AttnBlock(c2) - skip2 -.       |                            |
//     [mid]   ResBlock(c2,c2), AttnBlock(c2), ResBlock |      |                            |
//     [up2]   ResBlock(c2+c2,c2) <-----------------------'   |   AttnBlock, [up2.upsample] 14x14
//     [up1]   ResBlock(c2+c1,c1) <------------------------------'  AttnBlock, [up1.upsample] 28x28
//     [up0]   ResBlock(c1+c0,c0) <-----------------------------------------------------'
//   -> [out_norm] GN -> SiLU -> [out_conv] conv3 c0->1 = eps_theta
//
// Each skip is concatenated after the up path's tensor on the channel axis: cat([h, skip], 1).
// The time embedding [time_mlp] enters every ResBlock; the caption context enters
// every AttnBlock's cross-attention.
#pragma once
#include "diffusion/attn_block.h"
#include "diffusion/config.h"
#include "diffusion/res_block.h"
#include "diffusion/resample.h"
#include "diffusion/time_embedding.h"

namespace ld::diffusion {

// One resolution level: a ResBlock, optionally an AttnBlock, then optionally a resampler.
class UNetLevel : public nn::Module {
 public:
  std::string type_name() const override { return "UNetLevel"; }
  std::shared_ptr<ResBlock> res;
  std::shared_ptr<AttnBlock> attn;           // levels 1, 2
  std::shared_ptr<Downsample> downsample;    // down0, down1
  std::shared_ptr<Upsample> upsample;        // up2, up1
  void register_children();                  // after the members are set
  // res, then attn: the level's output before any resampling
  ag::Var blocks(const ag::Var& x, const ag::Var& silu_temb, const ag::Var& context, const Tensor& keep);
};

class MidBlock : public nn::Module {
 public:
  MidBlock(int64_t c, const ModelConfig& cfg, Generator& gen);
  std::string type_name() const override { return "MidBlock"; }
  ag::Var forward(const ag::Var& x, const ag::Var& silu_temb, const ag::Var& context, const Tensor& keep);
  std::shared_ptr<ResBlock> res1, res2;
  std::shared_ptr<AttnBlock> attn;
};

class UNet : public nn::Module {
 public:
  UNet(const ModelConfig& cfg, Generator& gen);
  std::string type_name() const override { return "UNet"; }
  // x_t (B, C, H, W), t I32 (B), context (B, L, text_dim), key_keep (B, L) -> eps (B, C, H, W)
  ag::Var forward(const ag::Var& x, const Tensor& t, const ag::Var& context, const Tensor& key_keep);

  std::shared_ptr<TimeMLP> time_mlp;
  std::shared_ptr<nn::Module> conv_in, out_conv;
  std::shared_ptr<UNetLevel> down0, down1, down2, up2, up1, up0;
  std::shared_ptr<MidBlock> mid;
  std::shared_ptr<nn::GroupNorm> out_norm;
};

}  // namespace ld::diffusion
