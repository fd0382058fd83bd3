// tensor/conv.cpp: 2-D convolution forward and backward: im2col / col2im + GEMM, 1x1 convolutions
// as one GEMM per sample, and Winograd F(2x2, 3x3) where it applies (tensor/winograd.h). The forward
// adds the bias (and a residual, when given) to each output plane as it writes it.
#include "tensor/conv.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "tensor/elementwise.h"
#include "tensor/index.h"
#include "tensor/matmul.h"
#include "tensor/parallel.h"
#include "tensor/reference.h"
#include "tensor/simd_dispatch.h"
#include "tensor/thin_gemm.h"
#include "tensor/transpose.h"
#include "tensor/winograd.h"

namespace ld {

Conv2dGeometry conv2d_geometry(const Tensor& x, const Tensor& w, int64_t stride, int64_t pad) {
  check_dtype("conv2d", x, DType::F32, "input");
  check_dtype("conv2d", w, DType::F32, "weight");
  check_same_device("conv2d", x, w);
  if (x.device() != Device::CPU) fail("conv2d: no CUDA kernel in this build");
  if (x.dim() != 4) fail("conv2d: input ", shape_str(x.shape()), " must be (N, C, H, W)");
  if (w.dim() != 4) fail("conv2d: weight ", shape_str(w.shape()), " must be (Cout, Cin, kh, kw)");
  if (x.size(1) != w.size(1))
    fail("conv2d: input ", shape_str(x.shape()), " has ", x.size(1), " channels but weight ",
         shape_str(w.shape()), " expects ", w.size(1));
  if (stride < 1 || pad < 0) fail("conv2d: stride ", stride, " must be >= 1 and padding ", pad, " >= 0");
  Conv2dGeometry g{x.size(0), x.size(1), x.size(2), x.size(3), w.size(2), w.size(3), stride, pad, 0, 0};
  g.Ho = (g.H + 2 * pad - g.kh) / stride + 1;
  g.Wo = (g.W + 2 * pad - g.kw) / stride + 1;
  if (g.H + 2 * pad < g.kh || g.W + 2 * pad < g.kw || g.Ho <= 0 || g.Wo <= 0)
    fail("conv2d: kernel ", g.kh, "x", g.kw, " larger than padded input ", shape_str(x.shape()));
  return g;
}

namespace {

Conv2dGeometry geometry_of(const Shape& xs, int64_t kh, int64_t kw, int64_t stride, int64_t pad) {
  Conv2dGeometry g{xs[0], xs[1], xs[2], xs[3], kh, kw, stride, pad, 0, 0};
  g.Ho = (g.H + 2 * pad - kh) / stride + 1;
  g.Wo = (g.W + 2 * pad - kw) / stride + 1;
  return g;
}

// The output columns [lo, hi) whose input column ow stride - pad + j lies inside the row (0 <= it < W);
// the others read padding. (A negative numerator truncates to a value <= 0, clamped to 0 like the
// ceiling it stands for.)
struct ColumnRange {
  int64_t lo, hi;
};
ColumnRange inside_columns(const Conv2dGeometry& g, int64_t j) {
  const int64_t lo = std::clamp<int64_t>((g.pad - j + g.stride - 1) / g.stride, 0, g.Wo);
  return {lo, std::clamp<int64_t>((g.W + g.pad - j + g.stride - 1) / g.stride, lo, g.Wo)};
}

// im2col of one sample x (C, H, W) into col (K rows, ld cols) for a stride s > 1. The padded planes
// are first split into s x s phases, phase (p, q) holding the pixels (s a + p, s b + q):
//   phases (C, s, s, PH, PW),  PH = ceil(Hp / s), PW = ceil(Wp / s),  zero where the padding is.
// Then the input pixel (s oh + i, s ow + j) of row (c, i, j) is phase (i % s, j % s)'s pixel
// (oh + i / s, ow + j / s): every row of col is Ho runs of Wo consecutive floats, copied whole (the
// element-by-element loop over every s-th float, with its padding checks, was half the time of a
// stride-2 convolution). The same floats as the loop gives.
void im2col_strided_sample(const float* x, const Conv2dGeometry& g, float* col, int64_t ld,
                           std::vector<float>& phases) {
  const int64_t s = g.stride, Hp = g.H + 2 * g.pad, Wp = g.W + 2 * g.pad;
  const int64_t PH = (Hp + s - 1) / s, PW = (Wp + s - 1) / s, plane = PH * PW;
  phases.assign(static_cast<size_t>(g.C * s * s * plane), 0.0f);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t h = 0; h < g.H; ++h) {
      const int64_t hp = h + g.pad;
      const float* xr = x + (c * g.H + h) * g.W;
      for (int64_t q = 0; q < s; ++q) {  // the columns w with (w + pad) % s == q, into phase (hp % s, q)
        float* dst = phases.data() + ((c * s + hp % s) * s + q) * plane + (hp / s) * PW;
        const int64_t w0 = ((q - g.pad) % s + s) % s;
        float* d = dst + (w0 + g.pad) / s;  // then one phase column per s input columns
        for (int64_t w = w0; w < g.W; w += s) *d++ = xr[w];
      }
    }
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const float* src = phases.data() + ((c * s + i % s) * s + j % s) * plane + (i / s) * PW + j / s;
        float* row = col + ((c * g.kh + i) * g.kw + j) * ld;
        for (int64_t oh = 0; oh < g.Ho; ++oh)  // runs of Wo (7-14) floats: a loop, not a memmove call each
          for (int64_t ow = 0; ow < g.Wo; ++ow) row[oh * g.Wo + ow] = src[oh * PW + ow];
      }
}

