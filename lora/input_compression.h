// lora/input_compression.h: the data-aware low-rank initialisation, "input compression layers"
// of article claim C3: the rank-r layer that best reproduces the dense layer's OUTPUTS on the
// inputs it actually receives (a calibration set, lora/calibration.h), rather than its weights.
//
// With C = (1/N) sum_n x_n x_n^T (fan_in x fan_in), the second moment of the layer's inputs:
//   (1/N) sum_n || W x_n - M x_n ||^2 = tr((W - M) C (W - M)^T) = || (W - M) C^{1/2} ||_F^2
// Minimise over M of rank <= r. Take the SVD of the whitened weight
//   A = W C^{1/2} = P diag(sigma) R^T.
// The outputs Y = W X have Y Y^T / N = W C W^T = A A^T, so P holds the principal directions of
// the outputs and sigma_i^2 the output energy along each. M X has rank <= r, so by Eckart-Young
// on Y no M beats the projection of Y on its top-r directions, and M = P_r P_r^T W reaches it:
//   U = P_r (out, r),  V = P_r^T W (r, fan_in),   error = sum_{i >= r} sigma_i^2
// ("whitened SVD"; no inverse of C is needed, so rank-deficient inputs are fine). Compared with
// the plain SVD of W it spends the rank on the directions the data excites, and by construction
// its output error on the calibration inputs is never larger. The bias is kept as is.
// U and V are then rescaled so that column i of U and row i of V have equal norms (U V unchanged).
//
// The energy rule (--energy) reads sigma: the share of the calibration outputs' energy kept.
//
// Centring. Inputs with a large mean (every text token shares "a handwritten digit", every
// pixel row of an AttnBlock shares a per-channel offset) make C = C_c + mu mu^T dominated by
// mu: the top-r output directions then go to what all inputs have in common, and the part
// that tells one prompt from another can be dropped. Where a constant added to the layer's
// outputs can be absorbed exactly, the rank is spent on the variation instead: with
// C_c = C - mu mu^T (the covariance),
//   (1/N) sum_n || W x_n - (M x_n + (W - M) mu) ||^2 = tr((W - M) C_c (W - M)^T),
// minimised by the whitened SVD of W C_c^{1/2}, and the constant (W - M) mu goes
//   - into the layer's own bias, when it has one;
//   - nowhere, for an attention's key projection to_k: adding c to every key adds q.c to
//     all logits of a query, and softmax ignores a constant shift;
//   - into the attention's to_out bias as W_out (W - M) mu, for the value projection to_v:
//     the attention weights of a query sum to 1, so every output row moves by the same c.
// Since C = C_c + mu mu^T, the centred output error is never larger than the plain one.
// Layers with none of these (to_q without a bias) keep the plain second moment.
#pragma once
#include "lora/low_rank_init.h"

namespace ld::lora {

// C^{1/2} of a symmetric positive semi-definite C: Q diag(sqrt(max(lambda, 0))) Q^T.
Tensor psd_sqrt(const Tensor& C);

// svd(W C^{1/2}); W (out, fan_in), C (fan_in, fan_in).
SVD whitened_svd(const Tensor& W, const Tensor& C);

// U = P_r, V = P_r^T W (balanced), from a = whitened_svd(W, C).
LowRankFactors input_compression_init(const Tensor& W, const SVD& a, int64_t r);

// sqrt( tr((W - M) C (W - M)^T) / tr(W C W^T) ): the RMS error of the outputs M x relative to
// the RMS of W x, over the inputs whose second moment is C (0 when W x is always zero).
// With C_err given (the covariance, for a centred layer whose mean shift is absorbed), the
// numerator uses C_err instead: tr((W - M) C_err (W - M)^T) / tr(W C W^T).
double relative_output_error(const Tensor& W, const Tensor& M, const Tensor& C, const Tensor& C_err = Tensor());

}  // namespace ld::lora
