// The forward process and the samplers' single steps, checked against their equations.
#include <doctest/doctest.h>

#include <cmath>

#include "diffusion/ddim.h"
#include "diffusion/ddpm.h"
#include "diffusion/schedule.h"

using namespace ld;
using namespace ld::diffusion;

TEST_CASE("linear schedule: endpoints and alphabar") {
  NoiseSchedule s = NoiseSchedule::linear(1000, 1e-4, 0.02);
  CHECK(s.T() == 1000);
  CHECK(s.beta.front() == doctest::Approx(1e-4));
  CHECK(s.beta.back() == doctest::Approx(0.02));
  CHECK(s.alphabar[1] == doctest::Approx((1 - s.beta[0]) * (1 - s.beta[1])));
  CHECK(s.alphabar.back() < 1e-4);  // x_T is almost pure noise
  NoiseSchedule c = NoiseSchedule::cosine(1000);
  CHECK(c.alphabar.front() > 0.99);
  CHECK(c.alphabar.back() < 1e-3);
  CHECK_THROWS_AS(NoiseSchedule::make("quadratic", 1000, 1e-4, 0.02), Error);
}

TEST_CASE("q_sample mixes x0 and noise by sqrt(alphabar_t) and sqrt(1 - alphabar_t)") {
  NoiseSchedule s = NoiseSchedule::linear(1000, 1e-4, 0.02);
  Tensor x0 = Tensor::full({2, 1, 2, 2}, 0.5f), eps = Tensor::full({2, 1, 2, 2}, -1.0f);
  Tensor t = Tensor::from_ints({0, 999}, {2});
  Tensor xt = q_sample(s, x0, t, eps);
  CHECK(xt.at({0, 0, 0, 0}) == doctest::Approx(0.5 * std::sqrt(s.alphabar[0]) - std::sqrt(1 - s.alphabar[0])));
  CHECK(xt.at({1, 0, 1, 1}) == doctest::Approx(0.5 * std::sqrt(s.alphabar[999]) - std::sqrt(1 - s.alphabar[999])));
  CHECK_THROWS_AS(q_sample(s, x0, Tensor::from_ints({0, 1000}, {2}), eps), Error);
}

TEST_CASE("with the true noise, DDIM (eta 0) recovers x0 in one step from any t") {
  NoiseSchedule s = NoiseSchedule::linear(1000, 1e-4, 0.02);
  Generator g(1);
  Tensor x0 = rand_uniform({1, 1, 4, 4}, g, -0.9f, 0.9f), eps = rand_normal({1, 1, 4, 4}, g);
  Tensor xt = q_sample(s, x0, Tensor::from_ints({700}, {1}), eps);
  Tensor out = ddim_step(s, xt, eps, 700, -1, 0.0f, true, g);
  for (int i = 0; i < 16; ++i) CHECK(out.f32()[i] == doctest::Approx(x0.f32()[i]).epsilon(1e-4));
  // and to an intermediate step it lands exactly on q_sample(x0, t_prev, eps)
  Tensor mid = ddim_step(s, xt, eps, 700, 300, 0.0f, true, g);
  Tensor expect = q_sample(s, x0, Tensor::from_ints({300}, {1}), eps);
  for (int i = 0; i < 16; ++i) CHECK(mid.f32()[i] == doctest::Approx(expect.f32()[i]).epsilon(1e-4));
}

TEST_CASE("DDIM with eta 1 between neighbouring steps is the DDPM step, noise and clipping included") {
  // sigma_t(eta = 1)^2 = (1 - alphabar_prev) / (1 - alphabar_t) * beta_t, DDPM's posterior variance, and
  // sqrt(alphabar_prev) x0_hat + sqrt(1 - alphabar_prev - sigma_t^2) eps is then the posterior mean
  NoiseSchedule s = NoiseSchedule::linear(1000, 1e-4, 0.02);
  Generator g(3);
  Tensor x = rand_normal({1, 1, 4, 4}, g), eps = rand_normal({1, 1, 4, 4}, g);
  for (bool clip : {false, true})
    for (int64_t t : {1, 400, 999}) {
      CAPTURE(clip);
      CAPTURE(t);
      Generator a(7), b(7);  // the same z for both
      Tensor ddim = ddim_step(s, x, eps, t, t - 1, 1.0f, clip, a);
      Tensor ddpm = ddpm_step(s, x, eps, t, clip, b);
      for (int i = 0; i < 16; ++i) CHECK(ddim.f32()[i] == doctest::Approx(ddpm.f32()[i]).epsilon(1e-4));
    }
}

TEST_CASE("DDIM timesteps and the last DDPM step") {
  auto ts = ddim_timesteps(1000, 50);
  CHECK(ts.size() == 50);
  CHECK(ts.front() == 980);
  CHECK(ts.back() == 0);
  CHECK_THROWS_AS(ddim_timesteps(1000, 0), Error);
  NoiseSchedule s = NoiseSchedule::linear(1000, 1e-4, 0.02);
  Generator g(2);
  Tensor x0 = rand_uniform({1, 1, 2, 2}, g, -0.5f, 0.5f), eps = rand_normal({1, 1, 2, 2}, g);
  Tensor x1 = q_sample(s, x0, Tensor::from_ints({0}, {1}), eps);
  Tensor out = ddpm_step(s, x1, eps, 0, false, g);  // t = 0: no noise added, mean = x0_hat
  for (int i = 0; i < 4; ++i) CHECK(out.f32()[i] == doctest::Approx(x0.f32()[i]).epsilon(1e-3));
}
