// Tests of lora/svd: the thin SVD reconstructs, has orthonormal factors and known singular
// values; truncation is the best rank-r approximation (error = dropped energy); rank by energy.
#include <doctest/doctest.h>

#include <cmath>

#include "lora/svd.h"
#include "tensor/elementwise.h"
#include "tensor/matmul.h"
#include "tensor/random.h"
#include "tensor/reduce.h"

using namespace ld;
using namespace ld::lora;

namespace {
double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.to_vector()) m = std::max(m, std::fabs(double(v)));
  return m;
}
}  // namespace

TEST_CASE("svd reconstructs tall and wide matrices; U and V are orthonormal; S descending") {
  Generator gen(1);
  for (Shape shape : {Shape{7, 4}, Shape{4, 9}, Shape{5, 5}}) {
    CAPTURE(shape_str(shape));
    Tensor m = rand_normal(shape, gen);
    SVD d = svd(m);
    const int64_t k = std::min(shape[0], shape[1]);
    CHECK(d.U.shape() == Shape{shape[0], k});
    CHECK(d.S.shape() == Shape{k});
    CHECK(d.Vt.shape() == Shape{k, shape[1]});
    CHECK(max_abs(sub(d.reconstruct(), m)) < 1e-5);
    Tensor utu = matmul(d.U.transpose(0, 1), d.U), vvt = matmul(d.Vt, d.Vt.transpose(0, 1));
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) {
        CHECK(utu.at({i, j}) == doctest::Approx(i == j ? 1.0 : 0.0).epsilon(1e-5).scale(1));
        CHECK(vvt.at({i, j}) == doctest::Approx(i == j ? 1.0 : 0.0).epsilon(1e-5).scale(1));
      }
    std::vector<float> s = d.S.to_vector();
    for (int64_t i = 0; i + 1 < k; ++i) CHECK(s[i] >= s[i + 1]);
    CHECK(s.back() >= 0);
  }
}

TEST_CASE("svd finds known singular values; truncation error is the dropped energy") {
  // M = Q1 diag(5, 3, 1, 0.5) Q2 with orthonormal Q1 (6x4), Q2 (4x4) from another SVD
  Generator gen(2);
  SVD q = svd(rand_normal({6, 4}, gen)), p = svd(rand_normal({4, 4}, gen));
  Tensor s = Tensor::from_vector({5, 3, 1, 0.5f}, {4});
  Tensor m = matmul(mul(q.U, s.view({1, 4})), p.Vt);
  SVD d = svd(m);
  std::vector<float> got = d.S.to_vector();
  CHECK(got[0] == doctest::Approx(5).epsilon(1e-5));
  CHECK(got[1] == doctest::Approx(3).epsilon(1e-5));
  CHECK(got[2] == doctest::Approx(1).epsilon(1e-5));
  CHECK(got[3] == doctest::Approx(0.5).epsilon(1e-5));
  // Eckart-Young: ||M - M_2||_F^2 = 1^2 + 0.5^2
  SVD t = d.truncate(2);
  CHECK(t.size() == 2);
  CHECK(t.U.shape() == Shape{6, 2});
  const double err = l2_norm(sub(m, t.reconstruct()));
  CHECK(err * err == doctest::Approx(1.25).epsilon(1e-4));
  CHECK(energy_kept(d.S, 2) == doctest::Approx(34.0 / 35.25).epsilon(1e-6));
  CHECK(energy_kept(d.S, 4) == doctest::Approx(1.0));
  CHECK(d.truncate(99).size() == 4);
}

TEST_CASE("rank_for_energy: the smallest rank keeping the share") {
  Tensor s = Tensor::from_vector({4, 2, 1, 1}, {4});  // energies 16, 4, 1, 1 of 22
  CHECK(rank_for_energy(s, 0.5) == 1);
  CHECK(rank_for_energy(s, 16.0 / 22.0) == 1);
  CHECK(rank_for_energy(s, 0.9) == 2);  // 20/22 = 0.909
  CHECK(rank_for_energy(s, 0.95) == 3);
  CHECK(rank_for_energy(s, 1.0) == 4);
  CHECK(rank_for_energy(Tensor::zeros({3}), 0.9) == 0);
  CHECK_THROWS_WITH_AS(rank_for_energy(s, 0.0), doctest::Contains("(0, 1]"), Error);
  CHECK_THROWS_WITH_AS(rank_for_energy(s, 1.5), doctest::Contains("(0, 1]"), Error);
}

TEST_CASE("svd rejects bad input") {
  CHECK_THROWS_WITH_AS(svd(Tensor::zeros({2, 2, 2})), doctest::Contains("2-D"), Error);
  Tensor nan = Tensor::zeros({2, 2});
  nan.f32()[1] = NAN;
  CHECK_THROWS_WITH_AS(svd(nan), doctest::Contains("NaN"), Error);
  // a rank-deficient matrix is fine: zero singular values
  SVD z = svd(Tensor::zeros({3, 2}));
  CHECK(z.S.to_vector() == std::vector<float>{0, 0});
}
