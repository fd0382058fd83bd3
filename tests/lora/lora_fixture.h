// tests/lora/lora_fixture.h: what the LoRA tests share: the untrained tiny model, adapters on it
// that look trained (random B instead of B = 0), and a short deterministic DDIM run.
#pragma once
#include <functional>
#include <memory>

#include "data/vocab.h"
#include "diffusion/model_io.h"
#include "diffusion/sampler.h"
#include "lora/attach.h"
#include "tensor/elementwise.h"

namespace ld::test {

// The `mnist-t2i-tiny` model, untrained, weights drawn from `seed`.
inline std::unique_ptr<diffusion::TextToImageModel> tiny_model(uint64_t seed = 1) {
  return diffusion::build_model(diffusion::load_config("mnist-t2i-tiny"), data::Vocabulary::builtin(), seed);
}

// B of every layer's first adapter set to scale * N(0, 1) drawn from Generator(seed): a fresh adapter
// (B = 0) changes nothing, so tests that need an adapter with an effect use this.
inline void randomize_up(nn::Module& model, uint64_t seed, float scale = 0.3f) {
  Generator gen(seed);
  for (auto& [_, l] : lora::lora_layers(model))
    l->adapter(0).B().set_value(mul_scalar(rand_normal(l->adapter(0).B().shape(), gen), scale));
}

// Two captions' ids: "<bos> seven" and "<bos> nine" (builtin vocabulary ids 7 and 9), the rest <pad>.
inline Tensor two_prompts() {
  Tensor ids = Tensor::zeros({2, 16}, DType::I32);
  ids.i32()[0] = ids.i32()[16] = 1;
  ids.i32()[1] = 7;
  ids.i32()[17] = 9;
  return ids;
}

// `steps` DDIM steps (guidance 3, seed 5) of `model` for two_prompts().
inline Tensor sample_tiny(diffusion::TextToImageModel& model, int64_t steps = 4,
                          std::function<void(int64_t, int64_t)> before_step = {}) {
  const diffusion::ModelConfig& cfg = model.config;
  auto s = diffusion::NoiseSchedule::make(cfg.beta_schedule, cfg.timesteps, cfg.beta_start, cfg.beta_end);
  diffusion::SampleOptions so;
  so.steps = steps;
  so.seed = 5;
  so.before_step = std::move(before_step);
  return diffusion::sample(model, s, two_prompts(), so);
}

}  // namespace ld::test
