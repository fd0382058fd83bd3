// Tests of lora/low_rank_init: truncated-SVD factors reproduce a matrix of known rank and are
// balanced; the rank rules (fixed, energy on a known spectrum, share of parameters) and the
// "never larger than dense" limit, with clear errors.
#include <doctest/doctest.h>

#include <cmath>

#include "lora/low_rank_init.h"
#include "nn/low_rank_linear.h"
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

// Q1 diag(s) Q2 with orthonormal Q1 (m x k), Q2 (k x n): singular values exactly s.
Tensor with_spectrum(int64_t m, int64_t n, const std::vector<float>& s, Generator& gen) {
  const int64_t k = static_cast<int64_t>(s.size());
  const Tensor q1 = svd(rand_normal({m, k}, gen)).U, q2 = svd(rand_normal({k, n}, gen)).Vt;
  return matmul(mul(q1, Tensor::from_vector(s, {1, k})), q2);
}

}  // namespace

TEST_CASE("svd_init of a matrix of known rank reproduces it; U and V are balanced") {
  Generator gen(1);
  const Tensor W = matmul(rand_normal({9, 3}, gen), rand_normal({3, 12}, gen));  // rank 3
  const SVD d = svd(W);
  const LowRankFactors f = svd_init(d, 3);
  CHECK(f.U.shape() == Shape{9, 3});
  CHECK(f.V.shape() == Shape{3, 12});
  CHECK(f.rank() == 3);
  CHECK(max_abs(sub(f.product(), W)) < 1e-4 * max_abs(W));
  CHECK(relative_frobenius_error(W, f.product()) < 1e-5);
  // column i of U and row i of V both have norm sqrt(S_i)
  const std::vector<float> s = d.S.to_vector(), u = f.U.to_vector(), v = f.V.to_vector();
  for (int64_t i = 0; i < 3; ++i) {
    double nu = 0, nv = 0;
    for (int64_t o = 0; o < 9; ++o) nu += double(u[o * 3 + i]) * u[o * 3 + i];
    for (int64_t j = 0; j < 12; ++j) nv += double(v[i * 12 + j]) * v[i * 12 + j];
    CHECK(std::sqrt(nu) == doctest::Approx(std::sqrt(s[i])).epsilon(1e-4));
    CHECK(std::sqrt(nv) == doctest::Approx(std::sqrt(s[i])).epsilon(1e-4));
  }
  // one rank less: the error is the dropped singular value (Eckart-Young)
  const LowRankFactors f2 = svd_init(d, 2);
  double total = 0;
  for (float x : s) total += double(x) * x;
  CHECK(relative_frobenius_error(W, f2.product()) == doctest::Approx(s[2] / std::sqrt(total)).epsilon(1e-3));
  CHECK_THROWS_WITH_AS(svd_init(d, 10), doctest::Contains("rank 10 must be in [1, 9]"), Error);
}

TEST_CASE("the energy rule picks the right rank on a known spectrum") {
  Generator gen(2);
  // S^2 = 16, 4, 1, 0.25, 0.0625: shares 0.7512, 0.9390, 0.9859, 0.9971, 1
  const Tensor W = with_spectrum(40, 40, {4, 2, 1, 0.5f, 0.25f}, gen);
  const SVD d = svd(W);
  auto rank_at = [&](double e) {
    RankRule rule;
    rule.energy = e;
    return choose_rank(rule, d.S, 40, 40, "layer");
  };
  CHECK(rank_at(0.5) == 1);
  CHECK(rank_at(0.9) == 2);
  CHECK(rank_at(0.95) == 3);
  CHECK(rank_at(0.99) == 4);
  CHECK(rank_at(1.0) == 5);
  CHECK(energy_kept(d.S, 2) == doctest::Approx(20.0 / 21.3125).epsilon(1e-4));
  // a layer that would need a rank with no saving stays dense (rank 0): 4 x 4 allows rank 1
  const Tensor small = with_spectrum(4, 4, {1, 1, 1, 1}, gen);
  CHECK(nn::max_compressing_rank(4, 4) == 1);
  RankRule e9;
  e9.energy = 0.9;
  CHECK(choose_rank(e9, svd(small).S, 4, 4, "small") == 0);
}

TEST_CASE("fixed rank and share-of-parameters rules; errors name the layer and the limit") {
  const Tensor none;
  RankRule fixed;
  fixed.rank = 31;
  CHECK(choose_rank(fixed, none, 64, 64, "a") == 31);
  fixed.rank = 32;  // 32 * (64 + 64) = 4096 = 64 * 64: no saving
  CHECK_THROWS_WITH_AS(
      choose_rank(fixed, none, 64, 64, "unet.mid.attn.self_attn.to_q"),
      doctest::Contains("layer unet.mid.attn.self_attn.to_q (64 -> 64, 4096 weights) allows at "
                        "most rank 31"),
      Error);
  RankRule share;
  share.param_share = 0.5;  // r (in + out) <= 0.5 in out
  CHECK(choose_rank(share, none, 64, 64, "a") == 16);
  CHECK(choose_rank(share, none, 64, 256, "a") == 25);  // 25 * 320 = 8000 <= 8192 < 26 * 320
  share.param_share = 0.25;
  CHECK(choose_rank(share, none, 64, 64, "a") == 8);
  share.param_share = 0.01;
  CHECK_THROWS_WITH_AS(choose_rank(share, none, 8, 8, "tiny"),
                       doctest::Contains("layer tiny (8 -> 8) needs 16"), Error);

  RankRule r;
  CHECK_THROWS_WITH_AS(
      r.validate(), doctest::Contains("exactly one of --rank r, --energy e, --params f (got none)"), Error);
  r.rank = 4;
  r.energy = 0.9;
  CHECK_THROWS_WITH_AS(r.validate(), doctest::Contains("got several"), Error);
  r = RankRule{};
  r.energy = 1.5;
  CHECK_THROWS_WITH_AS(r.validate(), doctest::Contains("--energy: 1.5 must be in (0, 1]"), Error);
  r = RankRule{};
  r.param_share = 1;
  CHECK_THROWS_WITH_AS(r.validate(), doctest::Contains("--params: 1 must be in (0, 1)"), Error);
  r = RankRule{};
  r.rank = 8;
  CHECK(r.str() == "rank 8");
}
