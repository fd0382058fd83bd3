// tensor/norm.h: layer norm and group norm kernels (forward and backward).
#pragma once
#include "tensor/tensor.h"

namespace ld {

struct NormResult {
  Tensor y;     // normalised, scaled and shifted output
  Tensor mean;  // per normalised group: (rows) or (N, G)
  Tensor rstd;  // 1 / sqrt(var + eps), same shape as mean
};

struct NormGrads {
  Tensor dx, dgamma, dbeta;
};

// LayerNorm over the last axis (Ba et al. 2016): x (..., C), gamma and beta (C).
//   mu = mean(x), var = mean((x - mu)^2), xhat = (x - mu) rstd, rstd = 1/sqrt(var + eps)
//   y = gamma * xhat + beta
NormResult layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
// Per row, N = C:  dxhat = dy * gamma
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
//   dgamma = sum_rows(dy * xhat), dbeta = sum_rows(dy)
NormGrads layer_norm_backward(const Tensor& x, const Tensor& gamma, const NormResult& saved,
                              const Tensor& dy);

// GroupNorm (Wu & He 2018): x (N, C, *), channels split into G groups; each
// (sample, group) is normalised over its C/G channels and all positions, then
// y = gamma[c] * xhat + beta[c]. Backward has the same form as LayerNorm's, per group.
NormResult group_norm_forward(const Tensor& x, int64_t groups, const Tensor& gamma, const Tensor& beta,
                              float eps);
NormGrads group_norm_backward(const Tensor& x, int64_t groups, const Tensor& gamma, const NormResult& saved,
                              const Tensor& dy);

// GroupNorm followed by SiLU, as every norm of the UNet is used (norm -> SiLU -> conv), in one pass:
//   y = gamma[c] xhat + beta[c],  z = silu(y) = y s(y)
// The result's y field holds z; y itself is never written. Backward recomputes y from x and the
// saved moments, so the graph keeps one activation per pair instead of two:
//   dy = dz s(y) (1 + y (1 - s(y))), then GroupNorm's backward with dy.
NormResult group_norm_silu_forward(const Tensor& x, int64_t groups, const Tensor& gamma, const Tensor& beta,
                                   float eps);
NormGrads group_norm_silu_backward(const Tensor& x, int64_t groups, const Tensor& gamma, const Tensor& beta,
                                   const NormResult& saved, const Tensor& dz);

// GroupNorm written as one affine map per sample and channel, y[n, c] = x[n, c] scale[n, c] +
// shift[n, c] with scale = rstd gamma[c], shift = beta[c] - mean scale ((mean, rstd) of c's group
// in sample n): what a convolution needs to normalise its input itself, as it reads it (sampling:
// tensor/conv.h conv2d_forward_silu_in). Reads x once; scale and shift are (N, C).
struct ChannelAffine {
  Tensor scale, shift;
};
ChannelAffine group_norm_affine(const Tensor& x, int64_t groups, const Tensor& gamma, const Tensor& beta,
                                float eps);
// z = silu(x scale[c] + shift[c]) on the C planes of P floats of one sample, in the calling thread:
// with group_norm_affine's scale and shift, group_norm_silu_forward's z to the bit.
void affine_silu_planes(const float* x, int64_t C, int64_t P, const float* scale, const float* shift,
                        float* y);

}  // namespace ld