// im2col of samples [n0, n1) of contiguous x into col (K, (n1-n0)*P).
void im2col_chunk(const float* x, const Conv2dGeometry& g, int64_t n0, int64_t n1, float* col) {
  const int64_t P = g.Ho * g.Wo, cols = (n1 - n0) * P, K = g.C * g.kh * g.kw;
  if (g.stride > 1) {
#pragma omp parallel if (K * cols >= kParallelGrain && !omp_in_parallel() && n1 - n0 > 1) \
    num_threads(num_threads())
    {
      std::vector<float> phases;
#pragma omp for schedule(static)
      for (int64_t n = n0; n < n1; ++n)
        im2col_strided_sample(x + n * g.C * g.H * g.W, g, col + (n - n0) * P, cols, phases);
    }
    return;
  }
#pragma omp parallel for collapse(2) schedule(static) if (K * cols >= kParallelGrain && !omp_in_parallel()) \
    num_threads(num_threads())
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const int64_t c = k / (g.kh * g.kw), i = (k / g.kw) % g.kh, j = k % g.kw;
      const float* xc = x + (n * g.C + c) * g.H * g.W;
      float* out = col + k * cols + (n - n0) * P;
      const ColumnRange r = inside_columns(g, j);
      for (int64_t oh = 0; oh < g.Ho; ++oh) {
        const int64_t h = oh * g.stride - g.pad + i;
        float* row = out + oh * g.Wo;
        if (h < 0 || h >= g.H) {  // a padding row
          std::fill(row, row + g.Wo, 0.0f);
          continue;
        }
        const float* xr = xc + h * g.W;
        std::fill(row, row + r.lo, 0.0f);
        if (g.stride == 1 && r.hi > r.lo)  // one contiguous run of the input row
          std::memcpy(row + r.lo, xr + r.lo - g.pad + j, static_cast<size_t>(r.hi - r.lo) * sizeof(float));
        else
          for (int64_t ow = r.lo; ow < r.hi; ++ow) row[ow] = xr[ow * g.stride - g.pad + j];
        std::fill(row + r.hi, row + g.Wo, 0.0f);
      }
    }
}

