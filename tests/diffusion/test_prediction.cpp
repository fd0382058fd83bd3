// What the network predicts (diffusion/prediction.h): the v target and the v -> eps map invert each
// other at every timestep, "epsilon" is the identity, and the config's prediction_type is stored,
// read back (absent = "epsilon", the checkpoints written before it) and checked.
#include <doctest/doctest.h>

#include <cmath>

#include "diffusion/config.h"
#include "diffusion/prediction.h"
#include "diffusion/sampler.h"
#include "tensor/error.h"
#include "tensor/random.h"
#include "tests/tensor_compare.h"

using namespace ld;
using namespace ld::diffusion;
using ld::test::max_abs_diff;

TEST_CASE("v = sqrt(abar) eps - sqrt(1 - abar) x0, and eps_from_prediction(v) gives eps and x0 back") {
  for (const char* kind : {"linear", "cosine"}) {
    const NoiseSchedule s = NoiseSchedule::make(kind, 1000, 1e-4, 0.02);
    Generator gen(9);
    const Tensor x0 = rand_uniform({1, 3, 4, 4}, gen, -1.0f, 1.0f), eps = rand_normal({1, 3, 4, 4}, gen);
    for (int32_t t : {0, 1, 250, 500, 900, 999}) {
      CAPTURE(kind);
      CAPTURE(t);
      const Tensor tt = Tensor::from_ints({t}, {1});
      const Tensor xt = q_sample(s, x0, tt, eps);
      const Tensor v = prediction_target("v_prediction", s, x0, eps, tt);
      const double a = std::sqrt(s.alphabar[t]), n = std::sqrt(1.0 - s.alphabar[t]);
      for (int64_t i = 0; i < v.numel(); ++i)
        CHECK(v.f32()[i] == doctest::Approx(a * eps.f32()[i] - n * x0.f32()[i]).epsilon(1e-6));
      const Tensor e = eps_from_prediction("v_prediction", s, xt, v, t);
      CHECK(max_abs_diff(e, eps) < 1e-5);
      // x0_hat from that eps is x0 (below 1 it is not clipped); at t = 999 dividing by sqrt(abar) =
      // 0.006 magnifies the float rounding of x_t - n eps
      CHECK(max_abs_diff(predict_x0(s, xt, e, t), x0) < (t >= 900 ? 5e-3 : 1e-4));
      // epsilon: the target is eps itself and the output is used as it is
      CHECK(max_abs_diff(prediction_target("epsilon", s, x0, eps, tt), eps) == 0.0);
      CHECK(max_abs_diff(eps_from_prediction("epsilon", s, xt, v, t), v) == 0.0);
    }
  }
}

TEST_CASE("prediction_type: stored in the config, absent reads as epsilon, anything else is refused") {
  ModelConfig c = load_config("mnist-t2i-tiny");
  CHECK(c.prediction_type == "epsilon");  // the article's loss (1)
  c.prediction_type = "v_prediction";
  auto j = c.to_json();
  CHECK(ModelConfig::from_json(j, "x.json").prediction_type == "v_prediction");
  j.erase("prediction_type");
  CHECK(ModelConfig::from_json(j, "old.json").prediction_type == "epsilon");
  j["prediction_type"] = "sample";
  CHECK_THROWS_WITH_AS(ModelConfig::from_json(j, "my.json"),
                       doctest::Contains("config my.json: field 'prediction_type' must be \"epsilon\" or "
                                         "\"v_prediction\""),
                       Error);
  j["prediction_type"] = 1;
  CHECK_THROWS_WITH_AS(ModelConfig::from_json(j, "my.json"),
                       doctest::Contains("'prediction_type' has the wrong type"), Error);
  const NoiseSchedule s = NoiseSchedule::linear(10, 1e-4, 0.02);
  const Tensor x = Tensor::zeros({1, 1, 2, 2});
  CHECK_THROWS_WITH_AS(eps_from_prediction("x0", s, x, x, 3),
                       doctest::Contains("prediction_type 'x0' is not known"), Error);
  CHECK_THROWS_WITH_AS(prediction_target("v_prediction", s, x, x, Tensor::from_ints({10}, {1})),
                       doctest::Contains("timestep 10 outside [0, 10)"), Error);
}
