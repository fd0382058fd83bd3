// Tests of nn/lr_schedule, nn/clip_grad and nn/ema.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"
#include "nn/clip_grad.h"
#include "nn/ema.h"
#include "nn/linear.h"
#include "nn/lr_schedule.h"

using namespace ld;
using namespace ld::nn;

TEST_CASE("learning-rate schedules: constant, linear warm-up, cosine") {
  LrSchedule c;
  c.base_lr = 0.1;
  CHECK(c.at(0) == 0.1);
  CHECK(c.at(1000) == 0.1);

  LrSchedule w = c;
  w.warmup_steps = 4;
  CHECK(w.at(0) == doctest::Approx(0.025));
  CHECK(w.at(3) == doctest::Approx(0.1));
  CHECK(w.at(10) == 0.1);

  LrSchedule cos = w;
  cos.kind = LrSchedule::Kind::Cosine;
  cos.total_steps = 14;
  cos.min_lr = 0.01;
  CHECK(cos.at(1) == doctest::Approx(0.05));
  CHECK(cos.at(4) == doctest::Approx(0.1));                // end of warm-up: the peak
  CHECK(cos.at(9) == doctest::Approx(0.01 + 0.09 * 0.5));  // half way: the mean of peak and floor
  CHECK(cos.at(14) == doctest::Approx(0.01));              // the floor
  CHECK(cos.at(100) == doctest::Approx(0.01));
  CHECK(parse_lr_schedule_kind("cosine") == LrSchedule::Kind::Cosine);
  CHECK_THROWS_WITH_AS(parse_lr_schedule_kind("step"), doctest::Contains("constant or cosine"), Error);
}

TEST_CASE("clip_grad_norm scales all gradients by max_norm / total when total is larger") {
  Var a(Tensor::zeros({2}), true), b(Tensor::zeros({1}), true), unused(Tensor::zeros({3}), true);
  a.node()->accumulate(Tensor::from_vector({3, 0}, {2}));
  b.node()->accumulate(Tensor::from_vector({4}, {1}));
  double total = clip_grad_norm({a, b, unused}, 10.0);
  CHECK(total == doctest::Approx(5.0));
  CHECK(a.grad().to_vector() == std::vector<float>{3, 0});  // under the limit: untouched
  total = clip_grad_norm({a, b, unused}, 1.0);
  CHECK(total == doctest::Approx(5.0));
  CHECK(a.grad().at({0}) == doctest::Approx(0.6).epsilon(1e-5));
  CHECK(b.grad().at({0}) == doctest::Approx(0.8).epsilon(1e-5));
  CHECK(clip_grad_norm({a, b}, 100.0) == doctest::Approx(1.0).epsilon(1e-5));
}

TEST_CASE("EMA follows shadow = d * shadow + (1 - d) * param and copies into a model") {
  Generator gen(1);
  Linear model(2, 2, true, gen), other(2, 2, true, gen);
  Ema ema(model, 0.9, /*warmup=*/false);
  std::vector<float> w0 = model.weight.value().to_vector();
  model.weight.set_value(Tensor::zeros({2, 2}));
  ema.update(model);
  ema.update(model);
  CHECK(ema.updates() == 2);
  std::vector<float> s = ema.state_dict().at("weight").to_vector();
  for (size_t i = 0; i < 4; ++i) CHECK(s[i] == doctest::Approx(0.81 * w0[i]).epsilon(1e-5));
  ema.copy_to(other);
  CHECK(other.weight.value().to_vector() == s);
  CHECK(model.weight.value().to_vector() == std::vector<float>(4, 0.0f));  // the model itself is untouched

  Ema restored(model, 0.9);
  restored.load_state_dict(ema.state_dict());
  CHECK(restored.state_dict().at("weight").to_vector() == s);
  StateDict bad = ema.state_dict();
  bad.erase("bias");
  CHECK_THROWS_WITH_AS(restored.load_state_dict(bad), doctest::Contains("bias"), Error);
}

TEST_CASE("EMA warm-up: update n uses min(decay, (1 + n) / (10 + n)), and set_updates resumes it") {
  Generator gen(2);
  Linear model(2, 2, true, gen);
  Ema ema(model, 0.999);
  CHECK(ema.decay_at(0) == doctest::Approx(0.1));
  CHECK(ema.decay_at(90) == doctest::Approx(91.0 / 100.0));
  CHECK(ema.decay_at(100000) == doctest::Approx(0.999));
  const std::vector<float> w0 = model.weight.value().to_vector();
  model.weight.set_value(Tensor::zeros({2, 2}));
  ema.update(model);  // d = 0.1: the shadow keeps a tenth of the initial weights
  ema.update(model);  // d = 2/11
  std::vector<float> s = ema.state_dict().at("weight").to_vector();
  for (size_t i = 0; i < 4; ++i) CHECK(s[i] == doctest::Approx(0.1 * (2.0 / 11.0) * w0[i]).epsilon(1e-5));
  // a resumed EMA continues with the decay of its step, not the first one
  Ema resumed(model, 0.999);
  resumed.load_state_dict(ema.state_dict());
  resumed.set_updates(ema.updates());
  model.weight.set_value(Tensor::ones({2, 2}));
  ema.update(model);
  resumed.update(model);
  CHECK(resumed.state_dict().at("weight").to_vector() == ema.state_dict().at("weight").to_vector());
}
