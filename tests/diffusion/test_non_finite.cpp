// A model that computes NaN or Inf must fail loudly, never be drawn as a black image:
// load_model refuses a checkpoint holding a non-finite weight (naming the tensor), and
// sampling stops at the first step whose images are not finite (naming the step and model).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "data/tokenizer.h"
#include "data/vocab.h"
#include "diffusion/model_io.h"
#include "diffusion/sampler.h"
#include "tensor/elementwise.h"
#include "tensor/file_io.h"
#include "tests/temp_dir.h"

using namespace ld;
using namespace ld::diffusion;

namespace {

std::unique_ptr<TextToImageModel> tiny_model() {
  return build_model(load_config("mnist-t2i-tiny"), data::Vocabulary::builtin(), 0);
}

Tensor prompt_ids(int64_t n) {
  return data::tokenize_batch(data::Vocabulary::builtin(),
                              std::vector<std::string>(n, "a handwritten digit seven"))
      .ids;
}

}  // namespace

TEST_CASE("load_model refuses a checkpoint with one NaN or Inf weight, naming the tensor") {
  ld::test::TempDir tmp("test-non-finite");
  auto model = tiny_model();
  save_model(tmp / "ok.safetensors", *model, data::Vocabulary::builtin());
  CHECK_NOTHROW(load_model(tmp / "ok.safetensors"));
  Tensor w = model->get_module("unet.mid.attn.self_attn.to_q")->parameter("weight").value();
  w.f32()[17] = std::numeric_limits<float>::quiet_NaN();
  save_model(tmp / "nan.safetensors", *model, data::Vocabulary::builtin());
  const std::string want = "model '" + (tmp / "nan.safetensors") +
                           "': tensor 'unet.mid.attn.self_attn.to_q.weight' holds nan at element 17";
  CHECK_THROWS_WITH_AS(load_model(tmp / "nan.safetensors"), doctest::Contains(want.c_str()), Error);
  w.f32()[17] = std::numeric_limits<float>::infinity();
  save_model(tmp / "inf.safetensors", *model, data::Vocabulary::builtin());
  CHECK_THROWS_WITH_AS(load_model(tmp / "inf.safetensors"), doctest::Contains("holds inf at element 17"),
                       Error);
}

TEST_CASE("sampling fails at the first non-finite step, naming the step and the model") {
  auto model = tiny_model();
  const NoiseSchedule s = NoiseSchedule::make(model->config.beta_schedule, model->config.timesteps,
                                              model->config.beta_start, model->config.beta_end);
  SampleOptions so;
  so.steps = 4;
  so.source = model_source("m.safetensors", {"a.safetensors:0.5"});
  CHECK(so.source == "model 'm.safetensors' with --lora a.safetensors:0.5");
  const Tensor ok = sample(*model, s, prompt_ids(2), so);
  CHECK_FALSE(has_non_finite(ok));

  Tensor bias = model->get_module("unet.out_conv")->parameter("bias").value();
  bias.f32()[0] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(
      sample(*model, s, prompt_ids(2), so),
      doctest::Contains("the model produced non-finite values at sampling step 1 of 4 (model "
                        "'m.safetensors' with --lora a.safetensors:0.5)"),
      Error);
  so.sampler = "ddpm";
  const std::string ddpm = "at sampling step 1 of " + std::to_string(s.T());
  CHECK_THROWS_WITH_AS(sample(*model, s, prompt_ids(1), so), doctest::Contains(ddpm.c_str()), Error);
  // the check on its own: a later step, an infinity
  Tensor x = Tensor::zeros({1, 1, 4, 4});
  CHECK_NOTHROW(check_sampling_step(x, 37, 50, so));
  x.f32()[3] = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(check_sampling_step(x, 37, 50, so), doctest::Contains("at sampling step 37 of 50"),
                       Error);
}
