// tensor/reduce.h: reductions over axes (sum, mean, max, argmax) and sum_to,
// which undoes broadcasting: it sums a gradient back down to an input's shape.
#pragma once
#include "tensor/tensor.h"

namespace ld {

// Sum over `axes` (empty = all axes). keepdim keeps reduced axes with size 1.
Tensor sum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
// Max / index of the max along one axis.
Tensor max(const Tensor& x, int64_t axis, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t axis, bool keepdim = false);  // I32
// Sum `x` down to `shape`, which must broadcast to x's shape (the reverse of expand).
Tensor sum_to(const Tensor& x, const Shape& shape);
// Euclidean norm of all elements, accumulated in double.
double l2_norm(const Tensor& x);

}  // namespace ld
