// tensor/winograd.cpp: Winograd convolution, forward and weight gradient: the F(2x2, 3x3) weight
// transforms and the driver shared with F(4x4, 3x3) (tensor/winograd44.cpp): chunks of samples
// over the threads, the tile transforms (tensor/winograd_tiles.h), and one GEMM per transformed
// position. See tensor/winograd.h.
#include "tensor/winograd.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tensor/error.h"
#include "tensor/index.h"
#include "tensor/norm.h"
#include "tensor/parallel.h"
#include "tensor/simd_dispatch.h"
#include "tensor/thin_gemm.h"
#include "tensor/transpose.h"
#include "tensor/winograd_tiles.h"

namespace ld {

bool winograd_applies(int64_t C, int64_t Cout, int64_t kh, int64_t kw, int64_t stride, int64_t pad) {
  return kh == 3 && kw == 3 && stride == 1 && pad == 1 && C >= 16 && Cout >= 16;
}

namespace {

using winograd_detail::Tiling;

// U[xi][c][o] = (G g G^T)[xi] for the 3x3 kernel g = w[o, c]: U[xi] (C, Cout), the right-hand
// side of the forward's GEMMs.
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
        for (int s = 0; s < 4; ++s) u[((4 * q + s) * C + c) * Cout + o] = row[s];
      }
    }
}

