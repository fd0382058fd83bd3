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
void gemm_bias(const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& c,
               const Tensor& residual = Tensor());

// Returns y (M, N) = GELU(op(a) @ op(b) + bias); `pre`, when defined ((M, N), contiguous),
// receives the pre-activation u = op(a) @ op(b) + bias (GELU's backward needs it). The bits are those of
// gemm_bias followed by unary(Gelu). Where thin_gemm runs, rows are done in blocks that stay in cache:
// each block's u is computed, then GELU'd into y while it is still in L2, so u makes no trip through
// memory (and without `pre` none is stored at all); elsewhere u is a whole tensor and GELU a pass.
Tensor gemm_bias_gelu(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& pre = Tensor());

// Returns y (M, N) = GELU(op(a) @ op(b1) + bias1) @ op(b2) + bias2 [+ residual (M, N)]: a transformer
// MLP's two layers with nothing kept for a backward (sampling). The bits are those of gemm_bias_gelu
// followed by gemm_bias. Where thin_gemm runs both products, rows go in blocks that stay in cache:
// each block's hidden rows (M x H in all: 4x the input) are computed, GELU'd and multiplied by b2
// while in L2, so the hidden tensor never goes to memory at all; elsewhere the two calls above.
Tensor gemm_mlp_gelu(const Tensor& a, const Tensor& b1, const Tensor& bias1, const Tensor& b2,
                     const Tensor& bias2, const Tensor& residual = Tensor());

}  // namespace ld
