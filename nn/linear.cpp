// nn/linear.cpp: y = x W^T + b (see linear.h).
#include "nn/linear.h"

#include "autograd/ops.h"
#include "nn/init.h"

namespace ld::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias, Generator& gen) : in_features(in), out_features(out) {
  if (in <= 0 || out <= 0) fail("Linear: sizes (", in, ", ", out, ") must be positive");
  weight = Var(kaiming_uniform({out, in}, in, gen), true);
  if (with_bias) bias = Var(kaiming_uniform({out}, in, gen), true);
  register_parameter("weight", weight);
  register_parameter("bias", bias);
}

void Linear::check_input(const Var& x) const {
  if (x.dim() < 1 || x.size(-1) != in_features)
    fail("Linear(", in_features, ", ", out_features, "): input ", shape_str(x.shape()), " must end in ",
         in_features);
}

Var Linear::forward(const Var& x) {
  check_input(x);
  return ag::linear(x, weight, bias);
}

Var Linear::forward_add(const Var& x, const Var& residual) {
  check_input(x);
  return ag::linear(x, weight, bias, residual);
}

Var Linear::forward_gelu(const Var& x) {
  check_input(x);
  return ag::linear_gelu(x, weight, bias);
}

}  // namespace ld::nn
