// autograd/ops/linear.cpp: the dense layer, y = x W^T + b (W: out x in, PyTorch layout).
// x (..., in) is read as a matrix X (M, in), M = product of the leading axes.
//   Y = X W^T + 1 b^T
//   dX = dY W,   dW = dY^T X,   db = sum over rows of dY
// With a residual R (a residual connection fused into the output pass): Y + R, and dR = dY.
// One fused op instead of matmul + broadcast add: one GEMM each way and no
// temporary for the bias (which is where the forward's sums start: tensor/matmul.h gemm_bias). A frozen W (LoRA) skips the dW GEMM entirely.
#include "autograd/ops.h"
#include "tensor/matmul.h"
#include "tensor/reduce.h"

namespace ld::ag {

Var linear(const Var& x, const Var& w, const Var& b, const Var& residual) {
  const Tensor& xv = x.value();
  const Tensor& wv = w.value();
  if (wv.dim() != 2) fail("linear: weight ", shape_str(wv.shape()), " must be (out, in)");
  if (xv.dim() < 1 || xv.size(-1) != wv.size(1))
    fail("linear: input ", shape_str(xv.shape()), " has last axis ", xv.dim() ? xv.size(-1) : 0,
         " but weight ", shape_str(wv.shape()), " expects ", wv.size(1));
  const int64_t in = wv.size(1), out = wv.size(0), M = xv.numel() / std::max<int64_t>(in, 1);
  if (b.defined() && b.value().shape() != Shape{out})
    fail("linear: bias ", shape_str(b.value().shape()), " must be (", out, ")");
  Shape ys = xv.shape();
  ys.back() = out;
  if (residual.defined() && residual.shape() != ys)
    fail("linear: residual ", shape_str(residual.shape()), " must be the output's shape ", shape_str(ys));
  Tensor X = xv.reshape({M, in});
  Tensor Y = Tensor::empty({M, out});
  if (b.defined() || residual.defined()) {
    gemm_bias(X, wv.transpose(0, 1), b.defined() ? b.value() : Tensor(), Y,
              residual.defined() ? residual.value().reshape({M, out}) : Tensor());
  } else {
    gemm(X, wv.transpose(0, 1), Y);
  }
  std::vector<Var> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  if (residual.defined()) inputs.push_back(residual);  // last: d/dr (y) = 1, it gets dY as it is
  const bool has_b = b.defined(), has_r = residual.defined();
  return make_node(Y.view(ys), "linear", inputs, [M, in, out, has_b, has_r](Node& self) {
    Node &x = *self.inputs[0], &w = *self.inputs[1];
    Tensor dY = self.grad.reshape({M, out});
    if (x.requires_grad) {
      Tensor dX = Tensor::empty({M, in});
      gemm(dY, w.value, dX);
      x.accumulate(dX.view(x.value.shape()));
    }
    if (w.requires_grad) {
      Tensor dW = Tensor::empty({out, in});
      gemm(dY.transpose(0, 1), x.value.reshape({M, in}), dW);
      w.accumulate(dW);
    }
    if (has_b && self.inputs[2]->requires_grad) self.inputs[2]->accumulate(sum(dY, {0}));
    // last: accumulate may keep dY's buffer as the residual's gradient, and a residual that is x itself
    // would then add dX into it before dW and db were computed from it
    if (has_r && self.inputs.back()->requires_grad) self.inputs.back()->accumulate(self.grad);
  });
}

}  // namespace ld::ag