// The adjoint of weight_transform: dg = G^T dU G for every (o, c), dU in U's layout, written to
// dw (Cout, C, 3, 3).
void weight_transform_adjoint(const float* du, int64_t Cout, int64_t C, float* dw) {
  for (int64_t o = 0; o < Cout; ++o)
    for (int64_t c = 0; c < C; ++c) {
      float u[4][4];
      for (int xi = 0; xi < 16; ++xi) u[xi / 4][xi % 4] = du[(xi * C + c) * Cout + o];
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

// One Winograd variant: its tile size m, its alpha^2 = (m + 2)^2 matrices, and its transforms
// (the tile transforms at the SIMD level in use: tensor/simd_dispatch.h).
struct Variant {
  int64_t m, nxi;
  void (*input)(const float* pad, const Tiling& t, int64_t C, float* v, int64_t stride);
  void (*weight)(const float* w, int64_t Cout, int64_t C, float* u);
  void (*weight_adjoint)(const float* du, int64_t Cout, int64_t C, float* dw);
  void (*output)(const float* m, int64_t stride, const Tiling& t, int64_t Cout, float* grid);
  void (*output_adjoint)(const float* grid, const Tiling& t, int64_t Cout, float* dm, int64_t stride);
};

template <class F>
void input_dispatched(const float* pad, const Tiling& t, int64_t C, float* v, int64_t stride) {
  simd_dispatch([&] { winograd_detail::input_transform<F>(pad, t, C, v, stride); });
}
template <class F>
void output_dispatched(const float* m, int64_t stride, const Tiling& t, int64_t Cout, float* grid) {
  simd_dispatch([&] { winograd_detail::output_transform<F>(m, stride, t, Cout, grid); });
}
template <class F>
void output_adjoint_dispatched(const float* grid, const Tiling& t, int64_t Cout, float* dm, int64_t stride) {
  simd_dispatch([&] { winograd_detail::output_transform_adjoint<F>(grid, t, Cout, dm, stride); });
}

// The variant of F's 1-D combinations (tensor/winograd_tiles.h) with its weight transforms.
template <class F>
Variant make_variant(void (*weight)(const float*, int64_t, int64_t, float*),
                     void (*weight_adjoint)(const float*, int64_t, int64_t, float*)) {
  return {.m = F::m,
          .nxi = F::alpha * F::alpha,
          .input = input_dispatched<F>,
          .weight = weight,
          .weight_adjoint = weight_adjoint,
          .output = output_dispatched<F>,
          .output_adjoint = output_adjoint_dispatched<F>};
}

const Variant& variant(int m) {
  using winograd_detail::F22, winograd_detail::F44;
  static const Variant f22 = make_variant<F22>(weight_transform, weight_transform_adjoint);
  static const Variant f44 =
      make_variant<F44>(winograd_detail::weight_transform_44, winograd_detail::weight_transform_adjoint_44);
  if (m != 2 && m != 4) fail("winograd: tile size ", m, " must be 2 (F(2x2, 3x3)) or 4 (F(4x4, 3x3))");
  return m == 2 ? f22 : f44;
}

// Samples per chunk, so that one thread's transformed inputs V (nxi, tiles, C) stay near
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
// transform writes one vector to each of them per tile; were the stride a multiple of 4 KB
// (T * C = 128 * 128 at 7x7), all the write streams would fall into the same L1 cache set
// and evict each other (perf: the input transform took 40 % of the time). One spare cache
// line between matrices puts them in different sets.
int64_t xi_stride(int64_t rows, int64_t T) { return rows * T + 16; }

// The transposes between conv2d's planes (C, H, W) and the transforms' channels-last buffers.
// Pixel p = h W + w of a plane lies at dst + off[p] in a buffer (off[p] = (row h's first pixel +
// w) C: the padded input (Hp, Wp, C) starts at row 1, column 1; the output grid at 0, 0), so one
// loop serves both layouts. Plain loops (the reference, and CPUs without AVX2), and eight
// channels by eight pixels in AVX2 registers (transpose8, tensor/transpose.h): the plain loops'
// strided stores were 20 % of a convolution's time; both give the same bits (a transpose moves
// floats; the bias and residual are one rounded add each, in the same order).
void pixel_offsets(int64_t H, int64_t W, int64_t first, int64_t row_pixels, int64_t C,
                   std::vector<int64_t>& off) {
  off.resize(static_cast<size_t>(H * W));
  for (int64_t h = 0; h < H; ++h)
    for (int64_t w = 0; w < W; ++w) off[static_cast<size_t>(h * W + w)] = (first + h * row_pixels + w) * C;
}

// dst[off[p] + c] = src[c P + p] for the planes of P pixels at src, channels [c0, c1) and pixels
// [p0, p1).
void planes_to_pixels_plain(const float* src, int64_t P, const int64_t* off, int64_t c0, int64_t c1,
                            int64_t p0, int64_t p1, float* dst) {
  for (int64_t p = p0; p < p1; ++p)
    for (int64_t c = c0; c < c1; ++c) dst[off[p] + c] = src[c * P + p];
}

// dst[c P + p] = src[off[p] + c] (+ bias[c]) (+ residual[c P + p]) for channels [c0, c1) and pixels
// [p0, p1): the order of conv2d's separate bias and residual adds (add_bias_residual, tensor/conv.h).
void pixels_to_planes_plain(const float* src, const int64_t* off, int64_t P, int64_t c0, int64_t c1,
                            int64_t p0, int64_t p1, float* dst, const float* bias, const float* residual) {
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t p = p0; p < p1; ++p) {
      float v = src[off[p] + c];
      if (bias) v += bias[c];
      if (residual) v += residual[c * P + p];
      dst[c * P + p] = v;
    }
}

#if LORADIFF_SIMD_DISPATCH
[[gnu::target("avx2")]] void planes_to_pixels_avx2(const float* src, int64_t C, int64_t P, const int64_t* off,
                                                   float* dst) {
  const int64_t C8 = C / 8 * 8;
  int64_t p0 = 0;
  for (; p0 + 8 <= P; p0 += 8)
    for (int64_t c0 = 0; c0 < C8; c0 += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (c0 + i) * P + p0);
      transpose8(r);
      for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + off[p0 + j] + c0, r[j]);
    }
  planes_to_pixels_plain(src, P, off, 0, C8, p0, P, dst);  // the last pixels (P % 8)
  planes_to_pixels_plain(src, P, off, C8, C, 0, P, dst);   // the last channels (C % 8)
}

[[gnu::target("avx2")]] void pixels_to_planes_avx2(const float* src, const int64_t* off, int64_t C, int64_t P,
                                                   float* dst, const float* bias, const float* residual) {
  const int64_t C8 = C / 8 * 8;
  int64_t p0 = 0;
  for (; p0 + 8 <= P; p0 += 8)
    for (int64_t c0 = 0; c0 < C8; c0 += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + off[p0 + i] + c0);
      transpose8(r);
      for (int j = 0; j < 8; ++j) {
        const int64_t at = (c0 + j) * P + p0;
        if (bias) r[j] = _mm256_add_ps(r[j], _mm256_set1_ps(bias[c0 + j]));
        if (residual) r[j] = _mm256_add_ps(r[j], _mm256_loadu_ps(residual + at));
        _mm256_storeu_ps(dst + at, r[j]);
      }
    }
  pixels_to_planes_plain(src, off, P, 0, C8, p0, P, dst, bias, residual);  // the last pixels (P % 8)
  pixels_to_planes_plain(src, off, P, C8, C, 0, P, dst, bias, residual);   // the last channels (C % 8)
}
#endif

