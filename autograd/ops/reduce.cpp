// autograd/ops/reduce.cpp: sum and mean over axes.
//   y = sum_{reduced axes} x:  dx = dy broadcast back over the reduced axes
//   y = mean x = sum x / n:    dx = dy / n broadcast back
#include "autograd/ops.h"
#include "tensor/elementwise.h"
#include "tensor/reduce.h"

namespace ld::ag {

// Shape of the reduction with the reduced axes kept (size 1), for broadcasting dy back.
static Shape keepdim_shape(const Shape& in, const std::vector<int64_t>& axes) {
  Shape s = in;
  if (axes.empty()) s.assign(in.size(), 1);
  for (int64_t a : axes) s[normalize_axis(a, static_cast<int64_t>(in.size()), "sum")] = 1;
  return s;
}

Var sum(const Var& x, const std::vector<int64_t>& axes, bool keepdim) {
  Shape kd = keepdim_shape(x.shape(), axes);
  return make_node(ld::sum(x.value(), axes, keepdim), "sum", {x}, [kd](Node& self) {
    Node& x = *self.inputs[0];
    x.accumulate(self.grad.reshape(kd).expand(x.value.shape()));
  });
}

Var mean(const Var& x, const std::vector<int64_t>& axes, bool keepdim) {
  Shape kd = keepdim_shape(x.shape(), axes);
  const float n = static_cast<float>(x.value().numel()) / static_cast<float>(std::max<int64_t>(shape_numel(kd), 1));
  return make_node(ld::mean(x.value(), axes, keepdim), "mean", {x}, [kd, n](Node& self) {
    Node& x = *self.inputs[0];
    x.accumulate(mul_scalar(self.grad.reshape(kd), 1.0f / n).expand(x.value.shape()));
  });
}

}  // namespace ld::ag
