// tensor/index.h: joining and indexing: concat, index_select (embedding lookup)
// and its adjoint index_add, gather/scatter of one entry per row.
#pragma once
#include "tensor/tensor.h"

namespace ld {

// Join tensors along `axis`; all other sizes must match.
Tensor concat(const std::vector<Tensor>& parts, int64_t axis);
// out[..idx.., :] = table[idx[..], :]: rows of a 2-D table picked by I32 ids
// (any shape); out has shape idx.shape + (D,). Ids are bounds-checked.
Tensor index_select_rows(const Tensor& table, const Tensor& ids);
// table_grad[ids[k], :] += src[k, :]  (the adjoint of index_select_rows)
void index_add_rows_(Tensor& table_grad, const Tensor& ids, const Tensor& src);
// out[r] = x[r, idx[r]] for x (R, C), idx I32 (R)
Tensor gather_rows(const Tensor& x, const Tensor& idx);
// out (R, C) zero except out[r, idx[r]] = v[r]   (the adjoint of gather_rows)
Tensor scatter_rows(const Tensor& v, const Tensor& idx, int64_t C);

// Nearest-neighbour 2x upsampling of (N, C, H, W): y[n,c,2i+a,2j+b] = x[n,c,i,j]
Tensor upsample_nearest2x(const Tensor& x);
// The same for the C planes (h, w) of one sample at x, into y (C, 2h, 2w), in the calling thread (a
// convolution's input map, tensor/winograd.h).
void upsample_nearest2x_planes(const float* x, int64_t C, int64_t h, int64_t w, float* y);
// dx[n,c,i,j] = sum_{a,b in {0,1}} dy[n,c,2i+a,2j+b]
Tensor upsample_nearest2x_backward(const Tensor& dy);

}  // namespace ld
