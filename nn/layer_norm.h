// nn/layer_norm.h: LayerNorm (Ba et al. 2016) over the last axis of x (..., D).
//   mu = mean(x), var = mean((x - mu)^2),  y = weight * (x - mu) / sqrt(var + eps) + bias
// weight starts at 1, bias at 0. Backward: ag::layer_norm (autograd/ops/layer_norm.cpp).
#pragma once
#include "nn/module.h"

namespace ld::nn {

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, float eps = 1e-5f);
  std::string type_name() const override { return "LayerNorm"; }
  Var forward(const Var& x) override;

  int64_t dim;
  float eps;
  Var weight, bias;  // (D)
};

}  // namespace ld::nn
