// nn/layer_norm.cpp: see layer_norm.h.
#include "nn/layer_norm.h"

#include "autograd/ops.h"

namespace ld::nn {

LayerNorm::LayerNorm(int64_t d, float e) : dim(d), eps(e) {
  if (d <= 0) fail("LayerNorm: dimension ", d, " must be positive");
  weight = Var(Tensor::ones({d}), true);
  bias = Var(Tensor::zeros({d}), true);
  register_parameter("weight", weight);
  register_parameter("bias", bias);
}

Var LayerNorm::forward(const Var& x) {
  if (x.dim() < 1 || x.size(-1) != dim)
    fail("LayerNorm(", dim, "): input ", shape_str(x.shape()), " must end in ", dim);
  return ag::layer_norm(x, weight, bias, eps);
}

}  // namespace ld::nn