// col2im of a chunk: dx[n, c] += scattered columns. Each (n, c) plane is written by
// one thread only (its kh*kw rows of col), so there are no races.
void col2im_chunk(const float* col, const Conv2dGeometry& g, int64_t n0, int64_t n1, float* dx) {
  const int64_t P = g.Ho * g.Wo, cols = (n1 - n0) * P;
#pragma omp parallel for collapse(2) schedule(static) if (g.C * g.kh * g.kw * cols >= kParallelGrain && \
                                                          !omp_in_parallel()) num_threads(num_threads())
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t c = 0; c < g.C; ++c) {
      float* xc = dx + (n * g.C + c) * g.H * g.W;
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const float* in = col + ((c * g.kh + i) * g.kw + j) * cols + (n - n0) * P;
          const ColumnRange r = inside_columns(g, j);
          for (int64_t oh = 0; oh < g.Ho; ++oh) {
            const int64_t h = oh * g.stride - g.pad + i;
            if (h < 0 || h >= g.H) continue;
            float* xr = xc + h * g.W;
            const float* row = in + oh * g.Wo;
            // the columns ow in [lo, hi) land inside the row, at ow stride - pad + j (stride 1: a plain
            // vector add)
            for (int64_t ow = r.lo; ow < r.hi; ++ow) xr[ow * g.stride - g.pad + j] += row[ow];
          }
        }
    }
}

// Samples per chunk so that one im2col buffer stays near 2 MB (512K floats): the
// columns are then still in cache when the GEMM reads them. Measured on the
// mnist-t2i training step (bench train): 2.3-2.4 s with 2 MB chunks against 2.8 s
// with 64 MB ones, and 100 MB less peak memory.
// At most ceil(N / threads) samples, so that every thread gets a chunk (a 1-channel input fits the
// whole batch into 2 MB, and one thread did all of conv_in).
int64_t chunk_size(const Conv2dGeometry& g) {
  const int64_t per_sample = g.C * g.kh * g.kw * g.Ho * g.Wo;
  const int64_t fit = (int64_t{1} << 19) / std::max<int64_t>(per_sample, 1);
  const int64_t share = (g.N + num_threads() - 1) / num_threads();
  return std::clamp<int64_t>(std::min(fit, share), 1, std::max<int64_t>(g.N, 1));  // N = 0: an empty batch
}

// dw (n floats) += the nt per-thread partial sums in part (nt x n), in thread order: the same bits on
// every run at a given thread count.
void add_partials(const std::vector<float>& part, int nt, int64_t n, float* dw) {
  for (int t = 0; t < nt; ++t)
    for (int64_t i = 0; i < n; ++i) dw[i] += part[static_cast<size_t>(t) * n + i];
}

bool is_pointwise(const Conv2dGeometry& g) { return g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0; }

// A UNet's first and last convolutions have one image channel on one side (1 -> 32, 32 -> 1): as
// im2col + GEMM, a product with 1 row (or a 9-term sum) that runs near memory speed, not at the
// GEMM's: conv_in and out_conv took 2.9 and 7.4 ms at batch 128 (20 and 8 GFLOP/s). Summed
// directly, each output plane is built in cache from its sample's input planes.
bool is_direct(const Conv2dGeometry& g, int64_t Cout) {
  return g.stride == 1 && std::min(g.C, Cout) <= kDirectMaxChannels;
}

// One sample, stride 1: its C planes zero-padded into xp (C, Hp, Wp), then for each output plane o
//   acc[oh Wp + ow] = sum over c, i, j (in that order) of w[o, c, i, j] xp[c, oh + i, ow + j]
// with acc as wide as a padded row (Wp): each term is one loop over Ho Wp consecutive floats (the
// columns ow >= Wo are computed and dropped), then the Wo valid columns of each row go to y[o],
// + bias, + residual.
void direct_sample(const float* x, const float* w, const Conv2dGeometry& g, int64_t Cout, const float* bias,
                   const float* residual, float* xp, float* acc, float* y) {
  const int64_t Hp = g.H + 2 * g.pad, Wp = g.W + 2 * g.pad, L = (g.Ho - 1) * Wp + g.Wo, P = g.Ho * g.Wo;
  std::fill(xp, xp + g.C * Hp * Wp, 0.0f);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t h = 0; h < g.H; ++h)
      std::copy(x + (c * g.H + h) * g.W, x + (c * g.H + h + 1) * g.W, xp + (c * Hp + h + g.pad) * Wp + g.pad);
  for (int64_t o = 0; o < Cout; ++o) {
    simd_dispatch_compute([&] {
      std::fill(acc, acc + L, 0.0f);
      for (int64_t c = 0; c < g.C; ++c)
        for (int64_t i = 0; i < g.kh; ++i)
          for (int64_t j = 0; j < g.kw; ++j) {
            const float wt = w[((o * g.C + c) * g.kh + i) * g.kw + j];
            const float* xs = xp + (c * Hp + i) * Wp + j;
#pragma omp simd
            for (int64_t q = 0; q < L; ++q) acc[q] += wt * xs[q];
          }
    });
    float* yo = y + o * P;
    for (int64_t oh = 0; oh < g.Ho; ++oh) std::copy(acc + oh * Wp, acc + oh * Wp + g.Wo, yo + oh * g.Wo);
    add_bias_residual(yo, bias ? bias + o : nullptr, residual ? residual + o * P : nullptr, 1, P);
  }
}
}  // namespace

