// tensor/norm.cpp: LayerNorm and GroupNorm kernels, forward (saving mean and 1/std) and backward.
#include "tensor/norm.h"

#include <omp.h>

#include <cmath>

#include "tensor/parallel.h"
#include "tensor/reference.h"
#include "tensor/simd_dispatch.h"
#include "tensor/vec_math.h"

namespace ld {

namespace {

void check_affine(const char* op, const Tensor& x, const Tensor& gamma, const Tensor& beta, int64_t C) {
  check_dtype(op, x, DType::F32, "x");
  check_dtype(op, gamma, DType::F32, "gamma");
  check_dtype(op, beta, DType::F32, "beta");
  if (x.device() != Device::CPU) fail(op, ": no CUDA kernel in this build");
  if (gamma.shape() != Shape{C} || beta.shape() != Shape{C})
    fail(op, ": input ", shape_str(x.shape()), " needs gamma and beta of shape (", C, "), got ",
         shape_str(gamma.shape()), " and ", shape_str(beta.shape()));
}

// GroupNorm as an affine map per channel: y = x scale + shift with scale = rstd gamma[c] and
// shift = beta[c] - mean scale ((mean, rstd) those of c's group in this sample).
[[gnu::always_inline]] inline void channel_affine(float mean, float rstd, float gamma, float beta,
                                                  float* scale, float* shift) {
  *scale = rstd * gamma;
  *shift = beta - mean * *scale;
}

// y = x scale + shift over n floats, then z = y s(y) when kSilu (as Unary::Silu computes it):
// GroupNorm's second pass over one channel of a group, and the same map run ahead of a convolution
// (affine_silu_planes). One formula, called in both under simd_dispatch_compute: the same bits.
template <bool kSilu>
[[gnu::always_inline]] inline void affine_row(const float* x, int64_t n, float scale, float shift, float* y) {
  for (int64_t k = 0; k < n; ++k) {
    const float v = x[k] * scale + shift;
    y[k] = kSilu ? v * (1.0f / (1.0f + exp_f32(-v))) : v;
  }
}

// Mean and rstd of n values, two-pass for accuracy.
inline void moments(const float* x, int64_t n, float eps, float* mean, float* rstd) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += x[i];
  const float mu = static_cast<float>(s / n);
  double v = 0.0;
#pragma omp simd reduction(+ : v)
  for (int64_t i = 0; i < n; ++i) v += (x[i] - mu) * (x[i] - mu);
  *mean = mu;
  *rstd = 1.0f / std::sqrt(static_cast<float>(v / n) + eps);
}

}  // namespace

NormResult layer_norm_forward(const Tensor& x_in, const Tensor& gamma, const Tensor& beta, float eps) {
  if (x_in.dim() < 1) fail("layer_norm: input must have at least one axis");
  const int64_t C = x_in.size(-1), rows = C ? x_in.numel() / C : 0;
  check_affine("layer_norm", x_in, gamma, beta, C);
  if (use_reference_kernels()) return layer_norm_reference_forward(x_in, gamma, beta, eps);
  Tensor x = x_in.contiguous(), g = gamma.contiguous(), b = beta.contiguous();
  NormResult r{Tensor::empty(x.shape()), Tensor::empty({rows}), Tensor::empty({rows})};
  const float *px = x.f32(), *pg = g.f32(), *pb = b.f32();
  float *py = r.y.f32(), *pm = r.mean.f32(), *pr = r.rstd.f32();
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelGrain) num_threads(num_threads())
  for (int64_t i = 0; i < rows; ++i) {
    simd_dispatch([&] {
      const float* xi = px + i * C;
      float* yi = py + i * C;
      moments(xi, C, eps, &pm[i], &pr[i]);
      for (int64_t c = 0; c < C; ++c) yi[c] = (xi[c] - pm[i]) * pr[i] * pg[c] + pb[c];
    });
  }
  return r;
}

