// tests/tensor_compare.h: the largest element-wise difference of two float tensors of the same
// number of elements (any layout), the measure most tests compare a result with its reference by.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/tensor.h"

namespace ld::test {

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.contiguous().to_vector(), y = b.contiguous().to_vector();
  REQUIRE(x.size() == y.size());
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(double(x[i]) - y[i]));
  return m;
}

}  // namespace ld::test