void add_bias_residual(float* y, const float* bias, const float* residual, int64_t planes, int64_t P) {
  if (bias)
    for (int64_t o = 0; o < planes; ++o)
      for (int64_t p = 0; p < P; ++p) y[o * P + p] += bias[o];
  if (residual)
    for (int64_t i = 0; i < planes * P; ++i) y[i] += residual[i];
}

Tensor im2col(const Tensor& x_in, int64_t kh, int64_t kw, int64_t stride, int64_t pad) {
  check_dtype("im2col", x_in, DType::F32);
  if (x_in.dim() != 4) fail("im2col: input ", shape_str(x_in.shape()), " must be (N, C, H, W)");
  Conv2dGeometry g = geometry_of(x_in.shape(), kh, kw, stride, pad);
  if (g.Ho <= 0 || g.Wo <= 0 || stride < 1 || pad < 0)
    fail("im2col: bad kernel/stride/padding for ", shape_str(x_in.shape()));
  Tensor x = x_in.contiguous();
  Tensor col = Tensor::empty({g.C * kh * kw, g.N * g.Ho * g.Wo});
  im2col_chunk(x.f32(), g, 0, g.N, col.f32());
  return col;
}

Tensor col2im(const Tensor& col_in, const Shape& x_shape, int64_t kh, int64_t kw, int64_t stride,
              int64_t pad) {
  check_dtype("col2im", col_in, DType::F32);
  if (x_shape.size() != 4) fail("col2im: image shape ", shape_str(x_shape), " must be (N, C, H, W)");
  Conv2dGeometry g = geometry_of(x_shape, kh, kw, stride, pad);
  if (col_in.shape() != Shape{g.C * kh * kw, g.N * g.Ho * g.Wo})
    fail("col2im: columns ", shape_str(col_in.shape()), " do not match image ", shape_str(x_shape));
  Tensor col = col_in.contiguous();
  Tensor dx = Tensor::zeros(x_shape);
  col2im_chunk(col.f32(), g, 0, g.N, dx.f32());
  return dx;
}

namespace {

void check_bias_residual(const Conv2dGeometry& g, int64_t Cout, const Tensor& bias, const Tensor& residual) {
  if (bias.defined() && bias.shape() != Shape{Cout})
    fail("conv2d: bias ", shape_str(bias.shape()), " must be (", Cout, ")");
  if (residual.defined() && residual.shape() != Shape{g.N, Cout, g.Ho, g.Wo})
    fail("conv2d: residual ", shape_str(residual.shape()), " must be (", g.N, ", ", Cout, ", ", g.Ho, ", ",
         g.Wo, ")");
}

// Winograd's path with an input map (tensor/winograd.h): x the data the map reads, g the geometry
// of the mapped input (the convolution's own). Only sampling runs these (the ops that record no
// backward), with the same weights at every step: their transform is kept between calls.
Tensor winograd_mapped(const Tensor& x_in, const Conv2dGeometry& g, const Tensor& w_in, const Tensor& bias,
                       const Tensor& residual, const InputMap& in) {
  const int64_t Cout = w_in.size(0);
  check_bias_residual(g, Cout, bias, residual);
  const Tensor x = x_in.contiguous(), w = w_in.contiguous();
  const Tensor bias_c = bias.defined() ? bias.contiguous() : Tensor();
  const Tensor res_c = residual.defined() ? residual.contiguous() : Tensor();
  Tensor y = Tensor::empty({g.N, Cout, g.Ho, g.Wo});
  winograd_conv3x3(x.f32(), w.f32(), g.N, g.C, g.H, g.W, Cout, y.f32(), winograd_tile(g.H, g.W),
                   bias.defined() ? bias_c.f32() : nullptr, residual.defined() ? res_c.f32() : nullptr, in,
                   /*same_weights=*/true);
  return y;
}

}  // namespace

