// tensor/index.cpp: concat, embedding lookup (index_select_rows) and its adjoint, row gather /
// scatter, and nearest-neighbour 2x upsampling with its backward.
#include "tensor/index.h"

#include <cstring>

#include "tensor/copy.h"
#include "tensor/parallel.h"

namespace ld {

Tensor concat(const std::vector<Tensor>& parts, int64_t axis) {
  if (parts.empty()) fail("concat: no tensors given");
  const Tensor& first = parts[0];
  int a = normalize_axis(axis, first.dim(), "concat");
  Shape out_shape = first.shape();
  out_shape[a] = 0;
  for (size_t k = 0; k < parts.size(); ++k) {
    const Tensor& t = parts[k];
    check_defined("concat", t);
    bool ok = t.dim() == first.dim() && t.dtype() == first.dtype();
    for (int64_t i = 0; ok && i < t.dim(); ++i) ok = i == a || t.shape()[i] == first.shape()[i];
    if (!ok)
      fail("concat: tensor ", k, " has shape ", shape_str(t.shape()), ", incompatible with ",
           shape_str(first.shape()), " along axis ", a);
    out_shape[a] += t.shape()[a];
  }
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  int64_t at = 0;
  for (const Tensor& t : parts) {
    strided_copy(out.narrow(a, at, t.shape()[a]), t);
    at += t.shape()[a];
  }
  return out;
}

static void check_ids(const char* op, const Tensor& ids, int64_t rows) {
  check_dtype(op, ids, DType::I32, "ids");
  Tensor c = ids.contiguous();
  const int32_t* p = c.i32();
  for (int64_t i = 0; i < c.numel(); ++i)
    if (p[i] < 0 || p[i] >= rows) fail(op, ": id ", p[i], " at position ", i, " is outside [0, ", rows, ")");
}

Tensor index_select_rows(const Tensor& table_in, const Tensor& ids_in) {
  check_dtype("embedding", table_in, DType::F32, "table");
  if (table_in.dim() != 2) fail("embedding: table ", shape_str(table_in.shape()), " must be 2-D (rows, dim)");
  const int64_t R = table_in.size(0), D = table_in.size(1);
  check_ids("embedding", ids_in, R);
  Tensor table = table_in.contiguous(), ids = ids_in.contiguous();
  Shape out_shape = ids.shape();
  out_shape.push_back(D);
  Tensor out = Tensor::empty(out_shape);
  const int32_t* pi = ids.i32();
  const float* pt = table.f32();
  float* po = out.f32();
  for (int64_t k = 0; k < ids.numel(); ++k) std::memcpy(po + k * D, pt + pi[k] * D, D * sizeof(float));
  return out;
}

void index_add_rows_(Tensor& table_grad, const Tensor& ids_in, const Tensor& src_in) {
  const int64_t R = table_grad.size(0), D = table_grad.size(1);
  check_ids("embedding backward", ids_in, R);
  if (!table_grad.is_contiguous()) fail("embedding backward: gradient table must be contiguous");
  Tensor ids = ids_in.contiguous(), src = src_in.contiguous();
  if (src.numel() != ids.numel() * D)
    fail("embedding backward: gradient ", shape_str(src.shape()), " mismatch");
  const int32_t* pi = ids.i32();
  const float* ps = src.f32();
  float* pg = table_grad.f32();
  // sequential over ids: two ids may name the same row
  for (int64_t k = 0; k < ids.numel(); ++k)
    for (int64_t d = 0; d < D; ++d) pg[pi[k] * D + d] += ps[k * D + d];
}

Tensor gather_rows(const Tensor& x_in, const Tensor& idx_in) {
  check_dtype("gather_rows", x_in, DType::F32);
  if (x_in.dim() != 2 || idx_in.dim() != 1 || idx_in.size(0) != x_in.size(0))
    fail("gather_rows: x ", shape_str(x_in.shape()), " must be (R, C) and idx ", shape_str(idx_in.shape()),
         " (R)");
  check_ids("gather_rows", idx_in, x_in.size(1));
  Tensor x = x_in.contiguous(), idx = idx_in.contiguous();
  const int64_t R = x.size(0), C = x.size(1);
  Tensor out = Tensor::empty({R});
  for (int64_t r = 0; r < R; ++r) out.f32()[r] = x.f32()[r * C + idx.i32()[r]];
  return out;
}

Tensor scatter_rows(const Tensor& v_in, const Tensor& idx_in, int64_t C) {
  Tensor v = v_in.contiguous(), idx = idx_in.contiguous();
  const int64_t R = v.numel();
  check_ids("scatter_rows", idx, C);
  Tensor out = Tensor::zeros({R, C});
  for (int64_t r = 0; r < R; ++r) out.f32()[r * C + idx.i32()[r]] = v.f32()[r];
  return out;
}

Tensor upsample_nearest2x(const Tensor& x_in) {
  check_dtype("upsample", x_in, DType::F32);
  if (x_in.dim() != 4) fail("upsample: input ", shape_str(x_in.shape()), " must be (N, C, H, W)");
  Tensor x = x_in.contiguous();
  const int64_t NC = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  Tensor y = Tensor::empty({x.size(0), x.size(1), 2 * H, 2 * W});
  const float* px = x.f32();
  float* py = y.f32();
#pragma omp parallel for schedule(static) if (y.numel() >= kParallelGrain) num_threads(num_threads())
  for (int64_t p = 0; p < NC; ++p) upsample_nearest2x_planes(px + p * H * W, 1, H, W, py + p * 4 * H * W);
  return y;
}

void upsample_nearest2x_planes(const float* x, int64_t C, int64_t H, int64_t W, float* y) {
  for (int64_t p = 0; p < C; ++p)
    for (int64_t i = 0; i < 2 * H; ++i) {
      const float* xr = x + (p * H + i / 2) * W;
      float* yr = y + (p * 2 * H + i) * 2 * W;
      for (int64_t j = 0; j < 2 * W; ++j) yr[j] = xr[j / 2];
    }
}

Tensor upsample_nearest2x_backward(const Tensor& dy_in) {
  check_dtype("upsample backward", dy_in, DType::F32);
  if (dy_in.dim() != 4 || dy_in.size(2) % 2 || dy_in.size(3) % 2)
    fail("upsample backward: gradient ", shape_str(dy_in.shape()), " must be (N, C, 2H, 2W)");
  Tensor dy = dy_in.contiguous();
  const int64_t NC = dy.size(0) * dy.size(1), H = dy.size(2) / 2, W = dy.size(3) / 2;
  Tensor dx = Tensor::empty({dy.size(0), dy.size(1), H, W});
  const float* pd = dy.f32();
  float* px = dx.f32();
#pragma omp parallel for schedule(static) if (dy.numel() >= kParallelGrain) num_threads(num_threads())
  for (int64_t p = 0; p < NC; ++p)
    for (int64_t i = 0; i < H; ++i)
      for (int64_t j = 0; j < W; ++j) {
        const float* a = pd + (p * 2 * H + 2 * i) * 2 * W + 2 * j;
        px[(p * H + i) * W + j] = a[0] + a[1] + a[2 * W] + a[2 * W + 1];
      }
  return dx;
}

}  // namespace ld
