// tensor/reduce.cpp: sum, mean, max and argmax over axes, sum_to (undoing a broadcast) and the L2
// norm.
#include "tensor/reduce.h"

#include <algorithm>
#include <cmath>

#include "tensor/parallel.h"
#include "tensor/strided_loop.h"

namespace ld {

namespace {

std::vector<bool> reduced_mask(const Tensor& x, const std::vector<int64_t>& axes, const char* op) {
  std::vector<bool> red(x.dim(), axes.empty());
  for (int64_t a : axes) red[normalize_axis(a, x.dim(), op)] = true;
  return red;
}

}  // namespace

// out[j] = sum over the reduced axes of x. We walk x with a second operand, out,
// whose strides are 0 along reduced axes. When every reduced axis is inside every
// kept axis (e.g. a row sum), each output element is one independent dot of a row:
// parallel over outputs. Otherwise rows are added into out in order (one thread).
Tensor sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  check_dtype("sum", x, DType::F32);
  std::vector<bool> red = reduced_mask(x, axes, "sum");
  Shape kept_shape;  // keepdim form
  for (int64_t i = 0; i < x.dim(); ++i) kept_shape.push_back(red[i] ? 1 : x.shape()[i]);
  Tensor out = Tensor::zeros(kept_shape);
  auto finish = [&]() -> Tensor {
    if (keepdim) return out;
    Shape squeezed;
    for (int64_t i = 0; i < x.dim(); ++i)
      if (!red[i]) squeezed.push_back(x.shape()[i]);
    return out.view(squeezed);
  };

  // Fast path: x contiguous and the reduced axes lead (e.g. a bias gradient, dY (rows, C)
  // summed over rows). x is then an (R, C) matrix and out its column sums. Threads take
  // column ranges and walk the rows in order, so the result does not depend on timing.
  int64_t lead = 0;
  while (lead < x.dim() && red[lead]) ++lead;
  bool prefix = lead > 0 && lead < x.dim() && x.is_contiguous();
  for (int64_t i = lead; i < x.dim(); ++i) prefix = prefix && !red[i];
  if (prefix) {
    int64_t R = 1;
    for (int64_t i = 0; i < lead; ++i) R *= x.shape()[i];
    const int64_t C = R ? x.numel() / R : 0;
    const float* p = x.f32();
    float* o = out.f32();
    const int nt = (x.numel() >= kParallelGrain && C >= 16) ? num_threads() : 1;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int t = 0; t < nt; ++t) {
      const int64_t c0 = C * t / nt, c1 = C * (t + 1) / nt;
      for (int64_t r = 0; r < R; ++r) {
        const float* row = p + r * C;
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c) o[c] += row[c];
      }
    }
    return finish();
  }

  Strides ost = contiguous_strides(kept_shape);
  for (int64_t i = 0; i < x.dim(); ++i)
    if (red[i]) ost[i] = 0;

  // Reorder axes: kept axes first, reduced last, so "row = reduced block" when possible.
  std::vector<int64_t> order;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (!red[i]) order.push_back(i);
  for (int64_t i = 0; i < x.dim(); ++i)
    if (red[i]) order.push_back(i);
  Shape s;
  Strides xs, os;
  for (int64_t i : order) {
    s.push_back(x.shape()[i]);
    xs.push_back(x.strides()[i]);
    os.push_back(ost[i]);
  }
  auto L = make_strided_loop<2>(s, {os, xs});
  float* o = out.f32();
  const float* p = x.f32();
  const int64_t inner_out_stride = L.stride[0].back();
  if (inner_out_stride == 0) {
    // Each row sums into one output element; rows that share an output are
    // consecutive, so parallelism over rows would race: split by output instead.
    const int64_t n = L.row_length(), rows = L.rows(), outs = out.numel();
    const int64_t rows_per_out = rows / std::max<int64_t>(outs, 1);
    const bool par = outs > 1 && x.numel() >= kParallelGrain;
#pragma omp parallel for schedule(static) if (par) num_threads(num_threads())
    for (int64_t j = 0; j < outs; ++j) {
      double acc = 0.0;
      for (int64_t r = j * rows_per_out; r < (j + 1) * rows_per_out; ++r) {
        int64_t off = 0, rem = r;
        for (int d = static_cast<int>(L.shape.size()) - 2; d >= 0; --d) {
          off += (rem % L.shape[d]) * L.stride[1][d];
          rem /= L.shape[d];
        }
        const float* row = p + off;
        const int64_t st = L.stride[1].back();
        float racc = 0.0f;
        if (st == 1) {
#pragma omp simd reduction(+ : racc)  // vector lanes: a fixed summation order, so still deterministic
          for (int64_t i = 0; i < n; ++i) racc += row[i];
        } else {
          for (int64_t i = 0; i < n; ++i) racc += row[i * st];
        }
        acc += racc;
      }
      o[j] = static_cast<float>(acc);
    }
  } else if (L.shape.size() == 2 && L.stride[0][0] == 0 && L.stride[0][1] == 1 && L.stride[1][1] == 1) {
    // Column sums of a row-major (R, C) block (a bias gradient): threads take column
    // ranges, each walking every row, so no two threads write the same output.
    const int64_t R = L.shape[0], C = L.shape[1], xs = L.stride[1][0];
    const int nt = x.numel() >= kParallelGrain ? num_threads() : 1;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int t = 0; t < nt; ++t) {
      const int64_t c0 = C * t / nt, c1 = C * (t + 1) / nt;
      for (int64_t r = 0; r < R; ++r) {
        const float* row = p + r * xs;
        for (int64_t c = c0; c < c1; ++c) o[c] += row[c];
      }
    }
  } else {
    for_each_row<2>(
        L,
        [&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> st) {
          for (int64_t i = 0; i < n; ++i) o[off[0] + i * st[0]] += p[off[1] + i * st[1]];
        },
        /*allow_parallel=*/false);
  }
  return finish();
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  std::vector<bool> red = reduced_mask(x, axes, "mean");
  int64_t count = 1;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (red[i]) count *= x.shape()[i];
  Tensor s = sum(x, axes, keepdim);
  float* p = s.f32();
  const float inv = 1.0f / static_cast<float>(std::max<int64_t>(count, 1));
  for (int64_t i = 0; i < s.numel(); ++i) p[i] *= inv;
  return s;
}

