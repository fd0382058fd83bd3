// autograd/ops/unary.cpp: element-wise functions y = f(x), dx = f'(x) dy.
// The derivatives (tensor/elementwise.cpp, unary_df) are:
//   exp: y            log: 1/x           sqrt: 1/(2y)        tanh: 1 - y^2
//   sigmoid: y(1-y)   relu: [x > 0]      silu (x s(x)): s(x)(1 + x(1 - s(x)))
//   gelu (x Phi(x), exact erf form): Phi(x) + x phi(x)
//   pow (x^p): p x^(p-1)
#include "autograd/ops.h"
#include "tensor/elementwise.h"

namespace ld::ag {

static Var unary_op(const Var& x, Unary op) {
  Tensor y = ld::unary(op, x.value());
  return make_node(y, unary_name(op), {x}, [op](Node& self) {
    Node& x = *self.inputs[0];
    x.accumulate(unary_backward(op, x.value, self.value, self.grad));
  });
}

Var exp(const Var& x) { return unary_op(x, Unary::Exp); }
Var log(const Var& x) { return unary_op(x, Unary::Log); }
Var sqrt(const Var& x) { return unary_op(x, Unary::Sqrt); }
Var tanh(const Var& x) { return unary_op(x, Unary::Tanh); }
Var sigmoid(const Var& x) { return unary_op(x, Unary::Sigmoid); }
Var relu(const Var& x) { return unary_op(x, Unary::Relu); }
Var silu(const Var& x) { return unary_op(x, Unary::Silu); }
Var gelu(const Var& x) { return unary_op(x, Unary::Gelu); }

// y = x^p:  dx = p x^(p-1) dy
Var pow(const Var& x, float p) {
  return make_node(pow_scalar(x.value(), p), "pow", {x}, [p](Node& self) {
    Node& x = *self.inputs[0];
    x.accumulate(ld::mul(mul_scalar(pow_scalar(x.value, p - 1.0f), p), self.grad));
  });
}

}  // namespace ld::ag
