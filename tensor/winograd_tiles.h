// tensor/winograd_tiles.h: internal to tensor/winograd*.cpp. The tiling of a plane into m x m
// output tiles (m = 2 for F(2x2, 3x3), 4 for F(4x4, 3x3)), the channels-last layouts the transforms
// work in, and the tile transforms themselves, written once for both variants.
//
// Every transform is a small matrix applied on both sides of a tile, Y = A^T M A, V = B^T d B,
// dM = A dY A^T, and each is done as two passes of one 1-D combination: first down the columns
// of the tile, then along the rows of the result. The 1-D combinations (F::bt, F::at, F::a: B^T,
// A^T, A applied to alpha or m values) are the only thing a variant supplies.
//
// Channels last. A value of a tile is not one float but a vector over channels: every layout here
// keeps the channel index c fastest, so each step of a 1-D combination is one loop over up to
// kChannelBlock consecutive channels, contiguous loads and stores that the compiler widens to full
// vectors (16 floats at AVX-512). The planes of the UNet are small (7, 14, 28 pixels: 4-14 tiles a
// row), so the transposed layout, which vectorised across the tiles of a row, ran at a quarter to
// half of the vector width, with strided accesses; here every vector is full whenever C is a
// multiple of 16. The layouts (tile = ty tw + tx, o an output channel):
//   pad  (Hp, Wp, C)        the zero-padded input plane, channels last
//   v    v[xi stride + tile C + c]          the transformed inputs V[xi] (tiles, C)
//   m    m[xi stride + tile Cout + o]       the products M[xi] (tiles, Cout) = V[xi] U[xi]
//   grid (m th, m tw, Cout) the outputs of every tile (cropped to H x W by the caller), or the
//                           output gradient with zeros beyond H x W
#pragma once
#include <algorithm>
#include <cstdint>

