// autograd/ops/conv2d.cpp: 2-D convolution by im2col + GEMM (tensor/conv.cpp).
//   y[n,o,:,:] = b[o] + sum_c w[o,c] (*) x[n,c]          as matrices: Y = W col(x) + b
//   dW = dY col(x)^T,   dx = col2im(W^T dY),   db[o] = sum_{n,h,w} dY[n,o,h,w]
// With a residual r: y + r, and dr = dY (a residual connection fused into the layer's output pass).
#include "autograd/ops.h"
#include "tensor/conv.h"
#include "tensor/norm.h"
#include "tensor/reference.h"

namespace ld::ag {

Var conv2d(const Var& x, const Var& w, const Var& b, int64_t stride, int64_t padding, const Var& residual) {
  Tensor y = conv2d_forward(x.value(), w.value(), b.defined() ? b.value() : Tensor(), stride, padding,
                            residual.defined() ? residual.value() : Tensor());
  std::vector<Var> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  if (residual.defined()) inputs.push_back(residual);  // last: d/dr (y) = 1, it gets dY as it is
  const bool has_b = b.defined(), has_r = residual.defined();
  return make_node(y, "conv2d", inputs, [stride, padding, has_b, has_r](Node& self) {
    Node &x = *self.inputs[0], &w = *self.inputs[1];
    Node* b = has_b ? self.inputs[2].get() : nullptr;
    Conv2dGrads g = conv2d_backward(x.value, w.value, self.grad, stride, padding, x.requires_grad,
                                    w.requires_grad, b && b->requires_grad);
    if (x.requires_grad) x.accumulate(g.dx);
    if (w.requires_grad) w.accumulate(g.dw);
    if (b && b->requires_grad) b->accumulate(g.dbias);
    // last, as in linear: accumulate may keep dY's buffer as the residual's gradient
    if (has_r && self.inputs.back()->requires_grad) self.inputs.back()->accumulate(self.grad);
  });
}

Var group_norm_silu_conv2d(const Var& x, int64_t groups, const Var& gamma, const Var& beta, float eps,
                           const Var& w, const Var& b, int64_t stride, int64_t padding, const Var& residual) {
  if (records_backward({&x, &gamma, &beta, &w, &b, &residual}) || use_reference_kernels())
    return conv2d(group_norm_silu(x, groups, gamma, beta, eps), w, b, stride, padding, residual);
  // no backward to record: the convolution normalises its input as it reads it (tensor/conv.h)
  const ChannelAffine in = group_norm_affine(x.value(), groups, gamma.value(), beta.value(), eps);
  Tensor y = conv2d_forward_silu_in(x.value(), in, w.value(), b.defined() ? b.value() : Tensor(), stride,
                                    padding, residual.defined() ? residual.value() : Tensor());
  // x, w first: the profile counts the multiply-adds as conv2d's
  return make_node(y, "group_norm_silu_conv2d", {x, w}, [](Node&) {
    fail("group_norm_silu_conv2d: no backward (this op is recorded only when none is needed)");
  });
}

Var upsample_nearest2x_conv2d(const Var& x, const Var& w, const Var& b, int64_t stride, int64_t padding) {
  if (records_backward({&x, &w, &b}) || use_reference_kernels())
    return conv2d(upsample_nearest2x(x), w, b, stride, padding);
  // no backward to record: the convolution upsamples its input as it reads it (tensor/conv.h)
  Tensor y =
      conv2d_forward_upsampled_in(x.value(), w.value(), b.defined() ? b.value() : Tensor(), stride, padding);
  return make_node(y, "upsample_nearest2x_conv2d", {x, w}, [](Node&) {
    fail("upsample_nearest2x_conv2d: no backward (this op is recorded only when none is needed)");
  });
}

}  // namespace ld::ag
