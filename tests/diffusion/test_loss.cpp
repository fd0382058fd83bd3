// The training objective, Eq. (1): diffusion_loss draws t ~ U{0..T-1}, eps ~ N(0, I) and the caption
// drop u ~ U(0, 1) (in that order, from the generator it is given), noises x0 into
// x_t = sqrt(alphabar_t) x0 + sqrt(1 - alphabar_t) eps, replaces the captions with u < p_uncond by
// the empty one and returns the mean of (eps - eps_theta(x_t, t, y))^2. Recomputed here by hand.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"
#include "diffusion/loss.h"
#include "diffusion/model.h"

using namespace ld;
using namespace ld::diffusion;

TEST_CASE(
    "diffusion_loss = mean (eps - eps_theta(x_t, t, y))^2 on its own draws of t, eps and the caption drop") {
  ModelConfig c = load_config("mnist-t2i-tiny");
  c.vocab_size = 40;
  Generator gen(4);
  TextToImageModel model(c, gen);
  model.eval();  // no dropout, so the hand computation sees the same network
  ag::NoGrad no_grad;
  const NoiseSchedule s = NoiseSchedule::linear(1000, 1e-4, 0.02);
  const int64_t B = 4, L = c.max_tokens;
  const Tensor x0 = rand_uniform({B, c.image_channels, c.image_size, c.image_size}, gen, -1.0f, 1.0f);
  Tensor ids = Tensor::zeros({B, L}, DType::I32);
  for (int64_t b = 0; b < B; ++b) {
    ids.i32()[b * L] = 1;  // <bos>
    ids.i32()[b * L + 1] = static_cast<int32_t>(4 + b);
    ids.i32()[b * L + 2] = 11;
  }
  const int64_t per = x0.numel() / B;
  std::vector<double> losses;
  for (float p : {0.0f, 0.5f, 1.0f}) {
    CAPTURE(p);
    Generator g1(21), g2(21);
    const double got = diffusion_loss(model, s, x0, ids, p, g1).value().item();
    // the same draws, in the same order
    const Tensor t = rand_int({B}, 0, s.T(), g2);
    const Tensor eps = rand_normal(x0.shape(), g2);
    const Tensor u = rand_uniform({B}, g2);
    Tensor y = ids.clone(), xt = Tensor::empty(x0.shape());
    int dropped = 0;
    for (int64_t b = 0; b < B; ++b) {
      if (u.f32()[b] < p) {
        ++dropped;
        for (int64_t i = 0; i < L; ++i) y.i32()[b * L + i] = i == 0 ? 1 : 0;
      }
      const double ab = s.alphabar[t.i32()[b]];
      for (int64_t i = 0; i < per; ++i)
        xt.f32()[b * per + i] = static_cast<float>(std::sqrt(ab) * x0.f32()[b * per + i] +
                                                   std::sqrt(1 - ab) * eps.f32()[b * per + i]);
    }
    if (p == 0.5f) CHECK((dropped > 0 && dropped < B));  // this seed drops some captions, not all
    const Tensor pred = model.forward(ag::Var(xt), t, y).value();
    double sum = 0;
    for (int64_t i = 0; i < x0.numel(); ++i) {
      const double d = double(eps.f32()[i]) - pred.f32()[i];
      sum += d * d;
    }
    const double expect = sum / static_cast<double>(x0.numel());
    CHECK(got == doctest::Approx(expect).epsilon(1e-5));
    losses.push_back(got);
  }
  CHECK(losses[0] != losses[2]);  // dropping the captions changes the loss: the caption is used
}

TEST_CASE("a v_prediction model's loss = mean (v - v_theta)^2 with v = sqrt(abar) eps - sqrt(1 - abar) x0") {
  ModelConfig c = load_config("mnist-t2i-tiny");
  c.vocab_size = 40;
  c.prediction_type = "v_prediction";
  Generator gen(5);
  TextToImageModel model(c, gen);
  model.eval();
  ag::NoGrad no_grad;
  const NoiseSchedule s = NoiseSchedule::linear(1000, 1e-4, 0.02);
  const int64_t B = 3, L = c.max_tokens;
  const Tensor x0 = rand_uniform({B, c.image_channels, c.image_size, c.image_size}, gen, -1.0f, 1.0f);
  Tensor ids = Tensor::zeros({B, L}, DType::I32);
  for (int64_t b = 0; b < B; ++b) ids.i32()[b * L] = 1;
  Generator g1(8), g2(8);
  const double got = diffusion_loss(model, s, x0, ids, 0.0f, g1).value().item();
  const Tensor t = rand_int({B}, 0, s.T(), g2);
  const Tensor eps = rand_normal(x0.shape(), g2);
  const int64_t per = x0.numel() / B;
  Tensor xt = Tensor::empty(x0.shape());
  std::vector<double> v(static_cast<size_t>(x0.numel()));
  for (int64_t b = 0; b < B; ++b) {
    const double ab = s.alphabar[t.i32()[b]];
    for (int64_t i = 0; i < per; ++i) {
      const int64_t k = b * per + i;
      xt.f32()[k] = static_cast<float>(std::sqrt(ab) * x0.f32()[k] + std::sqrt(1 - ab) * eps.f32()[k]);
      v[static_cast<size_t>(k)] = std::sqrt(ab) * eps.f32()[k] - std::sqrt(1 - ab) * x0.f32()[k];
    }
  }
  const Tensor pred = model.forward(ag::Var(xt), t, ids).value();
  double sum = 0, sum_eps = 0;
  for (int64_t i = 0; i < x0.numel(); ++i) {
    const double d = v[static_cast<size_t>(i)] - pred.f32()[i], e = double(eps.f32()[i]) - pred.f32()[i];
    sum += d * d;
    sum_eps += e * e;
  }
  CHECK(got == doctest::Approx(sum / static_cast<double>(x0.numel())).epsilon(1e-5));
  CHECK(std::fabs(got - sum_eps / static_cast<double>(x0.numel())) > 1e-3);  // not the eps loss
}
