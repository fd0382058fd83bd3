// autograd/ops/loss.cpp: the losses, forward and backward:
//   mse_loss:      L = (1/n) sum_i (p_i - t_i)^2       dp = 2 (p - t) / n * dL,  dt = -dp
//                  (the diffusion loss, Eq. (1), is mse_loss(eps_theta(x_t, t, y), eps))
//   cross_entropy: L = -(1/N) sum_n log softmax(z_n)[y_n]
//                  dz_n = (softmax(z_n) - onehot(y_n)) / N * dL
#include "autograd/ops.h"
#include "tensor/elementwise.h"
#include "tensor/index.h"
#include "tensor/reduce.h"
#include "tensor/softmax.h"

namespace ld::ag {

Var mse_loss(const Var& pred, const Var& target) {
  if (pred.shape() != target.shape())
    fail("mse_loss: prediction ", shape_str(pred.shape()), " and target ", shape_str(target.shape()), " differ");
  Tensor diff = ld::sub(pred.value(), target.value());
  const float n = static_cast<float>(diff.numel());
  Tensor loss = Tensor::scalar(static_cast<float>(l2_norm(diff) * l2_norm(diff) / n));
  return make_node(loss, "mse_loss", {pred, target}, [diff, n](Node& self) {
    Tensor g = mul_scalar(diff, 2.0f * self.grad.item() / n);
    if (self.inputs[0]->requires_grad) self.inputs[0]->accumulate(g);
    if (self.inputs[1]->requires_grad) self.inputs[1]->accumulate(mul_scalar(g, -1.0f));
  });
}

Var cross_entropy(const Var& logits, const Tensor& targets) {
  if (logits.dim() != 2) fail("cross_entropy: logits ", shape_str(logits.shape()), " must be (N, C)");
  if (targets.dim() != 1 || targets.size(0) != logits.size(0))
    fail("cross_entropy: targets ", shape_str(targets.shape()), " must be (", logits.size(0), ")");
  const int64_t N = logits.size(0), C = logits.size(1);
  Tensor logp = ld::log_softmax(logits.value(), 1);
  Tensor picked = gather_rows(logp, targets);
  Tensor loss = Tensor::scalar(-ld::sum(picked).item() / static_cast<float>(N));
  return make_node(loss, "cross_entropy", {logits}, [logp, targets, N, C](Node& self) {
    // softmax = exp(log_softmax); subtract 1 at the target, scale by dL / N
    Tensor g = ld::sub(ld::unary(Unary::Exp, logp), scatter_rows(Tensor::ones({N}), targets, C));
    self.inputs[0]->accumulate(mul_scalar(g, self.grad.item() / static_cast<float>(N)));
  });
}

}  // namespace ld::ag
