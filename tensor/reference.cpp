// tensor/reference.cpp: the plain reference kernels of tensor/reference.h. No threads, no SIMD, no
// blocking: each is the formula of its header comment as loops, summing in double.
#include "tensor/reference.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

namespace ld {

namespace {

Kernels from_environment() {
  const char* env = std::getenv("LORADIFF_KERNELS");
  if (!env || !*env || std::strcmp(env, "fast") == 0) return Kernels::Fast;
  if (std::strcmp(env, "reference") == 0) return Kernels::Reference;
  // A knob read before main: warn (once) and go on, as for LORADIFF_SIMD.
  warn_knob_once("LORADIFF_KERNELS", str_cat("LORADIFF_KERNELS='", env, "' is not one of fast, reference; using fast"));
  return Kernels::Fast;
}

Kernels g_kernels = from_environment();

}  // namespace

Kernels kernels() { return g_kernels; }
void set_kernels(Kernels k) { g_kernels = k; }
const char* kernels_name(Kernels k) { return k == Kernels::Reference ? "reference" : "fast"; }

void gemm_reference(const Tensor& a, const Tensor& b, Tensor& c, float alpha, float beta) {
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  const int64_t a0 = a.strides()[0], a1 = a.strides()[1], b0 = b.strides()[0], b1 = b.strides()[1];
  const int64_t c0 = c.strides()[0], c1 = c.strides()[1];
  const float *pa = a.f32(), *pb = b.f32();
  float* pc = c.f32();
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += double(pa[i * a0 + k * a1]) * pb[k * b0 + j * b1];
      float& out = pc[i * c0 + j * c1];
      out = static_cast<float>(alpha * acc + (beta == 0.0f ? 0.0 : double(beta) * out));
    }
}

Tensor conv2d_reference_forward(const Tensor& x_in, const Tensor& w_in, const Tensor& bias, int64_t s,
                                int64_t p) {
  const Conv2dGeometry g = conv2d_geometry(x_in, w_in, s, p);
  const int64_t O = w_in.size(0);
  const Tensor x = x_in.contiguous(), w = w_in.contiguous();
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  Tensor y = Tensor::empty({g.N, O, g.Ho, g.Wo});
  const float *px = x.f32(), *pw = w.f32(), *pb = b.defined() ? b.f32() : nullptr;
  float* py = y.f32();
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < g.Ho; ++i)
        for (int64_t j = 0; j < g.Wo; ++j) {
          double acc = pb ? pb[o] : 0.0;
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t u = 0; u < g.kh; ++u)
              for (int64_t v = 0; v < g.kw; ++v) {
                const int64_t h = i * s - p + u, ww = j * s - p + v;
                if (h < 0 || h >= g.H || ww < 0 || ww >= g.W) continue;  // zero padding
                acc += double(pw[((o * g.C + c) * g.kh + u) * g.kw + v]) *
                       px[((n * g.C + c) * g.H + h) * g.W + ww];
              }
          py[((n * O + o) * g.Ho + i) * g.Wo + j] = static_cast<float>(acc);
        }
  return y;
}

Conv2dGrads conv2d_reference_backward(const Tensor& x_in, const Tensor& w_in, const Tensor& dy_in, int64_t s,
                                      int64_t p, bool need_dx, bool need_dw, bool need_dbias) {
  const Conv2dGeometry g = conv2d_geometry(x_in, w_in, s, p);
  const int64_t O = w_in.size(0);
  if (dy_in.shape() != Shape{g.N, O, g.Ho, g.Wo})
    fail("conv2d backward: gradient ", shape_str(dy_in.shape()), " does not match the output (", g.N, ", ", O,
         ", ", g.Ho, ", ", g.Wo, ")");
  const Tensor x = x_in.contiguous(), w = w_in.contiguous(), dy = dy_in.contiguous();
  const float *px = x.f32(), *pw = w.f32(), *pdy = dy.f32();
  std::vector<double> dx(need_dx ? x.numel() : 0, 0.0), dw(need_dw ? w.numel() : 0, 0.0), db(O, 0.0);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < g.Ho; ++i)
        for (int64_t j = 0; j < g.Wo; ++j) {
          const double d = pdy[((n * O + o) * g.Ho + i) * g.Wo + j];
          db[o] += d;
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t u = 0; u < g.kh; ++u)
              for (int64_t v = 0; v < g.kw; ++v) {
                const int64_t h = i * s - p + u, ww = j * s - p + v;
                if (h < 0 || h >= g.H || ww < 0 || ww >= g.W) continue;
                const int64_t xi = ((n * g.C + c) * g.H + h) * g.W + ww,
                              wi = ((o * g.C + c) * g.kh + u) * g.kw + v;
                if (need_dx) dx[xi] += d * pw[wi];
                if (need_dw) dw[wi] += d * px[xi];
              }
        }
  auto to_tensor = [](const std::vector<double>& v, const Shape& shape) {
    return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), shape);
  };
  Conv2dGrads out;
  if (need_dx) out.dx = to_tensor(dx, x.shape());
  if (need_dw) out.dw = to_tensor(dw, w.shape());
  if (need_dbias) out.dbias = to_tensor(db, {O});
  return out;
}

