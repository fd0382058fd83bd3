// tensor/winograd.cpp: Winograd convolution, forward and weight gradient: the F(2x2, 3x3)
// transforms and the driver shared with F(4x4, 3x3) (tensor/winograd44.cpp): chunks of samples
// over the threads, the transforms, and one GEMM per transformed position. See tensor/winograd.h.
#include "tensor/winograd.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "tensor/conv.h"
#include "tensor/error.h"
#include "tensor/parallel.h"
#include "tensor/winograd_tiles.h"

namespace ld {

bool winograd_applies(int64_t C, int64_t Cout, int64_t kh, int64_t kw, int64_t stride, int64_t pad) {
  return kh == 3 && kw == 3 && stride == 1 && pad == 1 && C >= 16 && Cout >= 16;
}

namespace {

using winograd_detail::Tiling;

// Copies one plane into the middle of the zero-padded buffer `pad` (Hp x Wp).
// Only the interior is written: the zero border is set once per buffer (ChunkScratch).
// (Plain loops, not memcpy: the rows are short, 7-28 floats, and a call per row cost more
// than the copy.)
void pad_plane(const float* plane, const Tiling& t, float* pad) {
  for (int64_t h = 0; h < t.H; ++h) {
    float* row = pad + (h + 1) * t.Wp + 1;
    const float* src = plane + h * t.W;
    for (int64_t w = 0; w < t.W; ++w) row[w] = src[w];
  }
}

// v = B^T d B for every tile of one padded plane; v[xi * stride + tile]. Done a row of tiles
// at a time: first B^T d for whole rows (r_q, q = 0..3; vectorisable), then the same
// combinations of each tile's four columns. `rows` is scratch for 4 Wp floats.
void input_transform(const float* pad, const Tiling& t, float* v, int64_t stride, float* rows) {
  float *r0 = rows, *r1 = rows + t.Wp, *r2 = rows + 2 * t.Wp, *r3 = rows + 3 * t.Wp;
  for (int64_t ty = 0; ty < t.th; ++ty) {
    const float *d0 = pad + 2 * ty * t.Wp, *d1 = d0 + t.Wp, *d2 = d1 + t.Wp, *d3 = d2 + t.Wp;
#pragma omp simd
    for (int64_t s = 0; s < t.Wp; ++s) {  // B^T d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3
      r0[s] = d0[s] - d2[s];
      r1[s] = d1[s] + d2[s];
      r2[s] = d2[s] - d1[s];
      r3[s] = d1[s] - d3[s];
    }
    const float* r[4] = {r0, r1, r2, r3};
    for (int q = 0; q < 4; ++q) {  // (B^T d) B: the same combinations of columns 2tx .. 2tx+3
      float *o0 = v + (4 * q) * stride + ty * t.tw, *o1 = o0 + stride, *o2 = o1 + stride, *o3 = o2 + stride;
      const float* rq = r[q];
#pragma omp simd
      for (int64_t tx = 0; tx < t.tw; ++tx) {
        const float a = rq[2 * tx], b = rq[2 * tx + 1], c = rq[2 * tx + 2], d = rq[2 * tx + 3];
        o0[tx] = a - c;
        o1[tx] = b + c;
        o2[tx] = c - b;
        o3[tx] = b - d;
      }
    }
  }
}

// U[xi][o][c] = (G g G^T)[xi] for the 3x3 kernel g = w[o, c].
void weight_transform(const float* w, int64_t Cout, int64_t C, float* u) {
  for (int64_t o = 0; o < Cout; ++o)
    for (int64_t c = 0; c < C; ++c) {
      const float* g = w + (o * C + c) * 9;
      float r[4][3];  // G g: rows g0, (g0 + g1 + g2)/2, (g0 - g1 + g2)/2, g2
      for (int j = 0; j < 3; ++j) {
        r[0][j] = g[j];
        r[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        r[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        r[3][j] = g[6 + j];
      }
      for (int q = 0; q < 4; ++q) {
        const float row[4] = {r[q][0], 0.5f * (r[q][0] + r[q][1] + r[q][2]),
                              0.5f * (r[q][0] - r[q][1] + r[q][2]), r[q][2]};
        for (int s = 0; s < 4; ++s) u[((4 * q + s) * Cout + o) * C + c] = row[s];
      }
    }
}

// The adjoint of weight_transform: dg = G^T dU G for every (o, c), written to dw (Cout, C, 3, 3).
void weight_transform_adjoint(const float* du, int64_t Cout, int64_t C, float* dw) {
  for (int64_t o = 0; o < Cout; ++o)
    for (int64_t c = 0; c < C; ++c) {
      float u[4][4];
      for (int xi = 0; xi < 16; ++xi) u[xi / 4][xi % 4] = du[(xi * Cout + o) * C + c];
      float r[3][4];  // G^T u: rows u0 + (u1 + u2)/2, (u1 - u2)/2, (u1 + u2)/2 + u3
      for (int s = 0; s < 4; ++s) {
        r[0][s] = u[0][s] + 0.5f * (u[1][s] + u[2][s]);
        r[1][s] = 0.5f * (u[1][s] - u[2][s]);
        r[2][s] = 0.5f * (u[1][s] + u[2][s]) + u[3][s];
      }
      float* g = dw + (o * C + c) * 9;
      for (int q = 0; q < 3; ++q) {  // (G^T u) G: the same combinations of columns
        g[3 * q + 0] = r[q][0] + 0.5f * (r[q][1] + r[q][2]);
        g[3 * q + 1] = 0.5f * (r[q][1] - r[q][2]);
        g[3 * q + 2] = 0.5f * (r[q][1] + r[q][2]) + r[q][3];
      }
    }
}

// y = A^T m A for every tile of one output plane (m[xi * stride + tile]), cropped to H x W.
// A row of tiles at a time: A^T m over the row (vectorisable over tiles), then the column
// combinations. `rows` is scratch for 8 tw floats.
void output_transform(const float* m, int64_t stride, const Tiling& t, float* plane, float* rows) {
  for (int64_t ty = 0; ty < t.th; ++ty) {
    const float* in = m + ty * t.tw;
    for (int s = 0; s < 4; ++s) {  // A^T m: rows m0 + m1 + m2, m1 - m2 - m3 (column s of every tile)
      const float *m0 = in + s * stride, *m1 = in + (4 + s) * stride, *m2 = in + (8 + s) * stride,
                  *m3 = in + (12 + s) * stride;
      float *top = rows + s * t.tw, *bottom = rows + (4 + s) * t.tw;
#pragma omp simd
      for (int64_t tx = 0; tx < t.tw; ++tx) {
        top[tx] = m0[tx] + m1[tx] + m2[tx];
        bottom[tx] = m1[tx] - m2[tx] - m3[tx];
      }
    }
    for (int a = 0; a < 2 && 2 * ty + a < t.H; ++a) {  // (A^T m) A: columns r0 + r1 + r2, r1 - r2 - r3
      const float *c0 = rows + 4 * a * t.tw, *c1 = c0 + t.tw, *c2 = c1 + t.tw, *c3 = c2 + t.tw;
      float* row = plane + (2 * ty + a) * t.W;
#pragma omp simd
      for (int64_t tx = 0; tx < t.W / 2; ++tx) {
        row[2 * tx] = c0[tx] + c1[tx] + c2[tx];
        row[2 * tx + 1] = c1[tx] - c2[tx] - c3[tx];
      }
      if (t.W % 2) row[t.W - 1] = c0[t.tw - 1] + c1[t.tw - 1] + c2[t.tw - 1];  // odd width: last column
    }
  }
}

// The adjoint of output_transform: dm = A dy A^T for every tile of one gradient plane
// (outputs outside H x W count as zero); dm[xi * stride + tile]. `rows` is scratch for
// 4 tw floats.
void output_transform_adjoint(const float* plane, const Tiling& t, float* dm, int64_t stride, float* rows) {
  float *e0 = rows, *e1 = rows + t.tw, *f0 = rows + 2 * t.tw, *f1 = rows + 3 * t.tw;
  for (int64_t ty = 0; ty < t.th; ++ty) {
    // the tiles' 2x2 gradients: e = row 2ty, f = row 2ty + 1 (even and odd columns)
    for (int a = 0; a < 2; ++a) {
      float *even = a ? f0 : e0, *odd = a ? f1 : e1;
      const int64_t h = 2 * ty + a;
      const float* row = h < t.H ? plane + h * t.W : nullptr;  // past the bottom: zeros
      for (int64_t tx = 0; tx < t.tw; ++tx) {
        even[tx] = row ? row[2 * tx] : 0.0f;
        odd[tx] = row && 2 * tx + 1 < t.W ? row[2 * tx + 1] : 0.0f;
      }
    }
    // A y: rows y0, y0 + y1, y0 - y1, -y1; then (A y) A^T: columns c0, c0 + c1, c0 - c1, -c1
    float* out = dm + ty * t.tw;
    for (int64_t tx = 0; tx < t.tw; ++tx) {
      const float r[4][2] = {{e0[tx], e1[tx]},
                             {e0[tx] + f0[tx], e1[tx] + f1[tx]},
                             {e0[tx] - f0[tx], e1[tx] - f1[tx]},
                             {-f0[tx], -f1[tx]}};
      for (int q = 0; q < 4; ++q) {
        out[(4 * q + 0) * stride + tx] = r[q][0];
        out[(4 * q + 1) * stride + tx] = r[q][0] + r[q][1];
        out[(4 * q + 2) * stride + tx] = r[q][0] - r[q][1];
        out[(4 * q + 3) * stride + tx] = -r[q][1];
      }
    }
  }
}

// One Winograd variant: its tile size m, its alpha^2 = (m + 2)^2 matrices, and its transforms.
struct Variant {
  int64_t m, nxi;
  void (*input)(const float* pad, const Tiling& t, float* v, int64_t stride, float* rows);
  void (*weight)(const float* w, int64_t Cout, int64_t C, float* u);
  void (*weight_adjoint)(const float* du, int64_t Cout, int64_t C, float* dw);
  void (*output)(const float* m, int64_t stride, const Tiling& t, float* plane, float* rows);
  void (*output_adjoint)(const float* plane, const Tiling& t, float* dm, int64_t stride, float* rows);
};

const Variant& variant(int m) {
  static const Variant f22{2,
                           16,
                           input_transform,
                           weight_transform,
                           weight_transform_adjoint,
                           output_transform,
                           output_transform_adjoint};
  static const Variant f44{4,
                           36,
                           winograd_detail::input_transform_44,
                           winograd_detail::weight_transform_44,
                           winograd_detail::weight_transform_adjoint_44,
                           winograd_detail::output_transform_44,
                           winograd_detail::output_transform_adjoint_44};
  if (m != 2 && m != 4) fail("winograd: tile size ", m, " must be 2 (F(2x2, 3x3)) or 4 (F(4x4, 3x3))");
  return m == 2 ? f22 : f44;
}

// Samples per chunk, so that one thread's transformed inputs V (nxi, C, tiles) stay near
// 256 KB (64K floats; with the products M about as large, both stay in that core's L2 cache
// while its GEMMs run). Measured for F(2x2) at the UNet's shapes (batch 64, 2 threads): 64K
// floats against 256K, forward 3.2 vs 3.9 ms (32 ch 28x28), 3.3 vs 4.2 (64 ch 14x14), 3.8 vs
// 4.9 (128 ch 7x7); 32K was no better. The chunk depends on the shape only, never on the
// number of threads, so every output is computed the same way whatever the thread count.
int64_t samples_per_chunk(int64_t N, int64_t C, const Tiling& t, const Variant& v) {
  const int64_t per_sample = v.nxi * C * t.tiles();
  const int64_t fit = (int64_t{1} << 16) / std::max<int64_t>(per_sample, 1);
  return std::clamp<int64_t>(fit, 1, std::max<int64_t>(N, 1));  // N = 0: an empty batch
}

// The nxi matrices V[xi] (and M[xi]) lie one after another, `xi_stride` floats apart. A
// transform writes one value to each of them per tile; were the stride a multiple of 4 KB
// (C * T = 128 * 128 at 7x7), all the write streams would fall into the same L1 cache set
// and evict each other (perf: the input transform took 40 % of the time). One spare cache
// line between matrices puts them in different sets.
int64_t xi_stride(int64_t rows, int64_t T) { return rows * T + 16; }

// One thread's buffers for chunks of up to `chunk` samples, fully overwritten before use
// except the padded plane's zero border, set once here: the padded plane, (m + 2) Wp floats
// for the transforms' rows, V (nxi matrices C x T) and the products M, or dM (nxi matrices
// Cout x T).
struct ChunkScratch {
  std::unique_ptr<float[]> pad, v, m;
  float* rows;  // after the padded plane
  ChunkScratch(const Tiling& t, const Variant& var, int64_t C, int64_t Cout, int64_t chunk)
      : pad(new float[static_cast<size_t>(t.Hp * t.Wp + (t.m + 2) * t.Wp)]),
        v(new float[static_cast<size_t>(var.nxi * xi_stride(C, chunk * t.tiles()))]),
        m(new float[static_cast<size_t>(var.nxi * xi_stride(Cout, chunk * t.tiles()))]),
        rows(pad.get() + t.Hp * t.Wp) {
    std::fill(pad.get(), rows, 0.0f);
  }
};

// Fills s.v (nxi, C, T) with the transformed tiles of samples [n0, n1) of x; T = (n1 - n0) tiles().
void transform_inputs(const float* x, int64_t n0, int64_t n1, int64_t C, const Tiling& t, const Variant& var,
                      ChunkScratch& s) {
  const int64_t T = (n1 - n0) * t.tiles();
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t c = 0; c < C; ++c) {
      pad_plane(x + (n * C + c) * t.H * t.W, t, s.pad.get());
      var.input(s.pad.get(), t, s.v.get() + c * T + (n - n0) * t.tiles(), xi_stride(C, T), s.rows);
    }
}

int as_int(int64_t v) { return static_cast<int>(v); }

}  // namespace

int winograd_tile(int64_t C, int64_t Cout, int64_t H, int64_t W, bool weight_gradient) {
  if (H < kWinograd44MinSide || W < kWinograd44MinSide) return 2;
  return weight_gradient || C * Cout * H * W >= kWinograd44MinForwardWork ? 4 : 2;
}

void winograd_conv3x3(const float* x, const float* w, int64_t N, int64_t C, int64_t H, int64_t W,
                      int64_t Cout, float* y, int tile, const float* bias, const float* residual) {
  const Variant& var = variant(tile);
  const Tiling t(H, W, var.m);
  std::vector<float> u(static_cast<size_t>(var.nxi * Cout * C));
  var.weight(w, Cout, C, u.data());
  const int64_t chunk = samples_per_chunk(N, C, t, var), nchunks = (N + chunk - 1) / chunk;
  const int nt = static_cast<int>(std::clamp<int64_t>(nchunks, 1, num_threads()));
#pragma omp parallel num_threads(nt)
  {
    ChunkScratch s(t, var, C, Cout, chunk);
#pragma omp for schedule(static)
    for (int64_t k = 0; k < nchunks; ++k) {
      const int64_t n0 = k * chunk, n1 = std::min(N, n0 + chunk), T = (n1 - n0) * t.tiles();
      const int64_t vs = xi_stride(C, T), ms = xi_stride(Cout, T);
      transform_inputs(x, n0, n1, C, t, var, s);
      for (int64_t xi = 0; xi < var.nxi; ++xi)  // M[xi] (Cout, T) = U[xi] (Cout, C) @ V[xi] (C, T)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, as_int(Cout), as_int(T), as_int(C), 1.0f,
                    u.data() + xi * Cout * C, as_int(C), s.v.get() + xi * vs, as_int(T), 0.0f,
                    s.m.get() + xi * ms, as_int(T));
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t o = 0; o < Cout; ++o) {
          float* plane = y + (n * Cout + o) * H * W;
          var.output(s.m.get() + o * T + (n - n0) * t.tiles(), ms, t, plane, s.rows);
          add_bias_residual(plane, bias ? bias + o : nullptr,
                            residual ? residual + (n * Cout + o) * H * W : nullptr, 1,
                            H * W);  // tensor/conv.h, while the plane is in cache
        }
    }
  }
}

