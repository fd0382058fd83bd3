// autograd/ops/conv2d.cpp: 2-D convolution by im2col + GEMM (tensor/conv.cpp).
//   y[n,o,:,:] = b[o] + sum_c w[o,c] (*) x[n,c]          as matrices: Y = W col(x) + b
//   dW = dY col(x)^T,   dx = col2im(W^T dY),   db[o] = sum_{n,h,w} dY[n,o,h,w]
#include "tensor/conv.h"

#include "autograd/ops.h"

namespace ld::ag {

Var conv2d(const Var& x, const Var& w, const Var& b, int64_t stride, int64_t padding) {
  Tensor y = conv2d_forward(x.value(), w.value(), b.defined() ? b.value() : Tensor(), stride, padding);
  std::vector<Var> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  return make_node(y, "conv2d", inputs, [stride, padding](Node& self) {
    Node &x = *self.inputs[0], &w = *self.inputs[1];
    Node* b = self.inputs.size() > 2 ? self.inputs[2].get() : nullptr;
    Conv2dGrads g = conv2d_backward(x.value, w.value, self.grad, stride, padding, x.requires_grad,
                                    w.requires_grad, b && b->requires_grad);
    if (x.requires_grad) x.accumulate(g.dx);
    if (w.requires_grad) w.accumulate(g.dw);
    if (b && b->requires_grad) b->accumulate(g.dbias);
  });
}

}  // namespace ld::ag
