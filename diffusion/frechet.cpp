// diffusion/frechet.cpp: the Frechet distance between two Gaussians fitted to feature sets
// (mean, covariance, the trace of the matrix square root by a symmetric eigendecomposition in double).
#include "diffusion/frechet.h"

#include <lapacke.h>

#include <cmath>
#include <vector>

namespace ld::diffusion {

namespace {

struct Gaussian {
  int64_t d;
  std::vector<double> mu, cov;  // cov row-major d x d
};

Gaussian fit(const Tensor& x_in, const char* which) {
  if (x_in.dim() != 2 || x_in.size(0) < 2)
    fail("frechet_distance: ", which, " features ", shape_str(x_in.shape()), " must be (N >= 2, D)");
  Tensor x = x_in.contiguous();
  const int64_t n = x.size(0), d = x.size(1);
  Gaussian g{d, std::vector<double>(d, 0.0), std::vector<double>(d * d, 0.0)};
  const float* p = x.f32();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) g.mu[j] += p[i * d + j];
  for (double& m : g.mu) m /= static_cast<double>(n);
  std::vector<double> c(d);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) c[j] = p[i * d + j] - g.mu[j];
    for (int64_t j = 0; j < d; ++j)
      for (int64_t k = j; k < d; ++k) g.cov[j * d + k] += c[j] * c[k];
  }
  for (int64_t j = 0; j < d; ++j)
    for (int64_t k = j; k < d; ++k) {
      g.cov[j * d + k] /= static_cast<double>(n - 1);
      g.cov[k * d + j] = g.cov[j * d + k];
    }
  return g;
}

// Eigen-decomposition of a symmetric matrix: a <- eigenvectors (columns), returns eigenvalues.
std::vector<double> eigh(std::vector<double>& a, int64_t d) {
  std::vector<double> w(d);
  int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', static_cast<lapack_int>(d), a.data(),
                            static_cast<lapack_int>(d), w.data());
  if (info != 0) fail("frechet_distance: eigen-decomposition failed (LAPACK info ", info, ")");
  return w;
}

std::vector<double> matmul(const std::vector<double>& a, const std::vector<double>& b, int64_t d) {
  std::vector<double> c(d * d, 0.0);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t k = 0; k < d; ++k)
      for (int64_t j = 0; j < d; ++j) c[i * d + j] += a[i * d + k] * b[k * d + j];
  return c;
}

}  // namespace

double frechet_distance(const Tensor& a, const Tensor& b) {
  Gaussian ga = fit(a, "first"), gb = fit(b, "second");
  if (ga.d != gb.d) fail("frechet_distance: feature sizes ", ga.d, " and ", gb.d, " differ");
  const int64_t d = ga.d;
  // sqrt(Sigma_a) = V diag(sqrt(max(w, 0))) V^T
  std::vector<double> v = ga.cov;
  std::vector<double> w = eigh(v, d);
  std::vector<double> sa(d * d, 0.0);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) {
      double s = 0;
      for (int64_t k = 0; k < d; ++k) s += v[i * d + k] * std::sqrt(std::max(w[k], 0.0)) * v[j * d + k];
      sa[i * d + j] = s;
    }
  std::vector<double> m = matmul(matmul(sa, gb.cov, d), sa, d);
  for (int64_t i = 0; i < d; ++i)  // symmetrise against round-off
    for (int64_t j = i + 1; j < d; ++j) m[i * d + j] = m[j * d + i] = 0.5 * (m[i * d + j] + m[j * d + i]);
  std::vector<double> lam = eigh(m, d);
  double tr_sqrt = 0, tr_a = 0, tr_b = 0, mean_term = 0;
  for (double l : lam) tr_sqrt += std::sqrt(std::max(l, 0.0));
  for (int64_t i = 0; i < d; ++i) {
    tr_a += ga.cov[i * d + i];
    tr_b += gb.cov[i * d + i];
    mean_term += (ga.mu[i] - gb.mu[i]) * (ga.mu[i] - gb.mu[i]);
  }
  return std::max(mean_term + tr_a + tr_b - 2.0 * tr_sqrt, 0.0);
}

}  // namespace ld::diffusion
