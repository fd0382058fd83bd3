// diffusion/model.h: the text-to-image model: text encoder + UNet, eps_theta(x_t, t, y), Eq. (2).
// Parameters are named `text.*` and `unet.*` as in docs/reference-model.md.
#pragma once
#include "diffusion/text_encoder.h"
#include "diffusion/unet.h"

namespace ld::diffusion {

class TextToImageModel : public nn::Module {
 public:
  // cfg.vocab_size must be set (the vocabulary's size). Parameters are initialised from gen.
  TextToImageModel(const ModelConfig& cfg, Generator& gen);
  std::string type_name() const override { return "TextToImageModel"; }
  // eps_theta(x_t, t, y): x_t (B, C, H, W), t I32 (B), token ids I32 (B, max_tokens)
  ag::Var forward(const ag::Var& x_t, const Tensor& t, const Tensor& ids);

  ModelConfig config;
  std::shared_ptr<TextEncoder> text;
  std::shared_ptr<UNet> unet;
};

}  // namespace ld::diffusion
