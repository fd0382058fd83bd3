// nn/attention.cpp: see attention.h. The attention itself, with its backward, is
// ag::multi_head_attention (autograd/ops/attention.cpp, kernels in tensor/attention.cpp), which
// reads the heads straight from the projections' (B, L, dim) layout; here are the projections.
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

Var MultiHeadAttention::forward(const Var& x, const Var& context, const Tensor& key_keep, const Var& residual) {
  const Var& c = context.defined() ? context : x;
  if (x.dim() != 3 || x.size(2) != dim)
    fail("MultiHeadAttention: input ", shape_str(x.shape()), " must be (B, L, ", dim, ")");
  if (c.dim() != 3 || c.size(0) != x.size(0) || c.size(2) != context_dim)
    fail("MultiHeadAttention: context ", shape_str(c.shape()), " must be (", x.size(0), ", L, ", context_dim,
         ")");
  Var q = to_q->forward(x);  // (B, Lq, dim) -> (B, Lq, dim): head c is columns [c d, (c + 1) d)
  Var k = to_k->forward(c);  // (B, Lk, cd) -> (B, Lk, dim)
  Var v = to_v->forward(c);  // (B, Lk, cd) -> (B, Lk, dim)
  // per head softmax(q k^T / sqrt(d)) v, key_keep (B, Lk) masking padded keys; the heads are read and
  // written in place in this layout, so no split or merge is needed: (B, Lq, dim), then to_out
  const Var o = ag::multi_head_attention(q, k, v, heads, key_keep);
  return residual.defined() ? to_out->forward_add(o, residual) : to_out->forward(o);
}

}  // namespace ld::nn
