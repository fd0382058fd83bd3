// tensor/shape.h: shapes, strides and NumPy broadcasting rules.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ld {

using Shape = std::vector<int64_t>;    // sizes, outermost first
using Strides = std::vector<int64_t>;  // in elements, not bytes

// "(2,3,4)"
std::string shape_str(const Shape& shape);
int64_t shape_numel(const Shape& shape);
// Row-major strides: the last axis has stride 1.
Strides contiguous_strides(const Shape& shape);
// NumPy broadcasting: align from the right; sizes must be equal or 1.
// Throws "<op>: shapes (2,3) and (4,3) cannot be broadcast".
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Strides that read `strides`/`shape` as if it had shape `target` (0 on broadcast axes).
Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target);
// Map a possibly negative axis into [0, ndim); throws naming the op otherwise.
int normalize_axis(int64_t axis, int64_t ndim, const char* op);

}  // namespace ld
