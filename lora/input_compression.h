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
double relative_output_error(const Tensor& W, const Tensor& M, const Tensor& C);

}  // namespace ld::lora
