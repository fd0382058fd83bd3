// diffusion/attn_block.cpp: the UNet's spatial transformer: self-attention, cross-attention to
// the caption (Eq. (2)) and feed-forward on pixel tokens; its projections are where LoRA attaches (Fig. 2).
#include "diffusion/attn_block.h"

#include "autograd/ops.h"

// Shapes: B = batch, C = channels (64 or 128 in mnist-t2i), H, W = height, width (14x14 or 7x7),
// N = H*W pixel tokens, T = text tokens (16), D = text width (64). Inside the attentions
// (nn/attention.cpp) the C channels split into h = 4 heads of d = C / h (16 or 32).

namespace ld::diffusion {

AttnBlock::AttnBlock(int64_t c, int64_t heads, int64_t context_dim, int64_t groups, Generator& gen)
    : channels(c),
      norm(nn::make<nn::GroupNorm>(groups, c)),
      proj_in(nn::make<nn::Conv2d>(c, c, 1, 1, 0, true, gen)),
      proj_out(nn::make<nn::Conv2d>(c, c, 1, 1, 0, true, gen)),
      ln1(nn::make<nn::LayerNorm>(c)),
      ln2(nn::make<nn::LayerNorm>(c)),
      ln3(nn::make<nn::LayerNorm>(c)),
      self_attn(nn::make<nn::MultiHeadAttention>(c, heads, 0, /*qkv_bias=*/false, /*out_bias=*/true, gen)),
      cross_attn(nn::make<nn::MultiHeadAttention>(c, heads, context_dim, false, true, gen)),
      ff(nn::make<FeedForward>(c, 4 * c, gen)) {
  register_module("norm", norm);
  register_module("proj_in", proj_in);
  register_module("ln1", ln1);
  register_module("self_attn", self_attn);
  register_module("ln2", ln2);
  register_module("cross_attn", cross_attn);
  register_module("ln3", ln3);
  register_module("ff", ff);
  register_module("proj_out", proj_out);
}

// x (B, C, H, W), context (B, T, D), key_keep (B, T) -> (B, C, H, W)
ag::Var AttnBlock::forward(const ag::Var& x, const ag::Var& context, const Tensor& key_keep) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  ag::Var h = proj_in->forward(norm->forward(x));  // (B, C, H, W), 1x1 conv
  // (B, C, H, W) -> (B, C, N) -> (B, N, C): one token per pixel
  h = ag::permute(ag::reshape(h, {B, C, H * W}), {0, 2, 1});
  // Each residual connection h + f(h) is added by f's last layer as it writes its output (forward_add).
  h = self_attn->forward(ln1->forward(h), ag::Var(), Tensor(), h);  // (B, N, C): N queries on N keys
  // (B, N, C): N queries on the T caption tokens, keys and values from the context (B, T, D)
  h = cross_attn->forward(ln2->forward(h), context, key_keep, h);
  h = ff->forward_add(ln3->forward(h), h);                   // (B, N, C) -> (B, N, 4C) -> (B, N, C)
  h = ag::reshape(ag::permute(h, {0, 2, 1}), {B, C, H, W});  // (B, N, C) -> (B, C, N) -> (B, C, H, W)
  return proj_out->forward_add(h, x);                        // x + proj_out(h): (B, C, H, W), 1x1 conv
}

}  // namespace ld::diffusion