NormGrads layer_norm_backward(const Tensor& x_in, const Tensor& gamma, const NormResult& saved,
                              const Tensor& dy_in) {
  const int64_t C = x_in.size(-1), rows = C ? x_in.numel() / C : 0;
  if (dy_in.shape() != x_in.shape())
    fail("layer_norm backward: gradient ", shape_str(dy_in.shape()), " vs input ", shape_str(x_in.shape()));
  if (use_reference_kernels()) return layer_norm_reference_backward(x_in, gamma, saved, dy_in);
  Tensor x = x_in.contiguous(), dy = dy_in.contiguous(), g = gamma.contiguous();
  NormGrads out{Tensor::empty(x.shape()), Tensor::zeros({C}), Tensor::zeros({C})};
  const float *px = x.f32(), *pdy = dy.f32(), *pg = g.f32(), *pm = saved.mean.f32(), *pr = saved.rstd.f32();
  float* pdx = out.dx.f32();
  const int nt = (x.numel() >= kParallelGrain) ? num_threads() : 1;
  // dgamma/dbeta: per-thread partial sums, added at the end (deterministic order).
  std::vector<float> part(static_cast<size_t>(nt) * 2 * C, 0.0f);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    float* dgp = part.data() + static_cast<size_t>(t) * 2 * C;
    float* dbp = dgp + C;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < rows; ++i) {
      simd_dispatch([&] {
        const float *xi = px + i * C, *dyi = pdy + i * C;
        float* dxi = pdx + i * C;
        const float mu = pm[i], rs = pr[i];
        float mean_dxhat = 0.0f, mean_dxhat_xhat = 0.0f;
#pragma omp simd reduction(+ : mean_dxhat, mean_dxhat_xhat)
        for (int64_t c = 0; c < C; ++c) {
          const float xhat = (xi[c] - mu) * rs, dxhat = dyi[c] * pg[c];
          mean_dxhat += dxhat;
          mean_dxhat_xhat += dxhat * xhat;
          dgp[c] += dyi[c] * xhat;
          dbp[c] += dyi[c];
        }
        mean_dxhat /= C;
        mean_dxhat_xhat /= C;
        for (int64_t c = 0; c < C; ++c) {
          const float xhat = (xi[c] - mu) * rs;
          dxi[c] = rs * (dyi[c] * pg[c] - mean_dxhat - xhat * mean_dxhat_xhat);
        }
      });
    }
  }
  float *dg = out.dgamma.f32(), *db = out.dbeta.f32();
  for (int t = 0; t < nt; ++t)
    for (int64_t c = 0; c < C; ++c) {
      dg[c] += part[static_cast<size_t>(t) * 2 * C + c];
      db[c] += part[static_cast<size_t>(t) * 2 * C + C + c];
    }
  return out;
}

// GroupNorm, and GroupNorm with the SiLU after it (kSilu), share one forward and one backward:
// the SiLU only adds z = y s(y) in the forward's inner loop, and dy = dz silu'(y) in the backward's
// first pass (where dy is kept in dx until the second pass needs it).
namespace {

// A GroupNorm input x (N, C, *) with G groups, checked: HW positions per channel, Cg channels per
// group, n = Cg HW values per (sample, group).
struct GroupDims {
  int64_t N, C, HW, Cg, n;
};
GroupDims check_group_norm(const char* op, const Tensor& x, int64_t G, const Tensor& gamma,
                           const Tensor& beta) {
  if (x.dim() < 2) fail(op, ": input ", shape_str(x.shape()), " must be (N, C, ...)");
  const int64_t N = x.size(0), C = x.size(1);
  check_affine(op, x, gamma, beta, C);
  if (G <= 0 || C % G != 0) fail(op, ": ", C, " channels cannot be split into ", G, " groups");
  const int64_t HW = N > 0 && C > 0 ? x.numel() / (N * C) : 0;
  return {N, C, HW, C / G, C / G * HW};
}

template <bool kSilu>
NormResult group_norm_forward_impl(const char* op, const Tensor& x_in, int64_t G, const Tensor& gamma,
                                   const Tensor& beta, float eps) {
  // named copies, not structured bindings: lambdas below capture them (clang 14 cannot capture bindings)
  const GroupDims d = check_group_norm(op, x_in, G, gamma, beta);
  const int64_t N = d.N, HW = d.HW, Cg = d.Cg, n = d.n;
  if (use_reference_kernels())
    return kSilu ? group_norm_silu_reference_forward(x_in, G, gamma, beta, eps)
                 : group_norm_reference_forward(x_in, G, gamma, beta, eps);
  Tensor x = x_in.contiguous(), g = gamma.contiguous(), b = beta.contiguous();
  NormResult r{Tensor::empty(x.shape()), Tensor::empty({N, G}), Tensor::empty({N, G})};
  const float *px = x.f32(), *pg = g.f32(), *pb = b.f32();
  float *py = r.y.f32(), *pm = r.mean.f32(), *pr = r.rstd.f32();
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelGrain) num_threads(num_threads())
  for (int64_t i = 0; i < N * G; ++i) {
    const float* xi = px + i * n;  // channels of one group are adjacent in (N, C, HW)
    float* yi = py + i * n;
    simd_dispatch([&] { moments(xi, n, eps, &pm[i], &pr[i]); });  // the group's first read, from memory
    // then the group again, now in cache; with SiLU its exponentials are the cost (simd_dispatch_compute)
    const auto normalise = [&] {
      const int64_t c0 = (i % G) * Cg;
      for (int64_t c = 0; c < Cg; ++c) {
        float scale, shift;
        channel_affine(pm[i], pr[i], pg[c0 + c], pb[c0 + c], &scale, &shift);
        affine_row<kSilu>(xi + c * HW, HW, scale, shift, yi + c * HW);
      }
    };
    if constexpr (kSilu)
      simd_dispatch_compute(normalise);
    else
      simd_dispatch(normalise);
  }
  return r;
}

