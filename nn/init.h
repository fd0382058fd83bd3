// nn/init.h: PyTorch's default initialisations, drawn from the seeded Philox generator.
//
// Linear and Conv2d weights: kaiming_uniform_(w, a = sqrt(5)), i.e. U(-b, b) with
//   b = gain * sqrt(3 / fan_in),  gain = sqrt(2 / (1 + a^2)) = sqrt(1/3)   =>   b = 1 / sqrt(fan_in)
// and their biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)); fan_in = in_features (Linear)
// or in_channels * kh * kw (Conv2d). Norm layers: weight 1, bias 0. Embedding: N(0, 1).
// The same distributions as PyTorch, not the same numbers (PyTorch uses another generator).
#pragma once
#include "tensor/random.h"

namespace ld::nn {

// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): kaiming_uniform(a = sqrt(5)) for weights, and the bias rule.
Tensor kaiming_uniform(const Shape& shape, int64_t fan_in, Generator& gen);

}  // namespace ld::nn