Tensor conv2d_forward(const Tensor& x_in, const Tensor& w_in, const Tensor& bias, int64_t stride, int64_t pad,
                      const Tensor& residual) {
  Conv2dGeometry g = conv2d_geometry(x_in, w_in, stride, pad);
  const int64_t Cout = w_in.size(0), K = g.C * g.kh * g.kw, P = g.Ho * g.Wo;
  check_bias_residual(g, Cout, bias, residual);
  if (use_reference_kernels()) {
    Tensor y = conv2d_reference_forward(x_in, w_in, bias, stride, pad);
    if (residual.defined()) axpy_(y, 1.0f, residual);
    return y;
  }
  Tensor x = x_in.contiguous();
  Tensor w = w_in.contiguous().view({Cout, K});
  Tensor y = Tensor::empty({g.N, Cout, g.Ho, g.Wo});
  const Tensor bias_c = bias.defined() ? bias.contiguous() : Tensor();
  const float* pb = bias.defined() ? bias_c.f32() : nullptr;
  const Tensor res_c = residual.defined() ? residual.contiguous() : Tensor();
  const float* pr = residual.defined() ? res_c.f32() : nullptr;
  // every path adds the bias and the residual as it writes each output plane, while it is in cache
  if (is_pointwise(g)) {
    // 1x1 conv: Y[n] = W @ X[n] (+ bias, + residual, added while Y[n] is in cache), one GEMM per sample, the
    // samples spread over the threads; no im2col.
    // With fewer samples than threads, each sample's GEMM is split over the threads instead (gemm).
    const float *px = x.f32(), *pw = w.f32();
    float* py = y.f32();
    if (g.N < num_threads()) {
      for (int64_t n = 0; n < g.N; ++n) {
        Tensor yn = y.select(0, n).view({Cout, P});
        gemm(w, x.select(0, n).view({K, P}), yn);
        add_bias_residual(yn.f32(), pb, pr ? pr + n * Cout * P : nullptr, Cout, P);
      }
      return y;
    }
#pragma omp parallel for schedule(dynamic) if (g.N > 1 && Cout * K * P * g.N >= (int64_t{1} << 20)) \
    num_threads(num_threads())
    for (int64_t n = 0; n < g.N; ++n) {
      float* yn = py + n * Cout * P;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(Cout), static_cast<int>(P),
                  static_cast<int>(K), 1.0f, pw, static_cast<int>(K), px + n * K * P, static_cast<int>(P),
                  0.0f, yn, static_cast<int>(P));
      add_bias_residual(yn, pb, pr ? pr + n * Cout * P : nullptr, Cout, P);
    }
  } else if (winograd_applies(g.C, Cout, g.kh, g.kw, stride, pad)) {
    winograd_conv3x3(x.f32(), w.f32(), g.N, g.C, g.H, g.W, Cout, y.f32(), winograd_tile(g.H, g.W), pb,
                     pr);  // tensor/winograd.h
  } else if (is_direct(g, Cout)) {
    // one or few channels on a side: each sample's output planes summed directly (is_direct)
    const float *px = x.f32(), *pw = w.f32();
    float* py = y.f32();
    const int64_t Hp = g.H + 2 * pad, Wp = g.W + 2 * pad;
#pragma omp parallel if (g.N > 1 && g.N * Cout * K * P >= (int64_t{1} << 18)) num_threads(num_threads())
    {
      std::vector<float> xp(static_cast<size_t>(g.C * Hp * Wp)), acc(static_cast<size_t>(g.Ho * Wp));
#pragma omp for schedule(dynamic)
      for (int64_t n = 0; n < g.N; ++n)
        direct_sample(px + n * g.C * g.H * g.W, pw, g, Cout, pb, pr ? pr + n * Cout * P : nullptr, xp.data(),
                      acc.data(), py + n * Cout * P);
    }
  } else {
    // Chunks of samples are spread over the threads, one parallel region for the
    // whole convolution: each thread fills its own im2col buffer (about 2 MB, so it
    // stays in that core's cache) and runs a single-threaded GEMM on it.
    const int64_t chunk = chunk_size(g), nchunks = (g.N + chunk - 1) / chunk;
    const int nt = static_cast<int>(std::clamp<int64_t>(nchunks, 1, num_threads()));
    const float* px = x.f32();
    const float* pw = w.f32();
    float* py = y.f32();
    // Where loradiff's kernel runs (AVX-512 CPUs), the product is taken the other way round,
    //   out^T (cols, Cout) = col^T (cols, K) @ W^T (K, Cout),
    // a tall, thin product: col read where it lies (for each k, a row of col gives the next
    // consecutive columns: one cache line per k), W^T small enough to stay in L2, no packing; each
    // sample's (P, Cout) block is then transposed into its planes. OpenBLAS, given W (Cout x K) @ col,
    // packs all of col for a product with only Cout rows: a UNet's stride-2 downsampling convolutions
    // (32 and 64 channels) ran at 30-50 GFLOP/s.
    const bool thin = thin_gemm_isa()[0] != '\0';
    const Tensor wt = thin ? w.transpose(0, 1).contiguous() : Tensor();  // W^T (K, Cout)
#pragma omp parallel num_threads(nt)
    {
      // scratch buffers, fully overwritten before use: left uninitialised (no memset)
      std::unique_ptr<float[]> col(new float[static_cast<size_t>(K * chunk * P)]),
          out(new float[static_cast<size_t>(Cout * chunk * P)]);
#pragma omp for schedule(dynamic)
      for (int64_t c = 0; c < nchunks; ++c) {
        const int64_t n0 = c * chunk, n1 = std::min(g.N, n0 + chunk), cols = (n1 - n0) * P;
        im2col_chunk(px, g, n0, n1, col.get());
        if (thin) {
          thin_gemm_serial(col.get(), cols, true, wt.f32(), Cout, out.get(), Cout, cols, Cout, K, false);
          for (int64_t n = n0; n < n1; ++n) {  // (P, Cout) -> y[n] (Cout, P) (+ bias, + residual)
            float* yn = py + n * Cout * P;
            transpose_block(out.get() + (n - n0) * P * Cout, Cout, P, Cout, yn, P);
            add_bias_residual(yn, pb, pr ? pr + n * Cout * P : nullptr, Cout, P);
          }
          continue;
        }
        // out (Cout, cols) = W (Cout, K) @ col (K, cols)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(Cout), static_cast<int>(cols),
                    static_cast<int>(K), 1.0f, pw, static_cast<int>(K), col.get(), static_cast<int>(cols),
                    0.0f, out.get(), static_cast<int>(cols));
        for (int64_t n = n0; n < n1; ++n)  // (Cout, n*P) -> y[n, Cout, P] (+ bias, + residual)
          for (int64_t o = 0; o < Cout; ++o) {
            const float* src = out.get() + o * cols + (n - n0) * P;
            float* dst = py + (n * Cout + o) * P;
            std::copy(src, src + P, dst);
            add_bias_residual(dst, pb ? pb + o : nullptr, pr ? pr + (n * Cout + o) * P : nullptr, 1, P);
          }
      }
    }
  }
  return y;
}

