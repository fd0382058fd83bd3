// autograd/ops/arithmetic.cpp: + - * / with broadcasting.
// Broadcasting in the forward pass means summing in the backward pass: a
// gradient of the output's shape is reduced back to each input's shape
// (Node::accumulate calls sum_to), because a broadcast input was used many times.
#include "autograd/ops.h"
#include "tensor/elementwise.h"

namespace ld::ag {

// c = a + b:  da = dc, db = dc
Var add(const Var& a, const Var& b) {
  return make_node(ld::add(a.value(), b.value()), "add", {a, b}, [](Node& self) {
    for (auto& in : self.inputs)
      if (in->requires_grad) in->accumulate(self.grad);
  });
}

// c = a - b:  da = dc, db = -dc
Var sub(const Var& a, const Var& b) {
  return make_node(ld::sub(a.value(), b.value()), "sub", {a, b}, [](Node& self) {
    if (self.inputs[0]->requires_grad) self.inputs[0]->accumulate(self.grad);
    if (self.inputs[1]->requires_grad) self.inputs[1]->accumulate(mul_scalar(self.grad, -1.0f));
  });
}

// c = a * b:  da = dc * b, db = dc * a
Var mul(const Var& a, const Var& b) {
  return make_node(ld::mul(a.value(), b.value()), "mul", {a, b}, [](Node& self) {
    Node &a = *self.inputs[0], &b = *self.inputs[1];
    if (a.requires_grad) a.accumulate(ld::mul(self.grad, b.value));
    if (b.requires_grad) b.accumulate(ld::mul(self.grad, a.value));
  });
}

// c = a / b:  da = dc / b, db = -dc * a / b^2 = -dc * c / b
Var div(const Var& a, const Var& b) {
  return make_node(ld::div(a.value(), b.value()), "div", {a, b}, [](Node& self) {
    Node &a = *self.inputs[0], &b = *self.inputs[1];
    if (a.requires_grad) a.accumulate(ld::div(self.grad, b.value));
    if (b.requires_grad) b.accumulate(mul_scalar(ld::div(ld::mul(self.grad, self.value), b.value), -1.0f));
  });
}

// c = -a:  da = -dc
Var neg(const Var& a) { return scale(a, -1.0f); }

// c = s a:  da = s dc
Var scale(const Var& a, float s) {
  return make_node(mul_scalar(a.value(), s), "scale", {a}, [s](Node& self) {
    self.inputs[0]->accumulate(mul_scalar(self.grad, s));
  });
}

// c = a + s:  da = dc
Var add_scalar(const Var& a, float s) {
  return make_node(ld::add_scalar(a.value(), s), "add_scalar", {a},
                   [](Node& self) { self.inputs[0]->accumulate(self.grad); });
}

}  // namespace ld::ag
