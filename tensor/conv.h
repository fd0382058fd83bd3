// tensor/conv.h: 2-D convolution as im2col + GEMM (forward and backward). 3x3 convolutions
// with stride 1, padding 1 and >= 16 channels in and out use Winograd F(2x2, 3x3) instead
// (tensor/winograd.h): same results up to float rounding, 2.25x fewer multiplies.
#pragma once
#include "tensor/norm.h"
#include "tensor/tensor.h"

namespace ld {

struct Conv2dGeometry {
  int64_t N, C, H, W;   // input
  int64_t kh, kw;       // kernel
  int64_t stride, pad;  // same along both axes
  int64_t Ho, Wo;       // output
};
// Validates shapes: x (N, C, H, W), w (Cout, C, kh, kw).
Conv2dGeometry conv2d_geometry(const Tensor& x, const Tensor& w, int64_t stride, int64_t pad);

// col[(c*kh + i)*kw + j, n*Ho*Wo + oh*Wo + ow] = x[n, c, oh*stride - pad + i, ow*stride - pad + j] (0
// outside) x (N, C, H, W) -> col (C*kh*kw, N*Ho*Wo)
Tensor im2col(const Tensor& x, int64_t kh, int64_t kw, int64_t stride, int64_t pad);
// The adjoint of im2col: every column entry is added back to the pixel it was read from.
Tensor col2im(const Tensor& col, const Shape& x_shape, int64_t kh, int64_t kw, int64_t stride, int64_t pad);

// y[n, o] = b[o] + sum_{c,i,j} w[o, c, i, j] x[n, c, oh*s - p + i, ow*s - p + j]
// As matrices per batch chunk: Y (Cout, N*P) = W (Cout, C*kh*kw) @ im2col(x).  bias may be undefined.
// residual (N, Cout, Ho, Wo), when defined, is added to y (a residual connection y + r, in the same
// order of operations as a separate add) as each output plane is written, while it is in cache.
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride, int64_t pad,
                      const Tensor& residual = Tensor());

// conv2d_forward(silu(x scale + shift), w, bias, stride, pad, residual) with scale and shift (N, C),
// one per sample and channel: a GroupNorm + SiLU before the convolution (tensor/norm.h
// group_norm_affine), for sampling, where the normalised input is not kept. Where Winograd runs, each
// sample's planes are mapped as they are copied into its buffer, so the mapped tensor never goes to
// memory; elsewhere it is computed first (affine_silu_planes), then convolved. The same bits either
// way, and those of conv2d_forward(group_norm_silu_forward(x, ...).y, ...).
Tensor conv2d_forward_silu_in(const Tensor& x, const ChannelAffine& in, const Tensor& w, const Tensor& bias,
                              int64_t stride, int64_t pad, const Tensor& residual = Tensor());

// conv2d_forward(upsample_nearest2x(x), w, bias, stride, pad, residual): an upsampling before the
// convolution, for sampling. Where Winograd runs, each sample's planes are upsampled as they are
// copied into its buffer, so the upsampled tensor (4x x) never goes to memory; elsewhere the two
// calls. The same bits either way.
Tensor conv2d_forward_upsampled_in(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
                                   int64_t pad, const Tensor& residual = Tensor());

// Stride-1 convolutions with at most this many channels in or out (an image's 1 or 3) are summed
// directly, output plane by output plane, rather than by im2col + GEMM.
inline constexpr int64_t kDirectMaxChannels = 3;

// The output epilogue every convolution path runs on a plane while it is in cache (im2col's and the
// 1x1's GEMMs here, Winograd's output transform in winograd.cpp): `planes` planes of P floats, plane o
// += bias[o], then += residual, the order of a separate bias add followed by a separate residual add.
// Either may be nullptr.
void add_bias_residual(float* y, const float* bias, const float* residual, int64_t planes, int64_t P);

struct Conv2dGrads {
  Tensor dx, dw, dbias;
};
// dW = dY @ im2col(x)^T,  dx = col2im(W^T @ dY),  dbias[o] = sum_{n,p} dY[n, o, p].
// Gradients not asked for (need_* false) are left undefined and not computed.
Conv2dGrads conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int64_t stride, int64_t pad,
                            bool need_dx, bool need_dw, bool need_dbias);

}  // namespace ld
