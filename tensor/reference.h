// tensor/reference.h: the plain versions of the fast kernels, and the switch that runs them instead.
//
// Every fast kernel of loradiff (BLAS GEMM, im2col and Winograd convolutions, the SIMD softmax and
// norms) has here a reference version that says the same maths in the plainest loops, single-threaded,
// accumulating in double: the version a student reads first and steps through in a debugger. The tests
// compare each fast kernel with its reference (tests/tensor/test_reference_kernels.cpp), and
//
//   LORADIFF_KERNELS=reference loradiff ...      (or set_kernels(Kernels::Reference))
//
// makes every op use them, so a whole training step or sampling run can be followed line by line, and
// its speed compared with the fast path (`loradiff bench train --config mnist-t2i-tiny`). The results
// agree with the fast kernels up to float rounding.
#pragma once

#include "tensor/conv.h"
#include "tensor/norm.h"
#include "tensor/tensor.h"

namespace ld {

enum class Kernels { Fast, Reference };
Kernels kernels();  // LORADIFF_KERNELS=fast|reference (default fast), or the last set_kernels
void set_kernels(Kernels k);
const char* kernels_name(Kernels k);
inline bool use_reference_kernels() { return kernels() == Kernels::Reference; }

// c = alpha * a @ b + beta * c for 2-D views (any strides); beta = 0 ignores c's old values.
//   c[i, j] = alpha * sum_k a[i, k] b[k, j] + beta * c[i, j]
void gemm_reference(const Tensor& a, const Tensor& b, Tensor& c, float alpha, float beta);

// The direct convolution: x (N, C, H, W), w (Cout, C, kh, kw) ->
//   y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] x[n, c, i s - p + u, j s - p + v]   (0 outside x)
Tensor conv2d_reference_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
                                int64_t pad);
// Its gradients, from the same sum read backwards:
//   dx[n, c, i s - p + u, j s - p + v] += dy[n, o, i, j] w[o, c, u, v]
//   dw[o, c, u, v] += dy[n, o, i, j] x[n, c, i s - p + u, j s - p + v],  db[o] = sum_{n, i, j} dy[n, o, i, j]
Conv2dGrads conv2d_reference_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int64_t stride,
                                      int64_t pad, bool need_dx, bool need_dw, bool need_dbias);

// y_i = exp(x_i - m) / sum_j exp(x_j - m) along `axis` (m the row's max; a row of -inf gives 0)
Tensor softmax_reference(const Tensor& x, int64_t axis);
// dx_i = y_i (dy_i - sum_j dy_j y_j)
Tensor softmax_backward_reference(const Tensor& y, const Tensor& dy, int64_t axis);

// Multi-head attention's reference forward and backward sit beside the blocked kernels, in
// tensor/attention.h (attention_reference_forward / attention_reference_backward).

// LayerNorm over the last axis and GroupNorm over (C/G channels x positions), as in tensor/norm.h:
//   xhat = (x - mean) / sqrt(var + eps), y = gamma xhat + beta
//   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = dy gamma
NormResult layer_norm_reference_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
NormGrads layer_norm_reference_backward(const Tensor& x, const Tensor& gamma, const NormResult& saved,
                                        const Tensor& dy);
NormResult group_norm_reference_forward(const Tensor& x, int64_t groups, const Tensor& gamma,
                                        const Tensor& beta, float eps);
NormGrads group_norm_reference_backward(const Tensor& x, int64_t groups, const Tensor& gamma,
                                        const NormResult& saved, const Tensor& dy);
// GroupNorm then SiLU, composed of the two plain steps: z = silu(group_norm(x)) (y field = z);
// backward: dy = dz silu'(y), y recomputed, then group_norm_reference_backward.
NormResult group_norm_silu_reference_forward(const Tensor& x, int64_t groups, const Tensor& gamma,
                                             const Tensor& beta, float eps);
NormGrads group_norm_silu_reference_backward(const Tensor& x, int64_t groups, const Tensor& gamma,
                                             const Tensor& beta, const NormResult& saved, const Tensor& dz);

}  // namespace ld