namespace {

// f(row in, row other, row out, n) on every row along `axis` (moved last, made contiguous).
template <class F>
Tensor rows_along(const Tensor& x, const Tensor* other, int64_t axis, const char* op, F f) {
  const int a = normalize_axis(axis, x.dim(), op), last = static_cast<int>(x.dim()) - 1;
  const Tensor xc = x.transpose(a, last).contiguous();
  const Tensor oc = other ? other->transpose(a, last).contiguous() : Tensor();
  Tensor y = Tensor::empty(xc.shape());
  const int64_t n = x.dim() ? x.shape()[a] : 1, rows = n ? x.numel() / n : 0;
  for (int64_t r = 0; r < rows; ++r)
    f(xc.f32() + r * n, other ? oc.f32() + r * n : nullptr, y.f32() + r * n, n);
  return y.transpose(a, last);
}

}  // namespace

Tensor softmax_reference(const Tensor& x, int64_t axis) {
  return rows_along(x, nullptr, axis, "softmax", [](const float* x, const float*, float* y, int64_t n) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
    if (m == -std::numeric_limits<float>::infinity()) {  // every key masked
      for (int64_t i = 0; i < n; ++i) y[i] = 0.0f;
      return;
    }
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(double(x[i]) - m);
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(std::exp(double(x[i]) - m) / sum);
  });
}

Tensor softmax_backward_reference(const Tensor& y, const Tensor& dy, int64_t axis) {
  if (dy.shape() != y.shape())
    fail("softmax backward: gradient ", shape_str(dy.shape()), " differs from ", shape_str(y.shape()));
  return rows_along(y, &dy, axis, "softmax backward",
                    [](const float* y, const float* dy, float* dx, int64_t n) {
                      double dot = 0;
                      for (int64_t i = 0; i < n; ++i) dot += double(dy[i]) * y[i];
                      for (int64_t i = 0; i < n; ++i) dx[i] = static_cast<float>(y[i] * (dy[i] - dot));
                    });
}

namespace {

// Normalise `groups` blocks of `n` values each (block k of x at x + k n); channel of value i of block k
// is channel(k, i), whose gamma/beta apply. mean/rstd per block.
template <class Channel>
void norm_forward_blocks(const float* x, float* y, float* mean, float* rstd, int64_t blocks, int64_t n,
                         float eps, const float* gamma, const float* beta, Channel channel) {
  for (int64_t k = 0; k < blocks; ++k) {
    const float* xk = x + k * n;
    double mu = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mu += xk[i];
    mu /= double(n);
    for (int64_t i = 0; i < n; ++i) var += (xk[i] - mu) * (xk[i] - mu);
    var /= double(n);
    const double rs = 1.0 / std::sqrt(var + eps);
    mean[k] = static_cast<float>(mu);
    rstd[k] = static_cast<float>(rs);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t c = channel(k, i);
      y[k * n + i] = static_cast<float>((xk[i] - mu) * rs * gamma[c] + beta[c]);
    }
  }
}

template <class Channel>
void norm_backward_blocks(const float* x, const float* dy, const float* mean, const float* rstd, float* dx,
                          double* dgamma, double* dbeta, int64_t blocks, int64_t n, const float* gamma,
                          Channel channel) {
  for (int64_t k = 0; k < blocks; ++k) {
    const double mu = mean[k], rs = rstd[k];
    double mean_dxhat = 0, mean_dxhat_xhat = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t c = channel(k, i);
      const double xhat = (x[k * n + i] - mu) * rs, dxhat = double(dy[k * n + i]) * gamma[c];
      mean_dxhat += dxhat;
      mean_dxhat_xhat += dxhat * xhat;
      dgamma[c] += double(dy[k * n + i]) * xhat;
      dbeta[c] += dy[k * n + i];
    }
    mean_dxhat /= double(n);
    mean_dxhat_xhat /= double(n);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t c = channel(k, i);
      const double xhat = (x[k * n + i] - mu) * rs;
      dx[k * n + i] =
          static_cast<float>(rs * (double(dy[k * n + i]) * gamma[c] - mean_dxhat - xhat * mean_dxhat_xhat));
    }
  }
}

NormGrads to_grads(Tensor dx, const std::vector<double>& dg, const std::vector<double>& db) {
  const int64_t C = static_cast<int64_t>(dg.size());
  return {std::move(dx), Tensor::from_vector(std::vector<float>(dg.begin(), dg.end()), {C}),
          Tensor::from_vector(std::vector<float>(db.begin(), db.end()), {C})};
}

}  // namespace