Tensor conv2d_forward_upsampled_in(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
                                   int64_t pad, const Tensor& residual) {
  conv2d_geometry(x, w, stride, pad);  // x and w checked as conv2d checks them
  // the convolution's own geometry: that of the upsampled input
  const Conv2dGeometry g =
      geometry_of({x.size(0), x.size(1), 2 * x.size(2), 2 * x.size(3)}, w.size(2), w.size(3), stride, pad);
  if (!use_reference_kernels() && winograd_applies(g.C, w.size(0), g.kh, g.kw, stride, pad))
    return winograd_mapped(x, g, w, bias, residual, InputMap{nullptr, nullptr, true});
  return conv2d_forward(upsample_nearest2x(x), w, bias, stride, pad, residual);
}

Tensor conv2d_forward_silu_in(const Tensor& x_in, const ChannelAffine& in, const Tensor& w,
                              const Tensor& bias, int64_t stride, int64_t pad, const Tensor& residual) {
  const Conv2dGeometry g = conv2d_geometry(x_in, w, stride, pad);
  for (const Tensor* t : {&in.scale, &in.shift}) {
    check_dtype("conv2d (input map)", *t, DType::F32);
    if (t->shape() != Shape{g.N, g.C})
      fail("conv2d: input map ", shape_str(t->shape()), " must be (", g.N, ", ", g.C,
           "), one per sample and channel");
  }
  const ChannelAffine a{in.scale.contiguous(), in.shift.contiguous()};
  if (!use_reference_kernels() && winograd_applies(g.C, w.size(0), g.kh, g.kw, stride, pad))
    return winograd_mapped(x_in, g, w, bias, residual, InputMap{a.scale.f32(), a.shift.f32(), false});
  // elsewhere the mapped input as a tensor of its own, then the convolution
  const Tensor x = x_in.contiguous();
  Tensor z = Tensor::empty(x.shape());
  const int64_t P = g.H * g.W;
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelGrain) num_threads(num_threads())
  for (int64_t n = 0; n < g.N; ++n)
    affine_silu_planes(x.f32() + n * g.C * P, g.C, P, a.scale.f32() + n * g.C, a.shift.f32() + n * g.C,
                       z.f32() + n * g.C * P);
  return conv2d_forward(z, w, bias, stride, pad, residual);
}

