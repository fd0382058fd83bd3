// Classifier-free guidance: guided_eps(x_t, t, y, s) = eps_u + s (eps_c - eps_u), with eps_c the
// prediction for the caption y and eps_u the one for the empty caption (<bos> alone); s = 1 is the
// conditional prediction, s = 0 the unconditional one. Checked against two plain forward passes.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"
#include "diffusion/loss.h"
#include "diffusion/model.h"
#include "diffusion/sampler.h"
#include "tensor/elementwise.h"
#include "tests/tensor_compare.h"

using namespace ld;
using namespace ld::diffusion;
using ld::test::max_abs_diff;

TEST_CASE("guided_eps = eps_u + s (eps_c - eps_u); s = 1 gives eps_c, s = 0 gives eps_u") {
  ModelConfig c = load_config("mnist-t2i-tiny");
  c.vocab_size = 40;
  Generator gen(3);
  TextToImageModel model(c, gen);
  model.eval();  // no dropout: every pass sees the same network
  ag::NoGrad no_grad;
  const int64_t B = 2, L = c.max_tokens;
  const int32_t t = 500;
  const NoiseSchedule sched = NoiseSchedule::linear(1000, 1e-4, 0.02);
  Tensor x = rand_normal({B, c.image_channels, c.image_size, c.image_size}, gen);
  Tensor ids = Tensor::zeros({B, L}, DType::I32);
  for (int64_t b = 0; b < B; ++b) {  // <bos> and two words, different per row
    ids.i32()[b * L] = 1;
    ids.i32()[b * L + 1] = static_cast<int32_t>(5 + b);
    ids.i32()[b * L + 2] = 9;
  }
  const Tensor tt = Tensor::from_ints({t, t}, {B});
  const Tensor ec = model.forward(ag::Var(x), tt, ids).value();
  const Tensor eu = model.forward(ag::Var(x), tt, empty_captions(B, L)).value();
  REQUIRE(max_abs_diff(ec, eu) > 1e-3);  // the caption changes the prediction, else nothing is tested
  for (float s : {0.0f, 1.0f, 2.5f, 7.0f}) {
    CAPTURE(s);
    const Tensor expect = add(eu, mul_scalar(sub(ec, eu), s));
    const Tensor got = guided_eps(model, sched, x, t, ids, s);
    CHECK(got.shape() == x.shape());
    CHECK(max_abs_diff(got, expect) < 1e-4 * (1.0 + s));
  }
}

TEST_CASE(
    "a v_prediction model: guided_eps = sqrt(abar) v_g + sqrt(1 - abar) x_t, v_g = v_u + s (v_c - v_u)") {
  ModelConfig c = load_config("mnist-t2i-tiny");
  c.vocab_size = 40;
  c.prediction_type = "v_prediction";
  Generator gen(6);
  TextToImageModel model(c, gen);
  model.eval();
  ag::NoGrad no_grad;
  const NoiseSchedule sched = NoiseSchedule::linear(1000, 1e-4, 0.02);
  const int64_t B = 2, L = c.max_tokens;
  Tensor x = rand_normal({B, c.image_channels, c.image_size, c.image_size}, gen);
  Tensor ids = Tensor::zeros({B, L}, DType::I32);
  for (int64_t b = 0; b < B; ++b) {
    ids.i32()[b * L] = 1;
    ids.i32()[b * L + 1] = static_cast<int32_t>(7 + b);
  }
  for (int32_t t : {0, 400, 999}) {
    const Tensor tt = Tensor::from_ints({t, t}, {B});
    const Tensor vc = model.forward(ag::Var(x), tt, ids).value();
    const Tensor vu = model.forward(ag::Var(x), tt, empty_captions(B, L)).value();
    const float a = static_cast<float>(std::sqrt(sched.alphabar[t])),
                n = static_cast<float>(std::sqrt(1.0 - sched.alphabar[t]));
    for (float s : {1.0f, 3.0f}) {
      CAPTURE(t);
      CAPTURE(s);
      const Tensor vg = add(vu, mul_scalar(sub(vc, vu), s));
      const Tensor expect = add(mul_scalar(vg, a), mul_scalar(x, n));
      CHECK(max_abs_diff(guided_eps(model, sched, x, t, ids, s), expect) < 1e-4 * (1.0 + s));
    }
  }
}