void planes_to_pixels(const float* src, int64_t C, int64_t P, const int64_t* off, float* dst) {
#if LORADIFF_SIMD_DISPATCH
  if (simd_level() != SimdLevel::Baseline) return planes_to_pixels_avx2(src, C, P, off, dst);
#endif
  planes_to_pixels_plain(src, P, off, 0, C, 0, P, dst);
}

void pixels_to_planes(const float* src, const int64_t* off, int64_t C, int64_t P, float* dst,
                      const float* bias, const float* residual) {
#if LORADIFF_SIMD_DISPATCH
  if (simd_level() != SimdLevel::Baseline) return pixels_to_planes_avx2(src, off, C, P, dst, bias, residual);
#endif
  pixels_to_planes_plain(src, off, P, 0, C, 0, P, dst, bias, residual);
}

// A float buffer whose first element is 64-byte aligned (a cache line, an AVX-512 vector), zero-filled
// or left as it comes.
struct AlignedFloats {
  std::unique_ptr<float[]> block;
  float* p;
  AlignedFloats(int64_t n, bool zeroed)
      : block(zeroed ? new float[static_cast<size_t>(n + 16)]() : new float[static_cast<size_t>(n + 16)]) {
    p = block.get() + (16 - (reinterpret_cast<uintptr_t>(block.get()) / sizeof(float)) % 16) % 16;
  }
};

// One thread's buffers for chunks of up to `chunk` samples: the padded plane (Hp, Wp, C) and the
// output grid (m th, m tw, Cout), zero-filled once (the transposes write only the plane's interior
// and the grid's H x W corner, so the borders stay zero: the input's padding and, in the weight
// gradient, the output gradient beyond H x W); V (nxi matrices T x C) and the products M, or dM
// (nxi matrices T x Cout), each fully written before it is read.
// With an input map (while sampling: GroupNorm + SiLU, or an upsampling), `mapped` holds one sample's
// mapped planes (C, H, W) on their way from x to pad.
struct ChunkScratch {
  AlignedFloats pad, grid, v, m, mapped;
  std::vector<int64_t> pad_off, grid_off;  // where each pixel of a plane goes in pad and in grid
  ChunkScratch(const Tiling& t, const Variant& var, int64_t C, int64_t Cout, int64_t chunk, bool input_map)
      : pad(t.Hp * t.Wp * C, true),
        grid(t.grid_h() * t.grid_w() * Cout, true),
        v(var.nxi * xi_stride(C, chunk * t.tiles()), false),
        m(var.nxi * xi_stride(Cout, chunk * t.tiles()), false),
        mapped(input_map ? C * t.H * t.W : 0, false) {
    pixel_offsets(t.H, t.W, t.Wp + 1, t.Wp, C, pad_off);
    pixel_offsets(t.H, t.W, 0, t.grid_w(), Cout, grid_off);
  }
};

// Fills s.v (nxi, T, C) with the transformed tiles of samples [n0, n1) of x; T = (n1 - n0) tiles().
// With an input map, each sample's planes are first mapped into s.mapped (upsampled, or
// silu(x scale + shift)), which stays in cache on its way to pad.
void transform_inputs(const float* x, int64_t n0, int64_t n1, int64_t C, const Tiling& t, const Variant& var,
                      ChunkScratch& s, const InputMap& in) {
  const int64_t T = (n1 - n0) * t.tiles(), P = t.H * t.W;
  for (int64_t n = n0; n < n1; ++n) {
    const float* planes = x + n * C * P;
    if (in.upsample2x) {  // x holds planes of P / 4 pixels
      upsample_nearest2x_planes(x + n * C * (P / 4), C, t.H / 2, t.W / 2, s.mapped.p);  // tensor/index.h
      planes = s.mapped.p;
    } else if (in.scale) {
      affine_silu_planes(planes, C, P, in.scale + n * C, in.shift + n * C, s.mapped.p);  // tensor/norm.h
      planes = s.mapped.p;
    }
    planes_to_pixels(planes, C, P, s.pad_off.data(), s.pad.p);
    var.input(s.pad.p, t, C, s.v.p + (n - n0) * t.tiles() * C, xi_stride(C, T));
  }
}

int as_int(int64_t v) { return static_cast<int>(v); }

