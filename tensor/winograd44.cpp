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
// The driver (chunks of samples, one GEMM per xi, threads) is the one of tensor/winograd.cpp.
#include <algorithm>

#include "tensor/winograd_tiles.h"

namespace ld::winograd_detail {

void input_transform_44(const float* pad, const Tiling& t, float* v, int64_t stride, float* rows) {
  float* r[6];
  for (int q = 0; q < 6; ++q) r[q] = rows + q * t.Wp;
  for (int64_t ty = 0; ty < t.th; ++ty) {
    const float* d0 = pad + 4 * ty * t.Wp;
    const float *d1 = d0 + t.Wp, *d2 = d1 + t.Wp, *d3 = d2 + t.Wp, *d4 = d3 + t.Wp, *d5 = d4 + t.Wp;
    float *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3], *r4 = r[4], *r5 = r[5];
#pragma omp simd
    for (int64_t s = 0; s < t.Wp; ++s) {  // B^T d over whole rows
      r0[s] = 4.0f * d0[s] - 5.0f * d2[s] + d4[s];
      r1[s] = (d3[s] + d4[s]) - 4.0f * (d1[s] + d2[s]);
      r2[s] = 4.0f * (d1[s] - d2[s]) + (d4[s] - d3[s]);
      r3[s] = 2.0f * (d3[s] - d1[s]) + (d4[s] - d2[s]);
      r4[s] = 2.0f * (d1[s] - d3[s]) + (d4[s] - d2[s]);
      r5[s] = 4.0f * d1[s] - 5.0f * d3[s] + d5[s];
    }
    for (int q = 0; q < 6; ++q) {  // (B^T d) B: the same combinations of columns 4tx .. 4tx+5
      float* o0 = v + (6 * q) * stride + ty * t.tw;
      float *o1 = o0 + stride, *o2 = o1 + stride, *o3 = o2 + stride, *o4 = o3 + stride, *o5 = o4 + stride;
      const float* rq = r[q];
#pragma omp simd
      for (int64_t tx = 0; tx < t.tw; ++tx) {
        const float* c = rq + 4 * tx;
        o0[tx] = 4.0f * c[0] - 5.0f * c[2] + c[4];
        o1[tx] = (c[3] + c[4]) - 4.0f * (c[1] + c[2]);
        o2[tx] = 4.0f * (c[1] - c[2]) + (c[4] - c[3]);
        o3[tx] = 2.0f * (c[3] - c[1]) + (c[4] - c[2]);
        o4[tx] = 2.0f * (c[1] - c[3]) + (c[4] - c[2]);
        o5[tx] = 4.0f * c[1] - 5.0f * c[3] + c[5];
      }
    }
  }
}

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
        for (int s = 0; s < 6; ++s) u[((6 * q + s) * Cout + o) * C + c] = row[s];
      }
    }
}

void weight_transform_adjoint_44(const float* du, int64_t Cout, int64_t C, float* dw) {
  for (int64_t o = 0; o < Cout; ++o)
    for (int64_t c = 0; c < C; ++c) {
      float r[3][6];  // G^T dU
      for (int s = 0; s < 6; ++s) {
        float col[6], out[3];
        for (int q = 0; q < 6; ++q) col[q] = du[((6 * q + s) * Cout + o) * C + c];
        gt_apply(col, out);
        for (int j = 0; j < 3; ++j) r[j][s] = out[j];
      }
      float* g = dw + (o * C + c) * 9;
      for (int j = 0; j < 3; ++j) gt_apply(r[j], g + 3 * j);  // (G^T dU) G
    }
}

