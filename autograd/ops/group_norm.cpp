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

namespace {
// GroupNorm alone or with the SiLU after it: the same node, only the kernels differ.
Var group_norm_op(const Var& x, int64_t groups, const Var& gamma, const Var& beta, float eps, bool silu) {
  NormResult r = silu ? group_norm_silu_forward(x.value(), groups, gamma.value(), beta.value(), eps)
                      : group_norm_forward(x.value(), groups, gamma.value(), beta.value(), eps);
  Tensor mean = r.mean, rstd = r.rstd;
  return make_node(
      r.y, silu ? "group_norm_silu" : "group_norm", {x, gamma, beta}, [groups, mean, rstd, silu](Node& self) {
        Node &x = *self.inputs[0], &gamma = *self.inputs[1], &beta = *self.inputs[2];
        const NormResult saved{Tensor(), mean, rstd};
        NormGrads g =
            silu ? group_norm_silu_backward(x.value, groups, gamma.value, beta.value, saved, self.grad)
                 : group_norm_backward(x.value, groups, gamma.value, saved, self.grad);
        if (x.requires_grad) x.accumulate(g.dx);
        if (gamma.requires_grad) gamma.accumulate(g.dgamma);
        if (beta.requires_grad) beta.accumulate(g.dbeta);
      });
}
}  // namespace

Var group_norm(const Var& x, int64_t groups, const Var& gamma, const Var& beta, float eps) {
  return group_norm_op(x, groups, gamma, beta, eps, false);
}

Var group_norm_silu(const Var& x, int64_t groups, const Var& gamma, const Var& beta, float eps) {
  return group_norm_op(x, groups, gamma, beta, eps, true);
}

}  // namespace ld::ag
