// nn/clip_grad.h: gradient clipping by global norm (PyTorch's clip_grad_norm_).
//   total = sqrt(sum over every gradient element g^2)
//   if total > max_norm: every g <- g * max_norm / (total + 1e-6)
// Returns total, the norm before clipping (worth logging: spikes show instability).
// Parameters without a gradient are skipped.
#pragma once
#include <vector>

#include "autograd/var.h"

namespace ld::nn {

double clip_grad_norm(const std::vector<ag::Var>& params, double max_norm);

}  // namespace ld::nn
