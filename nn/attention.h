// nn/attention.h: multi-head attention (Vaswani et al. 2017), self or cross.
//   q = to_q(x),  k = to_k(c),  v = to_v(c)       c = the context (cross-attention) or x (self)
//   h heads of d = dim / h: head h is the columns [h d, (h + 1) d) of q, k, v (read in place)
//   head_h = softmax(q_h k_h^T / sqrt(d) + M) v_h  M = -inf on padded keys (key_keep == 0)
//   y = to_out(concat_h head_h)
// x (B, Lq, dim), c (B, Lk, context_dim), key_keep (B, Lk) F32 with 1 = attend, 0 = padding.
// to_q, to_k, to_v, to_out are named child slots of type Module, so LoRA can swap
// any of them for a wrapper (Fig. 2 of the article: adapters on the attention projections).
#pragma once
#include "nn/module.h"
#include "tensor/random.h"

namespace ld::nn {

class MultiHeadAttention : public Module {
 public:
  // context_dim 0 means context_dim = dim. qkv_bias: biases of to_q, to_k, to_v; out_bias: of to_out.
  // UNet attention: qkv_bias false, out_bias true. Text encoder: both true.
  MultiHeadAttention(int64_t dim, int64_t heads, int64_t context_dim, bool qkv_bias, bool out_bias,
                     Generator& gen);
  std::string type_name() const override { return "MultiHeadAttention"; }
  // context undefined = self-attention on x; key_keep undefined = attend to every key.
  // With a residual r (shaped as x): r + attention(x), added by to_out as it writes its output.
  Var forward(const Var& x, const Var& context, const Tensor& key_keep = Tensor(), const Var& residual = Var());
  Var forward(const Var& x) override { return forward(x, Var()); }

  int64_t dim, heads, context_dim;
  std::shared_ptr<Module> to_q, to_k, to_v, to_out;  // Linear layers unless replaced
};

}  // namespace ld::nn