Conv2dGrads conv2d_backward(const Tensor& x_in, const Tensor& w_in, const Tensor& dy_in, int64_t stride,
                            int64_t pad, bool need_dx, bool need_dw, bool need_dbias) {
  if (use_reference_kernels())
    return conv2d_reference_backward(x_in, w_in, dy_in, stride, pad, need_dx, need_dw, need_dbias);
  Conv2dGeometry g = conv2d_geometry(x_in, w_in, stride, pad);
  const int64_t Cout = w_in.size(0), K = g.C * g.kh * g.kw, P = g.Ho * g.Wo;
  if (dy_in.shape() != Shape{g.N, Cout, g.Ho, g.Wo})
    fail("conv2d backward: gradient ", shape_str(dy_in.shape()), " does not match output (", g.N, ",", Cout,
         ",", g.Ho, ",", g.Wo, ")");
  Tensor x = x_in.contiguous(), dy = dy_in.contiguous();
  Tensor w = w_in.contiguous().view({Cout, K});
  Conv2dGrads r;
  if (need_dbias) {
    // db[o] = sum over n of (sum of plane (n, o)): threads take whole output channels, each summed
    // over n in order, so the bits do not depend on the thread count.
    r.dbias = Tensor::zeros({Cout});
    float* db = r.dbias.f32();
    const float* pdy = dy.f32();
#pragma omp parallel for schedule(static) if (dy.numel() >= kParallelGrain) num_threads(num_threads())
    for (int64_t o = 0; o < Cout; ++o)
      for (int64_t n = 0; n < g.N; ++n) {
        const float* row = pdy + (n * Cout + o) * P;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int64_t p = 0; p < P; ++p) s += row[p];
        db[o] += s;
      }
  }
  if (!need_dx && !need_dw) return r;
  if (winograd_applies(g.C, Cout, g.kh, g.kw, stride, pad)) {  // tensor/winograd.h
    if (need_dw) {
      r.dw = Tensor::empty(w_in.shape());
      winograd_conv3x3_dw(x.f32(), dy.f32(), g.N, g.C, g.H, g.W, Cout, r.dw.f32(), winograd_tile(g.H, g.W));
    }
    if (need_dx) {
      // dx = conv3x3(dy, w flipped in space with in/out channels swapped), padding 1
      Tensor wf = Tensor::empty({g.C, Cout, 3, 3});
      const float* pw = w.f32();
      float* pf = wf.f32();
      for (int64_t o = 0; o < Cout; ++o)
        for (int64_t c = 0; c < g.C; ++c)
          for (int64_t k = 0; k < 9; ++k) pf[(c * Cout + o) * 9 + k] = pw[(o * g.C + c) * 9 + 8 - k];
      r.dx = Tensor::empty(x.shape());
      winograd_conv3x3(dy.f32(), wf.f32(), g.N, Cout, g.H, g.W, g.C, r.dx.f32(), winograd_tile(g.H, g.W));
    }
    return r;
  }
  if (need_dw) r.dw = Tensor::zeros({Cout, K});
  if (need_dx) r.dx = Tensor::zeros(x.shape());
  if (is_pointwise(g)) {
    Tensor xv = x.view({g.N, g.C, P}), dyv = dy.view({g.N, Cout, P});
    if (need_dw) {
      // dW = sum_n dY[n] @ X[n]^T: each thread sums its samples' single-threaded GEMMs into its own
      // partial, added in thread order afterwards: one parallel region instead of one per sample (the
      // whole 1x1 backward 5-31 % faster at the mnist-t2i shapes). The bits do not depend on timing,
      // but they do on the thread count (docs/reliability.md).
      const int nt = static_cast<int>(std::clamp<int64_t>(g.N, 1, num_threads()));
      std::vector<float> part(static_cast<size_t>(nt * Cout * g.C), 0.0f);
      const float *px = x.f32(), *pdy = dy.f32();
#pragma omp parallel num_threads(nt)
      {
        float* mine = part.data() + static_cast<size_t>(omp_get_thread_num()) * Cout * g.C;
#pragma omp for schedule(static)
        for (int64_t n = 0; n < g.N; ++n)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(Cout), static_cast<int>(g.C),
                      static_cast<int>(P), 1.0f, pdy + n * Cout * P, static_cast<int>(P), px + n * g.C * P,
                      static_cast<int>(P), 1.0f, mine, static_cast<int>(g.C));
      }
      add_partials(part, nt, Cout * g.C, r.dw.f32());
    }
    if (need_dx) r.dx = matmul(w.transpose(0, 1), dyv).view(x.shape());  // dX[n] = W^T @ dY[n]
  } else {
    // As in the forward pass: threads take whole chunks. Each thread adds its chunks'
    // dW into its own partial sum; the partials are added in thread order afterwards,
    // so the result does not depend on timing (a resumed run stays bit-identical).
    const int64_t chunk = chunk_size(g), nchunks = (g.N + chunk - 1) / chunk;
    const int nt = static_cast<int>(std::clamp<int64_t>(nchunks, 1, num_threads()));
    std::vector<float> dw_part(need_dw ? static_cast<size_t>(nt * Cout * K) : 0, 0.0f);
    const float* px = x.f32();
    const float* pw = w.f32();
    const float* pdy = dy.f32();
    float* pdx = need_dx ? r.dx.f32() : nullptr;
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      std::unique_ptr<float[]> dyc(new float[static_cast<size_t>(Cout * chunk * P)]),
          col(new float[static_cast<size_t>(K * chunk * P)]);
#pragma omp for schedule(static)
      for (int64_t c = 0; c < nchunks; ++c) {
        const int64_t n0 = c * chunk, n1 = std::min(g.N, n0 + chunk), cols = (n1 - n0) * P;
        for (int64_t n = n0; n < n1; ++n)  // dY chunk as a (Cout, n*P) matrix
          for (int64_t o = 0; o < Cout; ++o)
            std::copy(pdy + (n * Cout + o) * P, pdy + (n * Cout + o + 1) * P,
                      dyc.get() + o * cols + (n - n0) * P);
        if (need_dw) {  // dW_t += dY_c col_c^T
          im2col_chunk(px, g, n0, n1, col.get());
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(Cout), static_cast<int>(K),
                      static_cast<int>(cols), 1.0f, dyc.get(), static_cast<int>(cols), col.get(),
                      static_cast<int>(cols), 1.0f, dw_part.data() + static_cast<size_t>(t) * Cout * K,
                      static_cast<int>(K));
        }
        if (need_dx) {  // dcol = W^T dY_c, then scatter back into this chunk's samples
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(K), static_cast<int>(cols),
                      static_cast<int>(Cout), 1.0f, pw, static_cast<int>(K), dyc.get(),
                      static_cast<int>(cols), 0.0f, col.get(), static_cast<int>(cols));
          col2im_chunk(col.get(), g, n0, n1, pdx);
        }
      }
    }
    if (need_dw) add_partials(dw_part, nt, Cout * K, r.dw.f32());
  }
  if (need_dw) r.dw = r.dw.view(w_in.shape());
  return r;
}

}  // namespace ld
