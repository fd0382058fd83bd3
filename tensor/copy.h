// tensor/copy.h: strided copy and fill (CPU), used by contiguous(), clone(), copy_().
#pragma once
#include "tensor/tensor.h"

namespace ld {

// dst[i] = src[i] for every index; shapes must be equal (expand src first to broadcast).
void strided_copy(const Tensor& dst, const Tensor& src);
void strided_fill(const Tensor& dst, float value);

}  // namespace ld
