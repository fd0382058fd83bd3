// lora/lora_conv2d.cpp: y = conv(x, W0) + w (alpha / r) conv1x1(conv_kxk(x, A), B) (see lora_conv2d.h).
#include "lora/lora_conv2d.h"

#include "autograd/ops.h"

namespace ld::lora {

LoRAConv2d::LoRAConv2d(std::shared_ptr<nn::Conv2d> base)
    : LoRALayer(base, base->weight, base->bias),
      in_channels(base->in_channels),
      out_channels(base->out_channels),
      kernel_size(base->kernel_size),
      stride(base->stride),
      padding(base->padding) {}

// A: Conv2d(in -> r, k, stride, padding), Kaiming-uniform with fan_in = in*k*k; B: Conv2d(r -> out, 1x1).
std::pair<std::shared_ptr<nn::Module>, std::shared_ptr<nn::Module>> LoRAConv2d::make_pair(int64_t rank,
                                                                                          Generator& gen) {
  auto A = nn::make<nn::Conv2d>(in_channels, rank, kernel_size, stride, padding, false, gen);
  auto B = nn::make<nn::Conv2d>(rank, out_channels, 1, 1, 0, false, gen);
  return {A, B};
}

Var LoRAConv2d::forward(const Var& x) {
  if (x.dim() != 4 || x.size(1) != in_channels)
    fail("LoRAConv2d(", in_channels, ", ", out_channels, ", k=", kernel_size, "): input ",
         shape_str(x.shape()), " must be (N, ", in_channels, ", H, W)");
  return add_adapters(ag::conv2d(x, weight, bias, stride, padding), x);
}

}  // namespace ld::lora
