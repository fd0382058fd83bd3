// autograd/ops/layer_norm.cpp: LayerNorm over the last axis (Ba et al. 2016):
//   mu = mean(x), var = mean((x - mu)^2), xhat = (x - mu) / sqrt(var + eps), y = gamma * xhat + beta
// Backward (per row, N = row length):
//   dxhat = dy * gamma
//   dx = (1/N) * rstd * (N * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))
//   dgamma = sum_rows(dy * xhat), dbeta = sum_rows(dy)
// Kernels: tensor/norm.cpp (layer_norm_forward / layer_norm_backward).
#include "tensor/norm.h"

#include "autograd/ops.h"

namespace ld::ag {

Var layer_norm(const Var& x, const Var& gamma, const Var& beta, float eps) {
  NormResult r = layer_norm_forward(x.value(), gamma.value(), beta.value(), eps);
  Tensor mean = r.mean, rstd = r.rstd;
  return make_node(r.y, "layer_norm", {x, gamma, beta}, [mean, rstd](Node& self) {
    Node &x = *self.inputs[0], &gamma = *self.inputs[1], &beta = *self.inputs[2];
    NormGrads g = layer_norm_backward(x.value, gamma.value, NormResult{Tensor(), mean, rstd}, self.grad);
    if (x.requires_grad) x.accumulate(g.dx);
    if (gamma.requires_grad) gamma.accumulate(g.dgamma);
    if (beta.requires_grad) beta.accumulate(g.dbeta);
  });
}

}  // namespace ld::ag