// Move `axis` last and make rows contiguous: rows x n.
static Tensor rows_along(const Tensor& x, int axis) {
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (i != axis) perm.push_back(i);
  perm.push_back(axis);
  return x.permute(perm).contiguous();
}

static Shape reduced_shape(const Tensor& x, int axis, bool keepdim) {
  Shape s = x.shape();
  if (keepdim)
    s[axis] = 1;
  else
    s.erase(s.begin() + axis);
  return s;
}

Tensor max(const Tensor& x, int64_t axis, bool keepdim) {
  check_dtype("max", x, DType::F32);
  int a = normalize_axis(axis, x.dim(), "max");
  if (x.shape()[a] == 0) fail("max: axis ", a, " of ", shape_str(x.shape()), " is empty");
  Tensor r = rows_along(x, a);
  int64_t n = x.shape()[a], rows = x.numel() / n;
  Tensor out = Tensor::empty(reduced_shape(x, a, keepdim));
  const float* p = r.f32();
  float* o = out.f32();
  for (int64_t i = 0; i < rows; ++i) o[i] = *std::max_element(p + i * n, p + (i + 1) * n);
  return out;
}

Tensor argmax(const Tensor& x, int64_t axis, bool keepdim) {
  check_dtype("argmax", x, DType::F32);
  int a = normalize_axis(axis, x.dim(), "argmax");
  if (x.shape()[a] == 0) fail("argmax: axis ", a, " of ", shape_str(x.shape()), " is empty");
  Tensor r = rows_along(x, a);
  int64_t n = x.shape()[a], rows = x.numel() / n;
  Tensor out = Tensor::empty(reduced_shape(x, a, keepdim), DType::I32);
  const float* p = r.f32();
  int32_t* o = out.i32();
  for (int64_t i = 0; i < rows; ++i)
    o[i] = static_cast<int32_t>(std::max_element(p + i * n, p + (i + 1) * n) - (p + i * n));
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  Shape b = broadcast_shapes(shape, x.shape(), "sum_to");
  if (b != x.shape()) fail("sum_to: ", shape_str(shape), " does not broadcast to ", shape_str(x.shape()));
  size_t lead = x.shape().size() - shape.size();
  std::vector<int64_t> axes;
  for (size_t i = 0; i < x.shape().size(); ++i)
    if (i < lead || (shape[i - lead] == 1 && x.shape()[i] != 1)) axes.push_back(static_cast<int64_t>(i));
  if (axes.empty()) return x.reshape(shape);
  return sum(x, axes, true).reshape(shape);
}

double l2_norm(const Tensor& x) {
  Tensor c = x.contiguous();
  const float* p = c.f32();
  double acc = 0.0;
  for (int64_t i = 0; i < c.numel(); ++i) acc += static_cast<double>(p[i]) * p[i];
  return std::sqrt(acc);
}

}  // namespace ld
