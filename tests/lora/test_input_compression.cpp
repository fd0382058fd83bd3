// Tests of lora/input_compression: C^{1/2} squares to C; the output error formula matches the
// outputs themselves; at every rank the input-compression layer's output error on the
// calibration inputs is <= plain SVD's (and much lower when the inputs are anisotropic); it is
// the optimum, sqrt(sum_{i>=r} sigma_i^2 / sum sigma_i^2); inputs confined to a subspace are
// reproduced exactly at that subspace's dimension, though the weight error stays large.
#include <doctest/doctest.h>

#include <cmath>

#include "lora/input_compression.h"
#include "tensor/elementwise.h"
#include "tensor/matmul.h"
#include "tensor/random.h"

using namespace ld;
using namespace ld::lora;

namespace {

double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.contiguous().to_vector()) m = std::max(m, std::fabs(double(v)));
  return m;
}

// ||Y - Y'||_F / ||Y||_F for outputs computed directly: Y = X W^T.
double direct_output_error(const Tensor& X, const Tensor& W, const Tensor& M) {
  return relative_frobenius_error(matmul(X, W.transpose(0, 1)), matmul(X, M.transpose(0, 1)));
}

// N inputs of dimension d whose scale decays fast along random directions (like real activations).
Tensor anisotropic_inputs(int64_t N, int64_t d, Generator& gen) {
  std::vector<float> scale(d);
  for (int64_t i = 0; i < d; ++i) scale[i] = std::pow(0.6f, static_cast<float>(i));
  const Tensor Z = mul(rand_normal({N, d}, gen), Tensor::from_vector(scale, {1, d}));
  return matmul(Z, svd(rand_normal({d, d}, gen)).U);  // rotate
}

// C = X^T X / N
Tensor second_moment(const Tensor& X) { return mul_scalar(matmul(X.transpose(0, 1), X), 1.0f / X.size(0)); }

}  // namespace

TEST_CASE("psd_sqrt: (C^{1/2})^2 = C, symmetric") {
  Generator gen(1);
  const Tensor C = second_moment(anisotropic_inputs(200, 6, gen));
  const Tensor R = psd_sqrt(C);
  CHECK(max_abs(sub(matmul(R, R), C)) < 1e-5 * max_abs(C) + 1e-7);
  CHECK(max_abs(sub(R, R.transpose(0, 1))) < 1e-5);
}

TEST_CASE("input compression: output error on the calibration inputs <= plain SVD's at every rank") {
  Generator gen(2);
  const int64_t N = 500, d = 12, out = 10;
  const Tensor X = anisotropic_inputs(N, d, gen), W = rand_normal({out, d}, gen);
  const Tensor C = second_moment(X);
  const SVD plain = svd(W), whitened = whitened_svd(W, C);
  double total = 0;
  for (float s : whitened.S.to_vector()) total += double(s) * s;
  bool much_better_somewhere = false;
  for (int64_t r = 1; r <= 9; ++r) {
    CAPTURE(r);
    const Tensor Ms = svd_init(plain, r).product();
    const LowRankFactors fi = input_compression_init(W, whitened, r);
    const Tensor Mi = fi.product();
    CHECK(fi.U.shape() == Shape{out, r});
    CHECK(fi.V.shape() == Shape{r, d});
    const double es = direct_output_error(X, W, Ms), ei = direct_output_error(X, W, Mi);
    // the formula from C alone agrees with the outputs themselves
    CHECK(relative_output_error(W, Ms, C) == doctest::Approx(es).epsilon(1e-3));
    CHECK(relative_output_error(W, Mi, C) == doctest::Approx(ei).epsilon(1e-3));
    CHECK(ei <= es * (1 + 1e-4) + 1e-6);
    // ... and it is the optimum: the dropped output energy
    double dropped = 0;
    std::vector<float> s = whitened.S.to_vector();
    for (size_t i = static_cast<size_t>(r); i < s.size(); ++i) dropped += double(s[i]) * s[i];
    CHECK(ei == doctest::Approx(std::sqrt(dropped / total)).epsilon(2e-3).scale(1e-4));
    // while plain SVD has the smaller weight error, as it should
    CHECK(relative_frobenius_error(W, Ms) <= relative_frobenius_error(W, Mi) * (1 + 1e-4) + 1e-6);
    if (ei < 0.5 * es) much_better_somewhere = true;
  }
  CHECK(much_better_somewhere);
  // and the factors are balanced like svd_init's: equal norms of U's columns and V's rows
  const LowRankFactors f = input_compression_init(W, whitened, 3);
  const std::vector<float> u = f.U.to_vector(), v = f.V.to_vector();
  for (int64_t i = 0; i < 3; ++i) {
    double nu = 0, nv = 0;
    for (int64_t o = 0; o < out; ++o) nu += double(u[o * 3 + i]) * u[o * 3 + i];
    for (int64_t j = 0; j < d; ++j) nv += double(v[i * d + j]) * v[i * d + j];
    CHECK(nu == doctest::Approx(nv).epsilon(1e-4));
  }
}

TEST_CASE("inputs in a 3-dimensional subspace: rank 3 reproduces every output, not the weight") {
  Generator gen(3);
  const Tensor X = matmul(rand_normal({300, 3}, gen), rand_normal({3, 16}, gen));  // rank 3 inputs
  const Tensor W = rand_normal({8, 16}, gen), C = second_moment(X);
  const Tensor M = input_compression_init(W, whitened_svd(W, C), 3).product();
  CHECK(direct_output_error(X, W, M) < 2e-3);
  CHECK(relative_output_error(W, M, C) < 2e-3);
  CHECK(relative_frobenius_error(W, M) > 0.3);
  CHECK(direct_output_error(X, W, svd_init(svd(W), 3).product()) > 0.1);  // plain SVD does not
  CHECK_THROWS_WITH_AS(whitened_svd(W, Tensor::zeros({5, 5})), doctest::Contains("must be (out, fan_in)"),
                       Error);
}
