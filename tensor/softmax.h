// tensor/softmax.h: numerically stable softmax and log-softmax along an axis.
#pragma once
#include "tensor/tensor.h"

namespace ld {

// y_i = exp(x_i - m) / sum_j exp(x_j - m), m = max_j x_j (subtracting m avoids overflow).
// A row whose entries are all -inf (every key masked) gives zeros, not NaN.
Tensor softmax(const Tensor& x, int64_t axis);
// dx_i = y_i (dy_i - sum_j dy_j y_j)
Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t axis);
// y_i = x_i - m - log sum_j exp(x_j - m)
Tensor log_softmax(const Tensor& x, int64_t axis);
// dx_i = dy_i - exp(y_i) sum_j dy_j
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, int64_t axis);

}  // namespace ld
