// autograd/ops/linear.cpp: the dense layer, y = x W^T + b (W: out x in, PyTorch layout).
// x (..., in) is read as a matrix X (M, in), M = product of the leading axes.
//   Y = X W^T + 1 b^T
//   dX = dY W,   dW = dY^T X,   db = sum over rows of dY
// With a residual R (a residual connection fused into the output pass): Y + R, and dR = dY.
// With GELU (linear_gelu, a transformer MLP's first layer): Y = GELU(U), U = X W^T + b, and
// dU = GELU'(U) dY takes dY's place above; U is computed and GELU'd block by block while it is in
// cache (tensor/matmul.h gemm_bias_gelu), and kept only when a backward will need it.
// One fused op instead of matmul + broadcast add: one GEMM each way and no
// temporary for the bias (which is where the forward's sums start: tensor/matmul.h gemm_bias). A frozen W
// (LoRA) skips the dW GEMM entirely.
#include "autograd/ops.h"
#include "tensor/elementwise.h"
#include "tensor/matmul.h"
#include "tensor/reduce.h"

namespace ld::ag {

namespace {

// x (..., in) against W (out, in) and b (out): the checks of both ops; returns M and the output's shape.
Shape check_linear(const char* op, const Tensor& xv, const Tensor& wv, const Var& b, int64_t* M) {
  if (wv.dim() != 2) fail(op, ": weight ", shape_str(wv.shape()), " must be (out, in)");
  if (xv.dim() < 1 || xv.size(-1) != wv.size(1))
    fail(op, ": input ", shape_str(xv.shape()), " has last axis ", xv.dim() ? xv.size(-1) : 0, " but weight ",
         shape_str(wv.shape()), " expects ", wv.size(1));
  const int64_t in = wv.size(1), out = wv.size(0);
  *M = xv.numel() / std::max<int64_t>(in, 1);
  if (b.defined() && b.value().shape() != Shape{out})
    fail(op, ": bias ", shape_str(b.value().shape()), " must be (", out, ")");
  Shape ys = xv.shape();
  ys.back() = out;
  return ys;
}

// The dense layer's backward from dY (M, out), the gradient of its output X W^T + b: inputs x, w, then b.
void linear_backward(Node& self, const Tensor& dY, int64_t M, int64_t in, int64_t out, bool has_b) {
  Node &x = *self.inputs[0], &w = *self.inputs[1];
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
}

}  // namespace

Var linear(const Var& x, const Var& w, const Var& b, const Var& residual) {
  const Tensor& xv = x.value();
  const Tensor& wv = w.value();
  int64_t M = 0;
  const Shape ys = check_linear("linear", xv, wv, b, &M);
  const int64_t in = wv.size(1), out = wv.size(0);
  if (residual.defined() && residual.shape() != ys)
    fail("linear: residual ", shape_str(residual.shape()), " must be the output's shape ", shape_str(ys));
  Tensor Y = Tensor::empty({M, out});
  gemm_bias(xv.reshape({M, in}), wv.transpose(0, 1), b.defined() ? b.value() : Tensor(), Y,
            residual.defined() ? residual.value().reshape({M, out}) : Tensor());
  std::vector<Var> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  if (residual.defined()) inputs.push_back(residual);  // last: d/dr (y) = 1, it gets dY as it is
  const bool has_b = b.defined(), has_r = residual.defined();
  return make_node(Y.view(ys), "linear", inputs, [M, in, out, has_b, has_r](Node& self) {
    linear_backward(self, self.grad.reshape({M, out}), M, in, out, has_b);
    // last: accumulate may keep dY's buffer as the residual's gradient, and a residual that is x itself
    // would then add dX into it before dW and db were computed from it
    if (has_r && self.inputs.back()->requires_grad) self.inputs.back()->accumulate(self.grad);
  });
}

Var linear_gelu(const Var& x, const Var& w, const Var& b) {
  const Tensor& xv = x.value();
  const Tensor& wv = w.value();
  int64_t M = 0;
  const Shape ys = check_linear("linear_gelu", xv, wv, b, &M);
  const int64_t in = wv.size(1), out = wv.size(0);
  // U, the pre-activation, is kept only for a backward; without one it never leaves the cache
  const bool backward = records_backward({&x, &w, &b});
  const Tensor U = backward ? Tensor::empty({M, out}) : Tensor();
  Tensor Y = gemm_bias_gelu(xv.reshape({M, in}), wv.transpose(0, 1), b.defined() ? b.value() : Tensor(), U);
  std::vector<Var> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  const bool has_b = b.defined();
  return make_node(Y.view(ys), "linear_gelu", inputs, [M, in, out, has_b, U](Node& self) {
    // dU = GELU'(U) dY, then the dense layer's backward from dU
    const Tensor dU =
        unary_backward(Unary::Gelu, U, self.value.reshape({M, out}), self.grad.reshape({M, out}));
    linear_backward(self, dU, M, in, out, has_b);
  });
}

Var feed_forward(const Var& x, const Var& w1, const Var& b1, const Var& w2, const Var& b2,
                 const Var& residual) {
  if (records_backward({&x, &w1, &b1, &w2, &b2, &residual}))
    return linear(linear_gelu(x, w1, b1), w2, b2, residual);
  const Tensor& xv = x.value();
  int64_t M = 0;
  Shape ys = check_linear("feed_forward", xv, w1.value(), b1, &M);
  const int64_t in = w1.value().size(1), hidden = w1.value().size(0);
  if (w2.value().dim() != 2 || w2.value().size(1) != hidden)
    fail("feed_forward: second weight ", shape_str(w2.value().shape()), " must be (out, ", hidden, ")");
  const int64_t out = w2.value().size(0);
  ys.back() = out;
  if (b2.defined() && b2.value().shape() != Shape{out})
    fail("feed_forward: second bias ", shape_str(b2.value().shape()), " must be (", out, ")");
  if (residual.defined() && residual.shape() != ys)
    fail("feed_forward: residual ", shape_str(residual.shape()), " must be the output's shape ",
         shape_str(ys));
  const Tensor Y =
      gemm_mlp_gelu(xv.reshape({M, in}), w1.value().transpose(0, 1), b1.defined() ? b1.value() : Tensor(),
                    w2.value().transpose(0, 1), b2.defined() ? b2.value() : Tensor(),
                    residual.defined() ? residual.value().reshape({M, out}) : Tensor());
  std::vector<Var> inputs{x, w1, w2};  // w1, w2 at [1], [2]: the profile's multiply-add count reads them
  return make_node(Y.view(ys), "feed_forward", inputs, [](Node&) {
    fail("feed_forward: no backward (this op is recorded only when none is needed)");
  });
}

}  // namespace ld::ag
