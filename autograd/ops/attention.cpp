// autograd/ops/attention.cpp: scaled dot-product attention (Vaswani et al. 2017)
// with a key padding mask, composed from differentiable ops:
//   S = (q / sqrt(d)) k^T + M,   M[b, j] = 0 for a kept key, -inf for a padded one
//   P = softmax(S) over keys,     out = P v
// Its backward is therefore the chain of matmul, add and softmax backwards. Every
// caption starts with <bos>, so no row has all keys masked (softmax would give 0).
//
// multi_head_attention is the same maths for all heads at once as one op, whose forward and
// backward are the blocked kernels of tensor/attention.h: what the layers use.
#include "tensor/attention.h"

#include <cmath>
#include <limits>

#include "autograd/ops.h"

namespace ld::ag {

Var scaled_dot_product_attention(const Var& q, const Var& k, const Var& v, const Tensor& key_keep) {
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4)
    fail("attention: q ", shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()),
         " must all be (B, H, L, d)");
  if (k.shape() != v.shape() || q.size(0) != k.size(0) || q.size(1) != k.size(1) || q.size(3) != k.size(3))
    fail("attention: q ", shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()),
         " do not agree");
  const int64_t B = q.size(0), Lk = k.size(2), d = q.size(3);
  Var scores = matmul(scale(q, 1.0f / std::sqrt(static_cast<float>(d))), transpose(k, -1, -2));
  if (key_keep.defined()) {
    if (key_keep.shape() != Shape{B, Lk})
      fail("attention: key mask ", shape_str(key_keep.shape()), " must be (", B, ", ", Lk, ")");
    Tensor bias = Tensor::empty({B, 1, 1, Lk});
    Tensor keep = key_keep.contiguous();
    for (int64_t i = 0; i < B * Lk; ++i)
      bias.f32()[i] = keep.f32()[i] > 0.5f ? 0.0f : -std::numeric_limits<float>::infinity();
    scores = add(scores, Var(bias));
  }
  return matmul(softmax(scores, -1), v);
}

Var multi_head_attention(const Var& q, const Var& k, const Var& v, int64_t heads, const Tensor& key_keep) {
  AttentionResult r = attention_forward(q.value(), k.value(), v.value(), heads, key_keep);
  Tensor lse = r.lse;  // (B, heads, Lq): all the backward keeps beyond the inputs and the output
  return make_node(std::move(r.out), "attention", {q, k, v}, [heads, key_keep, lse](Node& self) {
    Node &q = *self.inputs[0], &k = *self.inputs[1], &v = *self.inputs[2];
    AttentionGrads g =
        attention_backward(q.value, k.value, v.value, {self.value, lse}, self.grad, heads, key_keep);
    if (q.requires_grad) q.accumulate(g.dq);
    if (k.requires_grad) k.accumulate(g.dk);
    if (v.requires_grad) v.accumulate(g.dv);
  });
}

}  // namespace ld::ag