namespace ld::winograd_detail {

// The tiling of one H x W plane: th x tw tiles of m x m outputs, read from a zero-padded copy of
// the plane with Hp = m th + 2 rows and Wp = m tw + 2 columns (padding 1 on the top and left,
// 1 to m on the bottom and right). Each tile reads the (m + 2) x (m + 2) window at (m ty, m tx).
struct Tiling {
  int64_t m, H, W, th, tw, Hp, Wp;
  Tiling(int64_t h, int64_t w, int64_t m_)
      : m(m_), H(h), W(w), th((h + m_ - 1) / m_), tw((w + m_ - 1) / m_), Hp(m_ * th + 2), Wp(m_ * tw + 2) {}
  int64_t tiles() const { return th * tw; }
  int64_t grid_h() const { return m * th; }
  int64_t grid_w() const { return m * tw; }
};

// Channels per step of a transform: a tile's alpha^2 partial results for this many channels
// (36 x 64 floats = 9 KB for F(4x4)) stay in the L1 cache between the two passes.
inline constexpr int64_t kChannelBlock = 64;

// f(ty, tx, tile, c0, n) for every tile of a plane (tile = ty tw + tx) and every block of n <=
// kChannelBlock channels starting at c0: the loops every tile transform runs.
template <class Body>
void for_each_tile_block(const Tiling& t, int64_t C, const Body& f) {
  for (int64_t ty = 0; ty < t.th; ++ty)
    for (int64_t tx = 0; tx < t.tw; ++tx)
      for (int64_t c0 = 0; c0 < C; c0 += kChannelBlock)
        f(ty, tx, ty * t.tw + tx, c0, std::min(kChannelBlock, C - c0));
}

// V = B^T d B for every tile of one padded plane (pad, C channels) into v (see the layouts above).
template <class F>
void input_transform(const float* pad, const Tiling& t, int64_t C, float* v, int64_t stride) {
  constexpr int64_t a = F::alpha, cb = kChannelBlock;
  alignas(64) float tmp[a * a * cb];  // tmp[(a q + j) cb + c] = (B^T d)[q][j]
  for_each_tile_block(t, C, [&](int64_t ty, int64_t tx, int64_t tile, int64_t c0, int64_t n) {
    const float* d = pad + ((t.m * ty) * t.Wp + t.m * tx) * C + c0;  // d[i][j] at d + (i Wp + j) C
    for (int64_t j = 0; j < a; ++j) F::bt(d + j * C, t.Wp * C, tmp + j * cb, a * cb, n);  // columns
    for (int64_t q = 0; q < a; ++q)
      F::bt(tmp + q * a * cb, cb, v + a * q * stride + tile * C + c0, stride, n);
  });
}

// The output tiles Y = A^T M A, for every tile, into grid (Cout channels).
template <class F>
void output_transform(const float* m, int64_t stride, const Tiling& t, int64_t Cout, float* grid) {
  constexpr int64_t a = F::alpha, r = F::m, cb = kChannelBlock;
  alignas(64) float tmp[r * a * cb];  // tmp[(a i + s) cb + c] = (A^T M)[i][s]
  for_each_tile_block(t, Cout, [&](int64_t ty, int64_t tx, int64_t tile, int64_t o0, int64_t n) {
    const float* mt = m + tile * Cout + o0;  // M[q][s] at mt + (a q + s) stride
    for (int64_t s = 0; s < a; ++s) F::at(mt + s * stride, a * stride, tmp + s * cb, a * cb, n);  // columns
    float* y = grid + ((r * ty) * t.grid_w() + r * tx) * Cout + o0;  // Y[i][b] at y + (i grid_w + b) Cout
    for (int64_t i = 0; i < r; ++i) F::at(tmp + i * a * cb, cb, y + i * t.grid_w() * Cout, Cout, n);
  });
}

// The adjoint of output_transform: dM = A dY A^T for every tile of grid (the output gradient,
// zeros beyond H x W), into dm (the layout of m).
template <class F>
void output_transform_adjoint(const float* grid, const Tiling& t, int64_t Cout, float* dm, int64_t stride) {
  constexpr int64_t a = F::alpha, r = F::m, cb = kChannelBlock;
  alignas(64) float tmp[a * r * cb];  // tmp[(r q + b) cb + c] = (A dY)[q][b]
  for_each_tile_block(t, Cout, [&](int64_t ty, int64_t tx, int64_t tile, int64_t o0, int64_t n) {
    // dY[i][b] at y + (i grid_w + b) Cout
    const float* y = grid + ((r * ty) * t.grid_w() + r * tx) * Cout + o0;
    for (int64_t b = 0; b < r; ++b)
      F::a(y + b * Cout, t.grid_w() * Cout, tmp + b * cb, r * cb, n);  // columns
    for (int64_t q = 0; q < a; ++q)
      F::a(tmp + q * r * cb, cb, dm + a * q * stride + tile * Cout + o0, stride, n);
  });
}

// F(4x4, 3x3)'s weight transforms (tensor/winograd44.cpp), with the contracts of the F(2x2) ones
// in tensor/winograd.cpp: u[(xi C + c) Cout + o] = (G g G^T)[xi] for g = w[o, c]; the adjoint
// reads du in that layout and writes dw (Cout, C, 3, 3).
void weight_transform_44(const float* w, int64_t Cout, int64_t C, float* u);
void weight_transform_adjoint_44(const float* du, int64_t Cout, int64_t C, float* dw);

// F(2x2, 3x3)'s 1-D combinations (tensor/winograd.h documents the matrices). Each applies its
// matrix to vectors over n channels: in[k] at in + k is, out[k] at out + k os.
struct F22 {
  static constexpr int64_t m = 2, alpha = 4;
  static void bt(const float* in, int64_t is, float* out, int64_t os, int64_t n) {  // B^T: 4 -> 4
    const float *d0 = in, *d1 = d0 + is, *d2 = d1 + is, *d3 = d2 + is;
    float *o0 = out, *o1 = o0 + os, *o2 = o1 + os, *o3 = o2 + os;
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) {
      o0[c] = d0[c] - d2[c];
      o1[c] = d1[c] + d2[c];
      o2[c] = d2[c] - d1[c];
      o3[c] = d1[c] - d3[c];
    }
  }
  static void at(const float* in, int64_t is, float* out, int64_t os, int64_t n) {  // A^T: 4 -> 2
    const float *m0 = in, *m1 = m0 + is, *m2 = m1 + is, *m3 = m2 + is;
    float *y0 = out, *y1 = y0 + os;
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) {
      y0[c] = m0[c] + m1[c] + m2[c];
      y1[c] = m1[c] - m2[c] - m3[c];
    }
  }
  static void a(const float* in, int64_t is, float* out, int64_t os, int64_t n) {  // A: 2 -> 4
    const float *y0 = in, *y1 = y0 + is;
    float *o0 = out, *o1 = o0 + os, *o2 = o1 + os, *o3 = o2 + os;
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) {
      o0[c] = y0[c];
      o1[c] = y0[c] + y1[c];
      o2[c] = y0[c] - y1[c];
      o3[c] = -y1[c];
    }
  }
};

