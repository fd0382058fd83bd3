// tensor/attention.h: multi-head scaled dot-product attention without the score matrix
// (the blocked, "flash" form of Dao et al. 2022, on the CPU).
//
// q (B, Lq, h*d), k and v (B, Lk, h*d) are read in the layout of the projections that made them:
// head c of token i is the columns [c d, (c + 1) d) of row i, read with leading dimension h*d, so
// no head split (permute copy) is needed, and o (B, Lq, h*d) is written the same way. Per head
//   S = q k^T / sqrt(d) + M     M[b, j] = 0 for a kept key, -inf for a padded one
//   P = softmax(S) over keys,   o = P v,   lse_i = log sum_j exp(S_ij)
// is computed for a block of queries at a time in a per-thread tile (Lk x 64 in the forward, which
// works on S^T; 64 x Lk in the backward): the (B, h, Lq, Lk) scores of the composed form never exist. The backward recomputes P from lse:
//   P = exp(S - lse),  D_i = sum_c dO_ic O_ic,  dV = P^T dO,  dP = dO V^T,
//   dS = P (dP - D),   dQ = dS K / sqrt(d),     dK = dS^T Q / sqrt(d)
// key_keep (B, Lk): 1 = attend, 0 = padding (a row with every key padded gives 0, like softmax).
// Results do not depend on the thread count: each (batch, head) is summed in one fixed order.
// The *_reference versions say the same maths in plain loops accumulating in double
// (tensor/reference.h); LORADIFF_KERNELS=reference makes attention_forward/backward use them.
#pragma once
#include "tensor/tensor.h"

namespace ld {

struct AttentionResult {
  Tensor out;  // (B, Lq, h*d)
  Tensor lse;  // (B, h, Lq): log sum_j exp(S_ij), what the backward needs to rebuild P
};

struct AttentionGrads {
  Tensor dq, dk, dv;  // shaped as q, k, v
};

AttentionResult attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                                  const Tensor& key_keep = Tensor());
AttentionGrads attention_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const AttentionResult& saved, const Tensor& dout, int64_t heads,
                                  const Tensor& key_keep = Tensor());

AttentionResult attention_reference_forward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                                            const Tensor& key_keep = Tensor());
AttentionGrads attention_reference_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                            const AttentionResult& saved, const Tensor& dout, int64_t heads,
                                            const Tensor& key_keep = Tensor());

}  // namespace ld
