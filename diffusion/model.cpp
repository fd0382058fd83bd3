// diffusion/model.cpp: eps_theta(x_t, t, y) of Eq. (2): the text encoder, then the UNet.
#include "diffusion/model.h"

namespace ld::diffusion {

TextToImageModel::TextToImageModel(const ModelConfig& cfg, Generator& gen)
    : config(cfg), text(nn::make<TextEncoder>(cfg, gen)), unet(nn::make<UNet>(cfg, gen)) {
  register_module("text", text);
  register_module("unet", unet);
}

ag::Var TextToImageModel::forward(const ag::Var& x_t, const Tensor& t, const Tensor& ids) {
  if (ids.dim() != 2 || ids.size(0) != x_t.size(0))
    fail("model: ", ids.dim() == 2 ? ids.size(0) : -1, " captions for a batch of ", x_t.size(0), " images");
  ag::Var context = text->forward(ids);
  return unet->forward(x_t, t, context, key_padding_keep(ids));
}

}  // namespace ld::diffusion
