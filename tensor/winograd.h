// tensor/winograd.h: 3x3 convolution (stride 1, padding 1) by Winograd's F(2x2, 3x3), and on the
// larger planes by F(4x4, 3x3) (the same scheme with 6x6 input tiles: tensor/winograd44.cpp).
//
// Every 2x2 block of outputs is computed from the 4x4 block of inputs around it as
//   Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A          (⊙: element-wise, summed over input channels)
// with the constant matrices below. That is 16 multiplies per channel pair instead of the
// 36 of the direct 3x3 sum (2.25x fewer), at the price of cheap additions (the transforms).
// The 16 element-wise products summed over channels are 16 ordinary GEMMs:
//   M[xi] (tiles, Cout) = V[xi] (tiles, C) @ U[xi] (C, Cout),   xi = 0..15,
// in the channels-last layouts of tensor/winograd_tiles.h, where the transforms run.
// The identity is exact in real arithmetic; in float the results differ from im2col + GEMM
// by a few units in the last place. (Lavin and Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2016.)
//
//   B^T = [1  0 -1  0]     G = [ 1    0    0 ]     A^T = [1  1  1  0]
//         [0  1  1  0]         [1/2  1/2  1/2]           [0  1 -1 -1]
//         [0 -1  1  0]         [1/2 -1/2  1/2]
//         [0  1  0 -1]         [ 0    0    1 ]
//
// Backward. The input gradient of a stride-1, padding-1 3x3 convolution is the same kind of
// convolution of dY with the kernel flipped in space and in/out channels swapped, so it
// reuses the forward. The weight gradient is the adjoint of the formula above:
//   dM = A dY_tile A^T,   dU[xi] (C, Cout) = V[xi]^T dM[xi] (a GEMM over the tiles),   dg = G^T dU G.
#pragma once
#include <cstdint>

namespace ld {

// Whether conv2d uses this path: 3x3, stride 1, padding 1, and enough channels on both
// sides for the 16 GEMMs (K = C, M = Cout) to run well; the first and last convolutions of
// a UNet (1 or 3 image channels) stay on im2col + GEMM.
bool winograd_applies(int64_t C, int64_t Cout, int64_t kh, int64_t kw, int64_t stride, int64_t pad);

// Which variant conv2d runs on an H x W plane, for the forward, the input gradient and the weight
// gradient alike: 4 (F(4x4, 3x3), tensor/winograd44.cpp) when both sides are >= kWinograd44MinSide,
// else 2 (F(2x2, 3x3)). Measured at the 3x3 shapes of the mnist-t2i (28, 14, 7) and shapes-t2i
// (32, 16, 8) UNets, batch 64, 2 threads (`loradiff bench winograd --reps 9`, three runs,
// 2026-11-30 21:00 UTC, transforms channels last), as F(4x4) time over F(2x2) time, the range
// over the channel pairs 32->32, 96->32, 64->64 (28, 32), 32->64, 64->64, 192->64, 128->128
// (14, 16), 64->128, 128->128, 256->128 (7, 8):
//                      32x32      28x28      16x16      14x14      8x8        7x7
//   weight gradient    0.51-0.66  0.64-0.69  0.77-0.90  0.97-1.27  0.98-1.61  1.13-1.57
//   forward            0.58-0.72  0.70-0.75  0.80-1.06  0.96-1.07  0.97-1.20  0.95-1.36
// Below 16x16 F(4x4)'s 1.78x fewer multiplies (1.36x at 14x14, whose 16x16 tile grid wastes 31 %)
// are lost to its larger transforms and to GEMMs a quarter as wide (T = tiles of a chunk: 4 per
// 7x7 sample), which BLAS runs further below its peak. (Before the transforms ran channels last,
// F(4x4)'s costlier transforms also lost the forward at 16x16-28x28 with little work per sample:
// docs/performance.md.)
inline constexpr int64_t kWinograd44MinSide = 16;
int winograd_tile(int64_t H, int64_t W);

// y (N, Cout, H, W) = conv3x3(x (N, C, H, W), w (Cout, C, 3, 3)) [+ bias (Cout)] [+ residual (N,
// Cout, H, W)], padding 1, by F(tile x tile, 3x3), tile = 2 or 4. All pointers contiguous; y is
// overwritten. Bias, then residual, are added to each output plane right after its transform writes
// it, while it is in cache. With an InputMap the convolution's input is a map of x, made as each
// sample's planes are copied into the transforms' buffer (while sampling: the op before the
// convolution, whose output then never goes to memory).
struct InputMap {
  // (N, C) each: the input is silu(x[n, c] scale[n, c] + shift[n, c]) (a GroupNorm + SiLU before the
  // convolution: tensor/norm.h group_norm_affine)
  const float* scale = nullptr;
  const float* shift = nullptr;
  // x is (N, C, H/2, W/2): the input is x upsampled 2x (nearest: each pixel repeated 2 x 2)
  bool upsample2x = false;
};
// same_weights: w holds the same values at every call (sampling, where the weights never change):
// its transform G w G^T is kept between calls, checked against a copy of w each time, and
// recomputed when w changed (tensor/winograd.cpp, WeightTransforms). The results are the same bits
// either way.
void winograd_conv3x3(const float* x, const float* w, int64_t N, int64_t C, int64_t H, int64_t W,
                      int64_t Cout, float* y, int tile, const float* bias = nullptr,
                      const float* residual = nullptr, const InputMap& in = InputMap(),
                      bool same_weights = false);

// dw (Cout, C, 3, 3) = d loss / d w given x and dy (N, Cout, H, W); dw is overwritten.
// Bits: the forward's do not depend on the thread count (each output comes from one chunk, and
// the chunks depend on the shape only); dw sums one partial per thread, in thread order, so its
// bits are the same from run to run at one thread count but differ between thread counts.
void winograd_conv3x3_dw(const float* x, const float* dy, int64_t N, int64_t C, int64_t H, int64_t W,
                         int64_t Cout, float* dw, int tile);

}  // namespace ld
