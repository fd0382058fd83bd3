// exp_f32 and erf_f32 (tensor/vec_math.h) against the C library on a dense grid, and at
// the edges: underflow to 0, overflow to inf, NaN, and the masked -inf of attention.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "tensor/vec_math.h"

using namespace ld;

TEST_CASE("exp_f32 is within 2 ulp (relative 2.4e-7) of std::exp on [-86, 88.7]") {
  double worst = 0;
  for (double x = -86.0; x <= 88.7; x += 0.000731) {
    const float xf = static_cast<float>(x);
    const double ref = std::exp(static_cast<double>(xf));
    worst = std::max(worst, std::fabs(exp_f32(xf) - ref) / ref);
  }
  CHECK(worst < 2.4e-7);
  CHECK(exp_f32(0.0f) == 1.0f);
}

TEST_CASE("exp_f32 edges: underflow, overflow, infinities, NaN") {
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(exp_f32(-100.0f) == 0.0f);
  CHECK(exp_f32(-inf) == 0.0f);  // masked attention logits
  CHECK(exp_f32(89.0f) == inf);
  CHECK(exp_f32(inf) == inf);
  CHECK(std::isfinite(exp_f32(88.7f)));
  CHECK(std::isnan(exp_f32(std::nanf(""))));
}

TEST_CASE("erf_f32 is within 5e-7 of std::erf, odd, and saturates") {
  double worst = 0;
  for (double x = -6.0; x <= 6.0; x += 0.0001) {
    const float xf = static_cast<float>(x);
    worst = std::max(worst, std::fabs(static_cast<double>(erf_f32(xf)) - std::erf(static_cast<double>(xf))));
  }
  CHECK(worst < 5e-7);  // 1.5e-7 of the formula plus float rounding of its terms
  CHECK(erf_f32(-0.7f) == -erf_f32(0.7f));
  CHECK(erf_f32(20.0f) == 1.0f);
  CHECK(erf_f32(-20.0f) == -1.0f);
}
