// autograd/ops/matmul.cpp: C = A B (also batched: bmm).
//   dA = dC B^T,  dB = A^T dC
// With broadcast batch axes, the gradient of a shared operand is summed over the
// batch (Node::accumulate). The transposes are views: BLAS reads them with a flag.
#include "autograd/ops.h"
#include "tensor/matmul.h"

namespace ld::ag {

Var matmul(const Var& a, const Var& b) {
  return make_node(ld::matmul(a.value(), b.value()), "matmul", {a, b}, [](Node& self) {
    Node &a = *self.inputs[0], &b = *self.inputs[1];
    if (a.requires_grad) a.accumulate(ld::matmul(self.grad, b.value.transpose(-1, -2)));
    if (b.requires_grad) b.accumulate(ld::matmul(a.value.transpose(-1, -2), self.grad));
  });
}

}  // namespace ld::ag