void winograd_conv3x3_dw(const float* x, const float* dy, int64_t N, int64_t C, int64_t H, int64_t W,
                         int64_t Cout, float* dw, int tile) {
  const Variant& var = variant(tile);
  const Tiling t(H, W, var.m);
  const int64_t chunk = samples_per_chunk(N, std::max(C, Cout), t, var), nchunks = (N + chunk - 1) / chunk;
  const int nt = static_cast<int>(std::clamp<int64_t>(nchunks, 1, num_threads()));
  const int64_t usize = var.nxi * Cout * C;
  // Each thread sums its chunks' dU into its own partial; the partials are added in
  // thread order afterwards, so the result does not depend on timing.
  std::vector<float> du_part(static_cast<size_t>(nt * usize), 0.0f);
#pragma omp parallel num_threads(nt)
  {
    float* du = du_part.data() + static_cast<size_t>(omp_get_thread_num()) * usize;
    ChunkScratch s(t, var, C, Cout, chunk);  // s.m holds dM here
#pragma omp for schedule(static)
    for (int64_t k = 0; k < nchunks; ++k) {
      const int64_t n0 = k * chunk, n1 = std::min(N, n0 + chunk), T = (n1 - n0) * t.tiles();
      const int64_t vs = xi_stride(C, T), ms = xi_stride(Cout, T);
      transform_inputs(x, n0, n1, C, t, var, s);
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t o = 0; o < Cout; ++o)
          var.output_adjoint(dy + (n * Cout + o) * H * W, t, s.m.get() + o * T + (n - n0) * t.tiles(), ms,
                             s.rows);
      for (int64_t xi = 0; xi < var.nxi; ++xi)  // dU[xi] (Cout, C) += dM[xi] (Cout, T) @ V[xi]^T (T, C)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, as_int(Cout), as_int(C), as_int(T), 1.0f,
                    s.m.get() + xi * ms, as_int(T), s.v.get() + xi * vs, as_int(T), 1.0f, du + xi * Cout * C,
                    as_int(C));
    }
  }
  for (int p = 1; p < nt; ++p)
    for (int64_t i = 0; i < usize; ++i)
      du_part[static_cast<size_t>(i)] += du_part[static_cast<size_t>(p * usize + i)];
  var.weight_adjoint(du_part.data(), Cout, C, dw);
}

}  // namespace ld