template <bool kSilu>
NormGrads group_norm_backward_impl(const char* op, const Tensor& x_in, int64_t G, const Tensor& gamma,
                                   const Tensor& beta, const NormResult& saved, const Tensor& dy_in) {
  const int64_t N = x_in.size(0), C = x_in.size(1);
  const int64_t HW = N > 0 && C > 0 ? x_in.numel() / (N * C) : 0, Cg = C / G, n = Cg * HW;
  if (dy_in.shape() != x_in.shape())
    fail(op, " backward: gradient ", shape_str(dy_in.shape()), " vs input ", shape_str(x_in.shape()));
  if (use_reference_kernels())
    return kSilu ? group_norm_silu_reference_backward(x_in, G, gamma, beta, saved, dy_in)
                 : group_norm_reference_backward(x_in, G, gamma, saved, dy_in);
  Tensor x = x_in.contiguous(), dy = dy_in.contiguous(), g = gamma.contiguous();
  Tensor b = kSilu ? beta.contiguous() : Tensor();
  NormGrads out{Tensor::empty(x.shape()), Tensor::zeros({C}), Tensor::zeros({C})};
  const float *px = x.f32(), *pdy = dy.f32(), *pg = g.f32(), *pm = saved.mean.f32(), *pr = saved.rstd.f32();
  const float* pb = kSilu ? b.f32() : nullptr;
  float* pdx = out.dx.f32();
  // per (n, c): sum(dy * xhat) and sum(dy), reduced over n afterwards
  std::vector<float> dgc(static_cast<size_t>(N * C)), dbc(static_cast<size_t>(N * C));
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelGrain) num_threads(num_threads())
  for (int64_t i = 0; i < N * G; ++i) {
    simd_dispatch([&] {
      const float *xi = px + i * n, *dyi = pdy + i * n;
      float* dxi = pdx + i * n;
      const float mu = pm[i], rs = pr[i];
      const int64_t c0 = (i % G) * Cg, nidx = i / G;
      float mean_dxhat = 0.0f, mean_dxhat_xhat = 0.0f;
      for (int64_t c = 0; c < Cg; ++c) {
        const float gc = pg[c0 + c], scale = rs * gc, shift = kSilu ? pb[c0 + c] - mu * scale : 0.0f;
        float sdx = 0.0f, sdxx = 0.0f;
#pragma omp simd reduction(+ : sdx, sdxx)
        for (int64_t k = 0; k < HW; ++k) {
          const float xhat = (xi[c * HW + k] - mu) * rs;
          float d = dyi[c * HW + k];
          if constexpr (kSilu) {  // dy = dz silu'(y), y = the forward's y to the bit; kept in dx
            const float y = xi[c * HW + k] * scale + shift;
            const float s = 1.0f / (1.0f + exp_f32(-y));
            d = d * (s * (1.0f + y * (1.0f - s)));
            dxi[c * HW + k] = d;
          }
          sdx += d;
          sdxx += d * xhat;
        }
        dgc[nidx * C + c0 + c] = sdxx;
        dbc[nidx * C + c0 + c] = sdx;
        mean_dxhat += sdx * gc;
        mean_dxhat_xhat += sdxx * gc;
      }
      mean_dxhat /= n;
      mean_dxhat_xhat /= n;
      const float* di = kSilu ? dxi : dyi;  // dy
      for (int64_t c = 0; c < Cg; ++c) {
        const float gc = pg[c0 + c];
        for (int64_t k = 0; k < HW; ++k) {
          const float xhat = (xi[c * HW + k] - mu) * rs;
          dxi[c * HW + k] = rs * (di[c * HW + k] * gc - mean_dxhat - xhat * mean_dxhat_xhat);
        }
      }
    });
  }
  float *dg = out.dgamma.f32(), *db = out.dbeta.f32();
  for (int64_t bi = 0; bi < N; ++bi)
    for (int64_t c = 0; c < C; ++c) {
      dg[c] += dgc[bi * C + c];
      db[c] += dbc[bi * C + c];
    }
  return out;
}

}  // namespace