// F(4x4, 3x3)'s 1-D combinations (tensor/winograd44.cpp documents the matrices). Each applies its
// matrix to vectors over n channels: in[k] at in + k is, out[k] at out + k os.
struct F44 {
  static constexpr int64_t m = 4, alpha = 6;
  static void bt(const float* in, int64_t is, float* out, int64_t os, int64_t n) {  // B^T: 6 -> 6
    const float *d0 = in, *d1 = d0 + is, *d2 = d1 + is, *d3 = d2 + is, *d4 = d3 + is, *d5 = d4 + is;
    float *o0 = out, *o1 = o0 + os, *o2 = o1 + os, *o3 = o2 + os, *o4 = o3 + os, *o5 = o4 + os;
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) {
      o0[c] = 4.0f * d0[c] - 5.0f * d2[c] + d4[c];
      o1[c] = (d3[c] + d4[c]) - 4.0f * (d1[c] + d2[c]);
      o2[c] = 4.0f * (d1[c] - d2[c]) + (d4[c] - d3[c]);
      o3[c] = 2.0f * (d3[c] - d1[c]) + (d4[c] - d2[c]);
      o4[c] = 2.0f * (d1[c] - d3[c]) + (d4[c] - d2[c]);
      o5[c] = 4.0f * d1[c] - 5.0f * d3[c] + d5[c];
    }
  }
  static void at(const float* in, int64_t is, float* out, int64_t os, int64_t n) {  // A^T: 6 -> 4
    const float *m0 = in, *m1 = m0 + is, *m2 = m1 + is, *m3 = m2 + is, *m4 = m3 + is, *m5 = m4 + is;
    float *y0 = out, *y1 = y0 + os, *y2 = y1 + os, *y3 = y2 + os;
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) {
      const float p = m1[c] + m2[c], q = m1[c] - m2[c], r = m3[c] + m4[c], d = m3[c] - m4[c];
      y0[c] = m0[c] + p + r;
      y1[c] = q + 2.0f * d;
      y2[c] = p + 4.0f * r;
      y3[c] = q + 8.0f * d + m5[c];
    }
  }
  static void a(const float* in, int64_t is, float* out, int64_t os, int64_t n) {  // A: 4 -> 6
    const float *y0 = in, *y1 = y0 + is, *y2 = y1 + is, *y3 = y2 + is;
    float *o0 = out, *o1 = o0 + os, *o2 = o1 + os, *o3 = o2 + os, *o4 = o3 + os, *o5 = o4 + os;
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) {
      const float p = y0[c] + y2[c], q = y1[c] + y3[c], e = y0[c] + 4.0f * y2[c],
                  f = 2.0f * y1[c] + 8.0f * y3[c];
      o0[c] = y0[c];
      o1[c] = p + q;
      o2[c] = p - q;
      o3[c] = e + f;
      o4[c] = e - f;
      o5[c] = y3[c];
    }
  }
};

}  // namespace ld::winograd_detail
