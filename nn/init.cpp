// nn/init.cpp: see init.h for the derivation of the bound.
#include "nn/init.h"

#include <cmath>

namespace ld::nn {

Tensor kaiming_uniform(const Shape& shape, int64_t fan_in, Generator& gen) {
  if (fan_in <= 0) fail("kaiming_uniform: fan_in ", fan_in, " must be positive");
  const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
  return rand_uniform(shape, gen, -bound, bound);
}

}  // namespace ld::nn
