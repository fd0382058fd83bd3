// diffusion/resample.cpp: the UNet's Downsample (3x3 conv, stride 2) and Upsample (nearest x2,
// then 3x3 conv).
#include "diffusion/resample.h"

#include "autograd/ops.h"

namespace ld::diffusion {

Downsample::Downsample(int64_t c, Generator& gen) : conv(nn::make<nn::Conv2d>(c, c, 3, 2, 1, true, gen)) {
  register_module("conv", conv);
}

// (B, C, H, W) -> (B, C, H/2, W/2) (ceil for odd sides), e.g. (B, 32, 28, 28) -> (B, 32, 14, 14)
ag::Var Downsample::forward(const ag::Var& x) { return conv->forward(x); }

Upsample::Upsample(int64_t c, Generator& gen) : conv(nn::make<nn::Conv2d>(c, c, 3, 1, 1, true, gen)) {
  register_module("conv", conv);
}

// (B, C, H, W) -> nearest x2 (B, C, 2H, 2W) -> conv (B, C, 2H, 2W), e.g. 7x7 -> 14x14
// A plain Conv2d upsamples as it reads (ag::upsample_nearest2x_conv2d: while sampling the upsampled
// tensor never goes to memory); a replaced one (LoRA, low-rank compression) gets the upsampled tensor.
ag::Var Upsample::forward(const ag::Var& x) {
  if (const auto c = std::dynamic_pointer_cast<nn::Conv2d>(conv))
    return ag::upsample_nearest2x_conv2d(x, c->weight, c->bias, c->stride, c->padding);
  return conv->forward(ag::upsample_nearest2x(x));
}

}  // namespace ld::diffusion
