// autograd/ops/softmax.cpp: softmax and log-softmax as autograd ops:
//   softmax:     y_i = exp(x_i) / sum_j exp(x_j)     dx_i = y_i (dy_i - sum_j dy_j y_j)
//   log_softmax: y_i = x_i - log sum_j exp(x_j)      dx_i = dy_i - exp(y_i) sum_j dy_j
// Both computed stably (the row max is subtracted first): tensor/softmax.cpp.
#include "tensor/softmax.h"

#include "autograd/ops.h"

namespace ld::ag {

Var softmax(const Var& x, int64_t axis) {
  return make_node(ld::softmax(x.value(), axis), "softmax", {x}, [axis](Node& self) {
    self.inputs[0]->accumulate(softmax_backward(self.value, self.grad, axis));
  });
}

Var log_softmax(const Var& x, int64_t axis) {
  return make_node(ld::log_softmax(x.value(), axis), "log_softmax", {x}, [axis](Node& self) {
    self.inputs[0]->accumulate(log_softmax_backward(self.value, self.grad, axis));
  });
}

}  // namespace ld::ag