void output_transform_44(const float* m, int64_t stride, const Tiling& t, float* plane, float* rows) {
  for (int64_t ty = 0; ty < t.th; ++ty) {
    const float* in = m + ty * t.tw;
    for (int s = 0; s < 6; ++s) {  // A^T m for column s of every tile: rows[6 a + s], a = 0..3
      const float *m0 = in + s * stride, *m1 = in + (6 + s) * stride, *m2 = in + (12 + s) * stride,
                  *m3 = in + (18 + s) * stride, *m4 = in + (24 + s) * stride, *m5 = in + (30 + s) * stride;
      float *y0 = rows + s * t.tw, *y1 = rows + (6 + s) * t.tw, *y2 = rows + (12 + s) * t.tw,
            *y3 = rows + (18 + s) * t.tw;
#pragma omp simd
      for (int64_t tx = 0; tx < t.tw; ++tx) {
        const float p = m1[tx] + m2[tx], q = m1[tx] - m2[tx], r = m3[tx] + m4[tx], d = m3[tx] - m4[tx];
        y0[tx] = m0[tx] + p + r;
        y1[tx] = q + 2.0f * d;
        y2[tx] = p + 4.0f * r;
        y3[tx] = q + 8.0f * d + m5[tx];
      }
    }
    for (int a = 0; a < 4 && 4 * ty + a < t.H; ++a) {  // (A^T m) A: the same combinations of columns
      const float* c0 = rows + 6 * a * t.tw;
      const float *c1 = c0 + t.tw, *c2 = c1 + t.tw, *c3 = c2 + t.tw, *c4 = c3 + t.tw, *c5 = c4 + t.tw;
      float* row = plane + (4 * ty + a) * t.W;
      const int64_t full = t.W / 4;
#pragma omp simd
      for (int64_t tx = 0; tx < full; ++tx) {
        const float p = c1[tx] + c2[tx], q = c1[tx] - c2[tx], r = c3[tx] + c4[tx], d = c3[tx] - c4[tx];
        row[4 * tx] = c0[tx] + p + r;
        row[4 * tx + 1] = q + 2.0f * d;
        row[4 * tx + 2] = p + 4.0f * r;
        row[4 * tx + 3] = q + 8.0f * d + c5[tx];
      }
      if (t.W % 4) {  // the last tile sticks out of the plane: its first W % 4 columns
        const int64_t tx = full;
        const float p = c1[tx] + c2[tx], q = c1[tx] - c2[tx], r = c3[tx] + c4[tx], d = c3[tx] - c4[tx];
        const float y[3] = {c0[tx] + p + r, q + 2.0f * d, p + 4.0f * r};
        for (int64_t b = 0; b < t.W % 4; ++b) row[4 * tx + b] = y[b];
      }
    }
  }
}

// A row of tiles at a time: the row's 4x4 gradients are gathered into 16 arrays over the tiles
// (zeros outside H x W), then A y A^T is computed for all tiles of the row at once (vectorisable:
// straight-line code on scalars, which the compiler widens; arrays inside the loop stopped it).
void output_transform_adjoint_44(const float* plane, const Tiling& t, float* dm, int64_t stride,
                                 float* rows) {
  const int64_t tw = t.tw;
  for (int64_t ty = 0; ty < t.th; ++ty) {
    for (int a = 0; a < 4; ++a) {  // rows[(4 a + b) tw + tx] = y[4 ty + a][4 tx + b]
      const int64_t h = 4 * ty + a;
      for (int64_t tx = 0; tx < tw; ++tx)
        for (int b = 0; b < 4; ++b) {
          const int64_t w = 4 * tx + b;
          rows[(4 * a + b) * tw + tx] = h < t.H && w < t.W ? plane[h * t.W + w] : 0.0f;
        }
    }
    for (int b = 0; b < 4; ++b) {  // A y for column b of every tile, in place: rows 4 a + b -> 6 rows
      float *y0 = rows + b * tw, *y1 = rows + (4 + b) * tw, *y2 = rows + (8 + b) * tw,
            *y3 = rows + (12 + b) * tw;
      float *z1 = rows + (16 + b) * tw, *z2 = rows + (20 + b) * tw;  // rows 16 - 23: the two extra rows
#pragma omp simd
      for (int64_t tx = 0; tx < tw; ++tx) {
        const float p = y0[tx] + y2[tx], q = y1[tx] + y3[tx], e = y0[tx] + 4.0f * y2[tx],
                    f = 2.0f * y1[tx] + 8.0f * y3[tx];
        // A y rows: 0 = y0 (stays), 1 = p + q, 2 = p - q, 3 = e + f, 4 = e - f, 5 = y3 (stays)
        y1[tx] = p + q;
        y2[tx] = p - q;
        z1[tx] = e + f;
        z2[tx] = e - f;
      }
    }
    // row q of A y lies at rows + base[q] (4 columns, tw apart): 0 y0, 1 y1, 2 y2, 3 z1, 4 z2, 5 y3
    const int64_t base[6] = {0, 4 * tw, 8 * tw, 16 * tw, 20 * tw, 12 * tw};
    float* out = dm + ty * tw;
    for (int q = 0; q < 6; ++q) {  // (A y) A^T: the same combinations of the four columns
      const float *c0 = rows + base[q], *c1 = c0 + tw, *c2 = c1 + tw, *c3 = c2 + tw;
      float* o0 = out + (6 * q) * stride;
      float *o1 = o0 + stride, *o2 = o1 + stride, *o3 = o2 + stride, *o4 = o3 + stride, *o5 = o4 + stride;
#pragma omp simd
      for (int64_t tx = 0; tx < tw; ++tx) {
        const float p = c0[tx] + c2[tx], q4 = c1[tx] + c3[tx], e = c0[tx] + 4.0f * c2[tx],
                    f = 2.0f * c1[tx] + 8.0f * c3[tx];
        o0[tx] = c0[tx];
        o1[tx] = p + q4;
        o2[tx] = p - q4;
        o3[tx] = e + f;
        o4[tx] = e - f;
        o5[tx] = c3[tx];
      }
    }
  }
}

}  // namespace ld::winograd_detail
