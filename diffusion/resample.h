// diffusion/resample.h: changing resolution inside the UNet.
//   Downsample: conv 3x3, stride 2, padding 1           28x28 -> 14x14 -> 7x7
//   Upsample:   nearest-neighbour x2, then conv 3x3     7x7 -> 14x14 -> 28x28
#pragma once
#include "nn/conv2d.h"

namespace ld::diffusion {

class Downsample : public nn::Module {
 public:
  Downsample(int64_t channels, Generator& gen);
  std::string type_name() const override { return "Downsample"; }
  ag::Var forward(const ag::Var& x) override;
  std::shared_ptr<nn::Module> conv;
};

class Upsample : public nn::Module {
 public:
  Upsample(int64_t channels, Generator& gen);
  std::string type_name() const override { return "Upsample"; }
  ag::Var forward(const ag::Var& x) override;
  std::shared_ptr<nn::Module> conv;
};

}  // namespace ld::diffusion
