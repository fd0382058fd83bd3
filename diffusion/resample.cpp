// diffusion/resample.cpp: the UNet's Downsample (3x3 conv, stride 2) and Upsample (nearest x2,
// then 3x3 conv).
#include "diffusion/resample.h"

#include "autograd/ops.h"

namespace ld::diffusion {

Downsample::Downsample(int64_t c, Generator& gen) : conv(nn::make<nn::Conv2d>(c, c, 3, 2, 1, true, gen)) {
  register_module("conv", conv);
}

ag::Var Downsample::forward(const ag::Var& x) { return conv->forward(x); }

Upsample::Upsample(int64_t c, Generator& gen) : conv(nn::make<nn::Conv2d>(c, c, 3, 1, 1, true, gen)) {
  register_module("conv", conv);
}

ag::Var Upsample::forward(const ag::Var& x) { return conv->forward(ag::upsample_nearest2x(x)); }

}  // namespace ld::diffusion