// Whether the forward's GEMMs M[xi] (T, Cout) = V[xi] (T, C) @ U[xi] (C, Cout) run in loradiff's
// kernel (thin_gemm_serial: A read where it lies, B = U[xi] in L2, no packing) rather than
// OpenBLAS: on AVX-512 CPUs (thin_gemm_isa), with C >= 64. Measured (`loradiff bench winograd`, 3
// alternated runs, 2026-11-30 20:50 UTC): forward 0.85-0.95x OpenBLAS's time with C >= 64 (0.92x
// over all shapes), but 1.04-1.19x with C = 32 (a short sum: OpenBLAS's small-matrix kernel does
// better). The weight gradient's V^T dM reads V across its rows, which this kernel does by strided
// broadcasts: 1.02-1.10x, so it stays on OpenBLAS.
bool forward_in_thin_gemm(int64_t C) { return thin_gemm_isa()[0] != '\0' && C >= 64; }

// Loradiff's kernel reads U[xi] (C, Cout) in panels of kThinPanel = 64 columns (tensor/thin_gemm.h).
// With Cout = 128 a panel's rows lie 512 bytes apart, so a panel uses only half of L1's sets and falls out
// of L1 between the kernel's blocks of 6 rows: each block read it again from L2 (the 7x7
// convolutions' products ran at 80 GFLOP/s a core). Stored panel by panel instead (C rows of at most
// 64 columns, one after another), a panel is one run of memory that stays in L1 while every block of
// rows passes over it; the kernel is called once per panel and sums every element in the same order,
// so the bits do not change. Element (xi, c, o) of U, o in the panel starting at column j0 of width
// wp, lies at xi C Cout + C j0 + c wp + (o - j0).
std::shared_ptr<const std::vector<float>> transformed_weights(const float* w, int64_t C, int64_t Cout,
                                                              const Variant& var, bool panels) {
  auto u = std::make_shared<std::vector<float>>(static_cast<size_t>(var.nxi * C * Cout));
  var.weight(w, Cout, C, u->data());
  if (!panels || Cout <= kThinPanel) return u;  // one panel: the layouts are the same
  auto p = std::make_shared<std::vector<float>>(u->size());
  for (int64_t xi = 0; xi < var.nxi; ++xi)
    for (int64_t j0 = 0; j0 < Cout; j0 += kThinPanel) {
      const int64_t wp = std::min(kThinPanel, Cout - j0);
      for (int64_t c = 0; c < C; ++c) {
        const float* src = u->data() + (xi * C + c) * Cout + j0;
        std::copy(src, src + wp, p->data() + xi * C * Cout + C * j0 + c * wp);
      }
    }
  return p;
}

// The transformed weights U of the convolutions whose weights stay the same from call to call:
// sampling runs every 3x3 convolution of the UNet once per step with the same w, and transforming
// w (one thread, before the parallel loop, the other threads waiting) was 1 % of a DDIM step's CPU
// time. Each entry keeps a copy of the w it was made from, and is used only when w's address,
// shape, variant, layout and every value agree: weights changed in place (an optimizer step, a LoRA
// merge) or freed and their memory reused by other weights are transformed afresh. At most
// kMaxEntries (a UNet has 18 such convolutions); beyond that the cache starts over. Memory: a copy of
// the weights and their U, (1 + alpha^2 / 9) times the weights (mnist-t2i: about 19 MB).
class WeightTransforms {
 public:
  std::shared_ptr<const std::vector<float>> get(const float* w, int64_t C, int64_t Cout, const Variant& var,
                                                bool panels) {
    const size_t n = static_cast<size_t>(C * Cout * 9);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(w);
    if (it != entries_.end() && it->second.C == C && it->second.Cout == Cout && it->second.m == var.m &&
        it->second.panels == panels && std::memcmp(it->second.w.data(), w, n * sizeof(float)) == 0)
      return it->second.u;
    if (entries_.size() >= kMaxEntries) entries_.clear();
    auto u = transformed_weights(w, C, Cout, var, panels);
    entries_[w] = Entry{std::vector<float>(w, w + n), u, C, Cout, var.m, panels};
    return u;
  }

 private:
  static constexpr size_t kMaxEntries = 64;
  struct Entry {
    std::vector<float> w;
    std::shared_ptr<const std::vector<float>> u;
    int64_t C, Cout, m;
    bool panels;
  };
  std::mutex mu_;
  std::unordered_map<const float*, Entry> entries_;
};

WeightTransforms& weight_transforms() {
  static WeightTransforms cache;
  return cache;
}

}  // namespace

int winograd_tile(int64_t H, int64_t W) { return H >= kWinograd44MinSide && W >= kWinograd44MinSide ? 4 : 2; }

