// Tests of diffusion/denoiser_error (`loradiff denoiser-error`): an exact denoiser misses nothing, one
// that returns 90 % of the noise shows shrink = 0.1 E|z| in every |z| range, ink pixels are left out.
#include <doctest/doctest.h>

#include <cmath>

#include "diffusion/denoiser_error.h"
#include "tensor/elementwise.h"

using namespace ld;
using namespace ld::diffusion;

namespace {

NoiseSchedule schedule() { return NoiseSchedule::make("linear", 1000, 1e-4, 0.02); }

// For x0 = -1 everywhere the noise is known from x_t: z = (x_t + sqrt(abar_t)) / sqrt(1 - abar_t).
EpsPredictor exact_times(const NoiseSchedule& s, float factor) {
  return [&s, factor](const Tensor& x_t, const Tensor& t) {
    const double ab = s.alphabar[t.i32()[0]];
    return mul_scalar(affine(x_t, 1.0f, static_cast<float>(std::sqrt(ab))),
                      factor / static_cast<float>(std::sqrt(1.0 - ab)));
  };
}

}  // namespace

TEST_CASE("an exact denoiser misses nothing; one returning 90 % of the noise shrinks by 0.1 |z|") {
  const NoiseSchedule s = schedule();
  const Tensor x0 = Tensor::full({64, 1, 28, 28}, -1.0f);
  const auto exact = denoiser_error(s, x0, exact_times(s, 1.0f), {10, 500}, 1);
  REQUIRE(exact.size() == 6);
  int64_t pixels = 0;
  for (const auto& r : exact) {
    CAPTURE(r.t);
    CAPTURE(r.z_range);
    pixels += r.pixels;
    CHECK(r.rms < 1e-3);
    CHECK(std::fabs(r.shrink) < 1e-3);
  }
  CHECK(pixels == 2 * 64 * 784);
  CHECK(exact[2].pixels > 20);  // |z| >= 3: 0.27 % of 50,176 pixels
  CHECK(exact[0].x0_factor == doctest::Approx(std::sqrt(1 - s.alphabar[10]) / std::sqrt(s.alphabar[10])));

  const auto shrunk = denoiser_error(s, x0, exact_times(s, 0.9f), {10}, 1);
  // E|z| given the range: ~0.75 below 2, ~2.35 between 2 and 3, ~3.3 above 3
  CHECK(shrunk[0].shrink == doctest::Approx(0.1 * 0.75).epsilon(0.05));
  CHECK(shrunk[1].shrink == doctest::Approx(0.235).epsilon(0.05));
  CHECK(shrunk[2].shrink > 0.3);
  CHECK(shrunk[2].shrink < 0.36);
  CHECK(shrunk[2].rms ==
        doctest::Approx(shrunk[2].shrink).epsilon(0.05));  // same sign everywhere: rms ~ mean
}

TEST_CASE("ink pixels are left out; bad timesteps and shapes are refused") {
  const NoiseSchedule s = schedule();
  Tensor x0 = Tensor::full({2, 1, 4, 4}, -1.0f);
  for (int64_t i = 0; i < 16; ++i) x0.f32()[i] = 0.5f;  // the first image is all ink
  const auto rows = denoiser_error(s, x0, exact_times(s, 1.0f), {5}, 1);
  CHECK(rows[0].pixels + rows[1].pixels + rows[2].pixels == 16);
  CHECK_THROWS_WITH_AS(denoiser_error(s, x0, exact_times(s, 1.0f), {1000}, 1),
                       doctest::Contains("timestep 1000 is outside 0..999"), Error);
  CHECK_THROWS_WITH_AS(denoiser_error(s, Tensor::zeros({4, 4}), exact_times(s, 1.0f), {5}, 1),
                       doctest::Contains("must be (B, C, H, W)"), Error);
}
