// tensor/shape.cpp: shapes, contiguous strides, NumPy broadcasting and axis normalisation.
#include "tensor/shape.h"

#include "tensor/error.h"

namespace ld {

std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + ")";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Strides contiguous_strides(const Shape& shape) {
  Strides st(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      fail(op, ": shapes ", shape_str(a), " and ", shape_str(b), " cannot be broadcast (axis ", i, ": ", da,
           " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target) {
  size_t n = target.size(), lead = n - shape.size();
  Strides out(n, 0);
  for (size_t i = lead; i < n; ++i) out[i] = shape[i - lead] == 1 ? 0 : strides[i - lead];
  return out;
}

int normalize_axis(int64_t axis, int64_t ndim, const char* op) {
  if (axis < -ndim || axis >= ndim) fail(op, ": axis ", axis, " out of range for a tensor of rank ", ndim);
  return static_cast<int>(axis < 0 ? axis + ndim : axis);
}

}  // namespace ld