NormResult group_norm_forward(const Tensor& x, int64_t G, const Tensor& gamma, const Tensor& beta,
                              float eps) {
  return group_norm_forward_impl<false>("group_norm", x, G, gamma, beta, eps);
}

NormGrads group_norm_backward(const Tensor& x, int64_t G, const Tensor& gamma, const NormResult& saved,
                              const Tensor& dy) {
  return group_norm_backward_impl<false>("group_norm", x, G, gamma, Tensor(), saved, dy);
}

NormResult group_norm_silu_forward(const Tensor& x, int64_t G, const Tensor& gamma, const Tensor& beta,
                                   float eps) {
  return group_norm_forward_impl<true>("group_norm_silu", x, G, gamma, beta, eps);
}

ChannelAffine group_norm_affine(const Tensor& x_in, int64_t G, const Tensor& gamma, const Tensor& beta,
                                float eps) {
  const GroupDims d = check_group_norm("group_norm", x_in, G, gamma, beta);
  const int64_t N = d.N, C = d.C, Cg = d.Cg, n = d.n;
  Tensor x = x_in.contiguous(), g = gamma.contiguous(), b = beta.contiguous();
  ChannelAffine r{Tensor::empty({N, C}), Tensor::empty({N, C})};
  const float *px = x.f32(), *pg = g.f32(), *pb = b.f32();
  float *ps = r.scale.f32(), *pt = r.shift.f32();
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelGrain) num_threads(num_threads())
  for (int64_t i = 0; i < N * G; ++i) {
    float mean = 0, rstd = 0;
    simd_dispatch([&] { moments(px + i * n, n, eps, &mean, &rstd); });  // as group_norm_forward's
    const int64_t c0 = (i % G) * Cg;
    simd_dispatch_compute([&] {
      for (int64_t c = 0; c < Cg; ++c)
        channel_affine(mean, rstd, pg[c0 + c], pb[c0 + c], &ps[i / G * C + c0 + c], &pt[i / G * C + c0 + c]);
    });
  }
  return r;
}

void affine_silu_planes(const float* x, int64_t C, int64_t P, const float* scale, const float* shift,
                        float* y) {
  simd_dispatch_compute([&] {
    for (int64_t c = 0; c < C; ++c) affine_row<true>(x + c * P, P, scale[c], shift[c], y + c * P);
  });
}

NormGrads group_norm_silu_backward(const Tensor& x, int64_t G, const Tensor& gamma, const Tensor& beta,
                                   const NormResult& saved, const Tensor& dz) {
  return group_norm_backward_impl<true>("group_norm_silu", x, G, gamma, beta, saved, dz);
}

}  // namespace ld
