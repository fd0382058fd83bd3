// lora/lora_linear.cpp: h = W0 x + b + sum_i w_i (alpha_i / r_i) B_i A_i x (see lora_linear.h).
#include "lora/lora_linear.h"

#include "autograd/ops.h"

namespace ld::lora {

LoRALinear::LoRALinear(std::shared_ptr<nn::Linear> base)
    : LoRALayer(base, base->weight, base->bias), in_features(base->in_features) {}

// A = Linear(in -> r) and B = Linear(r -> out), no biases: their weights are (r, in) and (out, r).
// Linear's init is PyTorch's kaiming_uniform_(a = sqrt(5)), the init of A in Hu et al.'s code.
std::pair<std::shared_ptr<nn::Module>, std::shared_ptr<nn::Module>> LoRALinear::make_pair(int64_t rank,
                                                                                        Generator& gen) {
  auto A = nn::make<nn::Linear>(in_features, rank, false, gen);
  auto B = nn::make<nn::Linear>(rank, out_features(), false, gen);
  return {A, B};
}

Var LoRALinear::forward(const Var& x) {
  if (x.dim() < 1 || x.size(-1) != in_features)
    fail("LoRALinear(", in_features, ", ", out_features(), "): input ", shape_str(x.shape()), " must end in ",
         in_features);
  return add_adapters(ag::linear(x, weight, bias), x);
}

}  // namespace ld::lora
