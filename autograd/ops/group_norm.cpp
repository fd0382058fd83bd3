// autograd/ops/group_norm.cpp: GroupNorm (Wu & He 2018) on x (N, C, H, W), G groups:
//   per (n, g): mu, var over the C/G channels and all H*W positions of the group,
//   xhat = (x - mu) / sqrt(var + eps),  y[n,c] = gamma[c] * xhat[n,c] + beta[c]
// Backward, per (n, g) with M = (C/G)*H*W elements:
//   dxhat = dy * gamma[c]
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
//   dgamma[c] = sum_{n,h,w} dy * xhat, dbeta[c] = sum_{n,h,w} dy
// group_norm_silu: z = silu(y) in the same op, y recomputed from x and (mean, rstd) in backward,
//   dy = dz s(y) (1 + y (1 - s(y))), then the backward above; one stored activation instead of two.
// Kernels: tensor/norm.cpp.
#include "autograd/ops.h"
#include "tensor/norm.h"

namespace ld::ag {

Var group_norm(const Var& x, int64_t groups, const Var& gamma, const Var& beta, float eps) {
  NormResult r = group_norm_forward(x.value(), groups, gamma.value(), beta.value(), eps);
  Tensor mean = r.mean, rstd = r.rstd;
  return make_node(r.y, "group_norm", {x, gamma, beta}, [groups, mean, rstd](Node& self) {
    Node &x = *self.inputs[0], &gamma = *self.inputs[1], &beta = *self.inputs[2];
    NormGrads g =
        group_norm_backward(x.value, groups, gamma.value, NormResult{Tensor(), mean, rstd}, self.grad);
    if (x.requires_grad) x.accumulate(g.dx);
    if (gamma.requires_grad) gamma.accumulate(g.dgamma);
    if (beta.requires_grad) beta.accumulate(g.dbeta);
  });
}

Var group_norm_silu(const Var& x, int64_t groups, const Var& gamma, const Var& beta, float eps) {
  NormResult r = group_norm_silu_forward(x.value(), groups, gamma.value(), beta.value(), eps);
  Tensor mean = r.mean, rstd = r.rstd;
  return make_node(r.y, "group_norm_silu", {x, gamma, beta}, [groups, mean, rstd](Node& self) {
    Node &x = *self.inputs[0], &gamma = *self.inputs[1], &beta = *self.inputs[2];
    NormGrads g = group_norm_silu_backward(x.value, groups, gamma.value, beta.value,
                                           NormResult{Tensor(), mean, rstd}, self.grad);
    if (x.requires_grad) x.accumulate(g.dx);
    if (gamma.requires_grad) gamma.accumulate(g.dgamma);
    if (beta.requires_grad) beta.accumulate(g.dbeta);
  });
}

}  // namespace ld::ag
