// lora/lora_conv2d.h: LoRA for a frozen Conv2d, the "LoCon" form (an option beside the
// article's dense-layer adapters, for 1x1 and 3x3 convolutions).
//
//   y = conv(x, W0, b) + w (alpha / r) conv1x1(conv_kxk(x, A), B)
//
// A is a k x k convolution in -> r with the base layer's stride and padding (weight
// (r, in, k, k)), B a 1x1 convolution r -> out (weight (out, r, 1, 1)), zero at the start.
// As matrices, A is (r, in*k*k) and B is (out, r), so merging adds (alpha / r) B A,
// reshaped to (out, in, k, k), to W0 exactly as for a Linear.
#pragma once
#include "lora/lora_layer.h"
#include "nn/conv2d.h"

namespace ld::lora {

class LoRAConv2d : public LoRALayer {
 public:
  explicit LoRAConv2d(std::shared_ptr<nn::Conv2d> base);
  std::string type_name() const override { return "LoRAConv2d"; }
  // x (N, in, H, W) -> (N, out, H', W')
  Var forward(const Var& x) override;

  int64_t in_channels, out_channels, kernel_size, stride, padding;

 protected:
  std::pair<std::shared_ptr<nn::Module>, std::shared_ptr<nn::Module>> make_pair(int64_t rank,
                                                                                Generator& gen) override;
};

}  // namespace ld::lora
