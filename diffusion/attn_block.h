// diffusion/attn_block.h: the LDM "spatial transformer", where text meets image
// and where LoRA adapters attach (article Fig. 2).
//   h = proj_in(GN(x))                       1x1 conv, then pixels become tokens (B, HW, c)
//   h = h + self_attn(ln1(h))                pixels attend to pixels
//   h = h + cross_attn(ln2(h), context)      pixels attend to the caption (Eq. (2): the y in eps_theta(x_t, t, y))
//   h = h + ff(ln3(h))                       c -> 4c -> c with GELU
//   out = x + proj_out(h as (B, c, H, W))
#pragma once
#include "diffusion/feed_forward.h"
#include "nn/attention.h"
#include "nn/conv2d.h"
#include "nn/group_norm.h"
#include "nn/layer_norm.h"

namespace ld::diffusion {

class AttnBlock : public nn::Module {
 public:
  AttnBlock(int64_t channels, int64_t heads, int64_t context_dim, int64_t groups, Generator& gen);
  std::string type_name() const override { return "AttnBlock"; }
  // x (B, c, H, W), context (B, L, context_dim), key_keep (B, L)
  ag::Var forward(const ag::Var& x, const ag::Var& context, const Tensor& key_keep);

  int64_t channels;
  std::shared_ptr<nn::GroupNorm> norm;
  std::shared_ptr<nn::Module> proj_in, proj_out;
  std::shared_ptr<nn::LayerNorm> ln1, ln2, ln3;
  std::shared_ptr<nn::MultiHeadAttention> self_attn, cross_attn;
  std::shared_ptr<FeedForward> ff;
};

}  // namespace ld::diffusion
