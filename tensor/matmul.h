// tensor/matmul.h: matrix products through BLAS (cblas_sgemm).
#pragma once
#include "tensor/tensor.h"

namespace ld {

// a (..., M, K) @ b (..., K, N) -> (..., M, N). A 2-D operand or batch axes of
// size 1 broadcast. Transposed views (e.g. w.transpose(0, 1)) go to BLAS with a
// transpose flag instead of being copied.
Tensor matmul(const Tensor& a, const Tensor& b);

// c = alpha * op(a) @ op(b) + beta * c on 2-D views, c contiguous (the raw GEMM).
void gemm(const Tensor& a, const Tensor& b, Tensor& c, float alpha = 1.0f, float beta = 0.0f);

// c (M, N) = op(a) @ op(b) [+ bias on every row (bias (N))] [+ residual (M, N)], c contiguous: the
// dense layer's forward, and its sum with a residual connection. Where thin_gemm runs
// (tensor/thin_gemm.h) the bias is where the sums start and the residual is added as each row of c
// is stored: no pass of their own; elsewhere (OpenBLAS) each is a pass. Undefined bias / residual: none.
void gemm_bias(const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& c, const Tensor& residual = Tensor());

}  // namespace ld
