// autograd/ops/shape.cpp: views and joins. None of these change a value; the
// backward of each is the inverse rearrangement of the gradient:
//   reshape: dx = dy reshaped back          permute: dx = dy permuted by the inverse
//   narrow (slice): dx = zeros with dy written into the slice
//   expand: dx = dy summed over the expanded axes (Node::accumulate)
//   concat: dx_k = the k-th slice of dy
#include "autograd/ops.h"
#include "tensor/index.h"

namespace ld::ag {

Var reshape(const Var& x, const Shape& shape) {
  return make_node(x.value().reshape(shape), "reshape", {x}, [](Node& self) {
    Node& x = *self.inputs[0];
    x.accumulate(self.grad.reshape(x.value.shape()));
  });
}

Var permute(const Var& x, const std::vector<int64_t>& axes) {
  Tensor y = x.value().permute(axes);
  std::vector<int64_t> inverse(axes.size());
  for (size_t i = 0; i < axes.size(); ++i) inverse[normalize_axis(axes[i], x.dim(), "permute")] = i;
  return make_node(y, "permute", {x},
                   [inverse](Node& self) { self.inputs[0]->accumulate(self.grad.permute(inverse)); });
}

Var transpose(const Var& x, int64_t a, int64_t b) {
  return make_node(x.value().transpose(a, b), "transpose", {x},
                   [a, b](Node& self) { self.inputs[0]->accumulate(self.grad.transpose(a, b)); });
}

Var narrow(const Var& x, int64_t axis, int64_t start, int64_t length) {
  return make_node(x.value().narrow(axis, start, length), "narrow", {x}, [axis, start, length](Node& self) {
    Node& x = *self.inputs[0];
    Tensor g = Tensor::zeros(x.value.shape());
    g.narrow(axis, start, length).copy_(self.grad);
    x.accumulate(g);
  });
}

Var expand(const Var& x, const Shape& shape) {
  return make_node(x.value().expand(shape), "expand", {x},
                   [](Node& self) { self.inputs[0]->accumulate(self.grad); });
}

Var concat(const std::vector<Var>& parts, int64_t axis) {
  std::vector<Tensor> values;
  for (const Var& p : parts) values.push_back(p.value());
  Tensor y = ld::concat(values, axis);
  const int a = normalize_axis(axis, y.dim(), "concat");
  return make_node(y, "concat", parts, [a](Node& self) {
    int64_t at = 0;
    for (auto& in : self.inputs) {
      const int64_t len = in->value.shape()[a];
      if (in->requires_grad) in->accumulate(self.grad.narrow(a, at, len));
      at += len;
    }
  });
}

}  // namespace ld::ag
