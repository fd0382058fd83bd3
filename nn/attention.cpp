// nn/attention.cpp: see attention.h. The attention itself, with its backward, is
// ag::scaled_dot_product_attention (autograd/ops/attention.cpp); here are the
// projections and the head split.
#include "nn/attention.h"

#include "autograd/ops.h"
#include "nn/linear.h"

// Shapes: B = batch, Lq = query tokens, Lk = key tokens, h = heads, d = head width = dim / h,
// cd = context width. In the UNet's AttnBlock: Lq = N = H*W pixels, Lk = N (self) or T = 16 text
// tokens (cross), dim = C, cd = C (self) or D = 64 (cross); in the text encoder Lq = Lk = T, dim = D.

namespace ld::nn {

MultiHeadAttention::MultiHeadAttention(int64_t d, int64_t h, int64_t cd, bool qkv_bias, bool out_bias,
                                       Generator& gen)
    : dim(d), heads(h), context_dim(cd == 0 ? d : cd) {
  if (d <= 0 || h <= 0 || d % h != 0) fail("MultiHeadAttention: dim ", d, " must split into ", h, " heads");
  to_q = make<Linear>(dim, dim, qkv_bias, gen);
  to_k = make<Linear>(context_dim, dim, qkv_bias, gen);
  to_v = make<Linear>(context_dim, dim, qkv_bias, gen);
  to_out = make<Linear>(dim, dim, out_bias, gen);
  register_module("to_q", to_q);
  register_module("to_k", to_k);
  register_module("to_v", to_v);
  register_module("to_out", to_out);
}

namespace {
// (B, L, h*d) -> (B, L, h, d) -> (B, h, L, d)
Var split_heads(const Var& t, int64_t heads) {
  const int64_t B = t.size(0), L = t.size(1), d = t.size(2) / heads;
  return ag::permute(ag::reshape(t, {B, L, heads, d}), {0, 2, 1, 3});
}
}  // namespace

Var MultiHeadAttention::forward(const Var& x, const Var& context, const Tensor& key_keep) {
  const Var& c = context.defined() ? context : x;
  if (x.dim() != 3 || x.size(2) != dim)
    fail("MultiHeadAttention: input ", shape_str(x.shape()), " must be (B, L, ", dim, ")");
  if (c.dim() != 3 || c.size(0) != x.size(0) || c.size(2) != context_dim)
    fail("MultiHeadAttention: context ", shape_str(c.shape()), " must be (", x.size(0), ", L, ", context_dim,
         ")");
  const int64_t B = x.size(0), Lq = x.size(1);
  Var q = split_heads(to_q->forward(x), heads);  // (B, Lq, dim) -> (B, Lq, dim) -> (B, h, Lq, d)
  Var k = split_heads(to_k->forward(c), heads);  // (B, Lk, cd) -> (B, Lk, dim) -> (B, h, Lk, d)
  Var v = split_heads(to_v->forward(c), heads);  // (B, Lk, cd) -> (B, Lk, dim) -> (B, h, Lk, d)
  // softmax(q k^T / sqrt(d)) over the scores (B, h, Lq, Lk), key_keep (B, Lk) masking padded keys
  Var o = ag::scaled_dot_product_attention(q, k, v, key_keep);  // -> (B, h, Lq, d)
  // (B, h, Lq, d) -> (B, Lq, h, d) -> (B, Lq, dim), then to_out: (B, Lq, dim)
  return to_out->forward(ag::reshape(ag::permute(o, {0, 2, 1, 3}), {B, Lq, dim}));
}

}  // namespace ld::nn
