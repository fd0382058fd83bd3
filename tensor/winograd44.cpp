// tensor/winograd44.cpp: the transforms of Winograd F(4x4, 3x3) (Lavin and Gray 2016, the
// interpolation points 0, 1, -1, 2, -2 and infinity). Every 4x4 block of outputs comes from the
// 6x6 block of inputs around it:
//   Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A
//
//   B^T = [4  0 -5  0  1  0]    G = [ 1/4     0     0  ]    A^T = [1  1  1  1  1  0]
//         [0 -4 -4  1  1  0]        [-1/6  -1/6  -1/6  ]          [0  1 -1  2 -2  0]
//         [0  4 -4 -1  1  0]        [-1/6   1/6  -1/6  ]          [0  1  1  4  4  0]
//         [0 -2 -1  2  1  0]        [ 1/24  1/12  1/6  ]          [0  1 -1  8 -8  1]
//         [0  2 -1 -2  1  0]        [ 1/24 -1/12  1/6  ]
//         [0  4  0 -5  0  1]        [  0      0     1  ]
//
// The trade against F(2x2, 3x3): 36 products per tile of 16 outputs is 2.25 multiplies per output
// (4 for F(2x2), 9 for the direct sum), so the GEMMs, most of the time, shrink by 1.78x. The price:
// - larger transforms: 36 values per 16 outputs, each a combination of up to 4 with the constants
//   2, 4, 5, 8 (F(2x2): 16 values per 4 outputs, sums of 2-3), and the 6x6 windows overlap less;
// - wasted tiles on planes whose side is not a multiple of 4: 14x14 computes 16x16 (31 % more),
//   where F(2x2) wastes nothing; at 7x7 both compute 8x8;
// - fewer tiles per sample, so narrower GEMMs (T = samples x tiles columns) for the same chunk;
// - float error: the large entries of B^T and A^T (5, 8) and the small ones of G (1/24) scale the
//   products' rounding; against a direct sum in double the error relative to the output's scale
//   is up to 4e-6 (F(2x2): 3e-7; tests/tensor/test_winograd44.cpp prints it per shape), small
//   beside the noise of SGD but no longer "a few units in the last place".
// Which variant runs where is decided by winograd_tile (tensor/winograd.h), from measurements.
// Here: the weight transforms, which run once per call. The tile transforms are the shared
// two-pass code of tensor/winograd_tiles.h with F44's 1-D combinations (B^T, A^T, A above), and
// the driver (chunks of samples, one GEMM per xi, threads) is the one of tensor/winograd.cpp.
#include "tensor/winograd_tiles.h"

namespace ld::winograd_detail {

namespace {

// G applied to three values (a column or a row of the 3x3 kernel): six values.
void g_apply(float a, float b, float c, float* out) {
  out[0] = 0.25f * a;
  out[1] = -(a + b + c) / 6.0f;
  out[2] = -(a - b + c) / 6.0f;
  out[3] = a / 24.0f + b / 12.0f + c / 6.0f;
  out[4] = a / 24.0f - b / 12.0f + c / 6.0f;
  out[5] = c;
}

// G^T applied to six values: three.
void gt_apply(const float* u, float* out) {
  out[0] = 0.25f * u[0] - (u[1] + u[2]) / 6.0f + (u[3] + u[4]) / 24.0f;
  out[1] = (u[2] - u[1]) / 6.0f + (u[3] - u[4]) / 12.0f;
  out[2] = (u[3] + u[4] - u[1] - u[2]) / 6.0f + u[5];
}

}  // namespace

void weight_transform_44(const float* w, int64_t Cout, int64_t C, float* u) {
  for (int64_t o = 0; o < Cout; ++o)
    for (int64_t c = 0; c < C; ++c) {
      const float* g = w + (o * C + c) * 9;
      float r[6][3];  // G g
      for (int j = 0; j < 3; ++j) {
        float col[6];
        g_apply(g[j], g[3 + j], g[6 + j], col);
        for (int q = 0; q < 6; ++q) r[q][j] = col[q];
      }
      for (int q = 0; q < 6; ++q) {  // (G g) G^T
        float row[6];
        g_apply(r[q][0], r[q][1], r[q][2], row);
        for (int s = 0; s < 6; ++s) u[((6 * q + s) * C + c) * Cout + o] = row[s];
      }
    }
}

void weight_transform_adjoint_44(const float* du, int64_t Cout, int64_t C, float* dw) {
  for (int64_t o = 0; o < Cout; ++o)
    for (int64_t c = 0; c < C; ++c) {
      float r[3][6];  // G^T dU
      for (int s = 0; s < 6; ++s) {
        float col[6], out[3];
        for (int q = 0; q < 6; ++q) col[q] = du[((6 * q + s) * C + c) * Cout + o];
        gt_apply(col, out);
        for (int j = 0; j < 3; ++j) r[j][s] = out[j];
      }
      float* g = dw + (o * C + c) * 9;
      for (int j = 0; j < 3; ++j) gt_apply(r[j], g + 3 * j);  // (G^T dU) G
    }
}

}  // namespace ld::winograd_detail