void winograd_conv3x3(const float* x, const float* w, int64_t N, int64_t C, int64_t H, int64_t W,
                      int64_t Cout, float* y, int tile, const float* bias, const float* residual,
                      const InputMap& in, bool same_weights) {
  const Variant& var = variant(tile);
  const Tiling t(H, W, var.m);
  const bool thin = forward_in_thin_gemm(C);  // then U in panels (transformed_weights)
  const std::shared_ptr<const std::vector<float>> u = same_weights
                                                          ? weight_transforms().get(w, C, Cout, var, thin)
                                                          : transformed_weights(w, C, Cout, var, thin);
  const float* pu = u->data();
  const int64_t chunk = samples_per_chunk(N, C, t, var), nchunks = (N + chunk - 1) / chunk;
  const int nt = static_cast<int>(std::clamp<int64_t>(nchunks, 1, num_threads()));
#pragma omp parallel num_threads(nt)
  {
    ChunkScratch s(t, var, C, Cout, chunk, in.scale || in.upsample2x);
#pragma omp for schedule(dynamic)
    for (int64_t k = 0; k < nchunks; ++k) {
      const int64_t n0 = k * chunk, n1 = std::min(N, n0 + chunk), T = (n1 - n0) * t.tiles();
      const int64_t vs = xi_stride(C, T), ms = xi_stride(Cout, T);
      transform_inputs(x, n0, n1, C, t, var, s, in);
      for (int64_t xi = 0; xi < var.nxi; ++xi) {  // M[xi] (T, Cout) = V[xi] (T, C) @ U[xi] (C, Cout)
        if (!thin) {
          serial_product(false, s.v.p + xi * vs, C, false, pu + xi * C * Cout, Cout, s.m.p + xi * ms, Cout, T,
                         Cout, C, false);
          continue;
        }
        for (int64_t j0 = 0; j0 < Cout; j0 += kThinPanel) {  // U[xi] panel by panel: columns [j0, j0 + wp)
          const int64_t wp = std::min(kThinPanel, Cout - j0);
          thin_gemm_serial(s.v.p + xi * vs, C, false, pu + xi * C * Cout + C * j0, wp, s.m.p + xi * ms + j0,
                           Cout, T, wp, C, false);
        }
      }
      for (int64_t n = n0; n < n1; ++n) {
        var.output(s.m.p + (n - n0) * t.tiles() * Cout, ms, t, Cout, s.grid.p);
        pixels_to_planes(s.grid.p, s.grid_off.data(), Cout, H * W, y + n * Cout * H * W, bias,
                         residual ? residual + n * Cout * H * W : nullptr);
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
  const int64_t usize = var.nxi * C * Cout;
  // Each thread sums its chunks' dU into its own partial; the partials are added in
  // thread order afterwards, so the result does not depend on timing.
  std::vector<float> du_part(static_cast<size_t>(nt * usize), 0.0f);
#pragma omp parallel num_threads(nt)
  {
    float* du = du_part.data() + static_cast<size_t>(omp_get_thread_num()) * usize;
    ChunkScratch s(t, var, C, Cout, chunk, false);  // s.m holds dM here, s.grid the output gradient
#pragma omp for schedule(static)
    for (int64_t k = 0; k < nchunks; ++k) {
      const int64_t n0 = k * chunk, n1 = std::min(N, n0 + chunk), T = (n1 - n0) * t.tiles();
      const int64_t vs = xi_stride(C, T), ms = xi_stride(Cout, T);
      transform_inputs(x, n0, n1, C, t, var, s, InputMap());
      for (int64_t n = n0; n < n1; ++n) {
        planes_to_pixels(dy + n * Cout * H * W, Cout, H * W, s.grid_off.data(), s.grid.p);
        var.output_adjoint(s.grid.p, t, Cout, s.m.p + (n - n0) * t.tiles() * Cout, ms);
      }
      for (int64_t xi = 0; xi < var.nxi; ++xi)  // dU[xi] (C, Cout) += V[xi]^T (C, T) @ dM[xi] (T, Cout)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, as_int(C), as_int(Cout), as_int(T), 1.0f,
                    s.v.p + xi * vs, as_int(C), s.m.p + xi * ms, as_int(Cout), 1.0f, du + xi * C * Cout,
                    as_int(Cout));
    }
  }
  for (int p = 1; p < nt; ++p)
    for (int64_t i = 0; i < usize; ++i)
      du_part[static_cast<size_t>(i)] += du_part[static_cast<size_t>(p * usize + i)];
  var.weight_adjoint(du_part.data(), Cout, C, dw);
}

}  // namespace ld
