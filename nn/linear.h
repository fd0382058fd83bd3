// nn/linear.h: the dense layer.
//   y = x W^T + b        x (..., in), W (out, in), b (out), y (..., out)
// Backward (ag::linear): dx = dy W, dW = dy^T x (summed over leading axes), db = sum dy.
#pragma once
#include "nn/module.h"
#include "tensor/random.h"

namespace ld::nn {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, Generator& gen);
  std::string type_name() const override { return "Linear"; }
  Var forward(const Var& x) override;
  Var forward_add(const Var& x, const Var& residual) override;  // one op: the layer + residual
  Var forward_gelu(const Var& x) override;                      // one op: GELU(the layer)

  // x must end in in_features (a one-line error naming the layer otherwise)
  void check_input(const Var& x) const;

  int64_t in_features, out_features;
  Var weight;  // (out, in)
  Var bias;    // (out), undefined when built without bias
};

}  // namespace ld::nn