NormResult layer_norm_reference_forward(const Tensor& x_in, const Tensor& gamma, const Tensor& beta,
                                        float eps) {
  if (x_in.dim() < 1) fail("layer_norm: input must have at least one axis");
  const int64_t C = x_in.size(-1), rows = C ? x_in.numel() / C : 0;
  const Tensor x = x_in.contiguous(), g = gamma.contiguous(), b = beta.contiguous();
  NormResult r{Tensor::empty(x.shape()), Tensor::empty({rows}), Tensor::empty({rows})};
  norm_forward_blocks(x.f32(), r.y.f32(), r.mean.f32(), r.rstd.f32(), rows, C, eps, g.f32(), b.f32(),
                      [](int64_t, int64_t i) { return i; });
  return r;
}

NormGrads layer_norm_reference_backward(const Tensor& x_in, const Tensor& gamma, const NormResult& saved,
                                        const Tensor& dy_in) {
  const int64_t C = x_in.size(-1), rows = C ? x_in.numel() / C : 0;
  const Tensor x = x_in.contiguous(), dy = dy_in.contiguous(), g = gamma.contiguous();
  Tensor dx = Tensor::empty(x.shape());
  std::vector<double> dg(C, 0.0), db(C, 0.0);
  norm_backward_blocks(x.f32(), dy.f32(), saved.mean.f32(), saved.rstd.f32(), dx.f32(), dg.data(), db.data(),
                       rows, C, g.f32(), [](int64_t, int64_t i) { return i; });
  return to_grads(std::move(dx), dg, db);
}

NormResult group_norm_reference_forward(const Tensor& x_in, int64_t G, const Tensor& gamma,
                                        const Tensor& beta, float eps) {
  const int64_t N = x_in.size(0), C = x_in.size(1);
  if (G <= 0 || C % G != 0) fail("group_norm: ", C, " channels cannot be split into ", G, " groups");
  const int64_t HW = N > 0 && C > 0 ? x_in.numel() / (N * C) : 0, Cg = C / G;
  const Tensor x = x_in.contiguous(), g = gamma.contiguous(), b = beta.contiguous();
  NormResult r{Tensor::empty(x.shape()), Tensor::empty({N, G}), Tensor::empty({N, G})};
  // block k = (sample, group): its Cg channels are adjacent in (N, C, HW); value i is channel (k % G) Cg + i
  // / HW
  norm_forward_blocks(x.f32(), r.y.f32(), r.mean.f32(), r.rstd.f32(), N * G, Cg * HW, eps, g.f32(), b.f32(),
                      [=](int64_t k, int64_t i) { return (k % G) * Cg + i / HW; });
  return r;
}

NormGrads group_norm_reference_backward(const Tensor& x_in, int64_t G, const Tensor& gamma,
                                        const NormResult& saved, const Tensor& dy_in) {
  const int64_t N = x_in.size(0), C = x_in.size(1);
  const int64_t HW = N > 0 && C > 0 ? x_in.numel() / (N * C) : 0, Cg = C / G;
  const Tensor x = x_in.contiguous(), dy = dy_in.contiguous(), g = gamma.contiguous();
  Tensor dx = Tensor::empty(x.shape());
  std::vector<double> dg(C, 0.0), db(C, 0.0);
  norm_backward_blocks(x.f32(), dy.f32(), saved.mean.f32(), saved.rstd.f32(), dx.f32(), dg.data(), db.data(),
                       N * G, Cg * HW, g.f32(), [=](int64_t k, int64_t i) { return (k % G) * Cg + i / HW; });
  return to_grads(std::move(dx), dg, db);
}

NormResult group_norm_silu_reference_forward(const Tensor& x, int64_t G, const Tensor& gamma,
                                             const Tensor& beta, float eps) {
  NormResult r = group_norm_reference_forward(x, G, gamma, beta, eps);
  float* z = r.y.f32();
  for (int64_t i = 0; i < r.y.numel(); ++i) z[i] = static_cast<float>(z[i] / (1.0 + std::exp(-double{z[i]})));
  return r;
}

NormGrads group_norm_silu_reference_backward(const Tensor& x_in, int64_t G, const Tensor& gamma,
                                             const Tensor& beta, const NormResult& saved,
                                             const Tensor& dz_in) {
  // y again from x and the saved moments, then dy = dz s(y) (1 + y (1 - s(y)))
  const int64_t N = x_in.size(0), C = x_in.size(1);
  const int64_t HW = N > 0 && C > 0 ? x_in.numel() / (N * C) : 0, Cg = C / G;
  const Tensor x = x_in.contiguous(), dz = dz_in.contiguous(), g = gamma.contiguous(), b = beta.contiguous();
  Tensor dy = Tensor::empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t n = i / (C * HW), c = (i / HW) % C, k = n * G + c / Cg;
    const double y =
        (double{x.f32()[i]} - saved.mean.f32()[k]) * saved.rstd.f32()[k] * g.f32()[c] + b.f32()[c];
    const double s = 1.0 / (1.0 + std::exp(-y));
    dy.f32()[i] = static_cast<float>(dz.f32()[i] * s * (1.0 + y * (1.0 - s)));
  }
  return group_norm_reference_backward(x, G, gamma, saved, dy);
}

}  // namespace ld
