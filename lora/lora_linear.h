// lora/lora_linear.h: a frozen Linear with low-rank adapters beside it (article Fig. 1).
//
//        x (..., in)
//        |--------------------------.
//        v                          v  (dropout)
//   [ W0 (out, in), frozen ]   [ A (r, in) ]   down-projection, Kaiming-uniform
//        |                          v
//        |                     [ B (out, r) ]  up-projection, zero at the start
//        v                          |  * w (alpha / r)
//        (+) <----------------------'
//        v
//   h = W0 x + b + w (alpha / r) B A x                           Eq. (LoRA)
//
// Backward (s = w alpha / r): dA = s (B^T dh) x^T, dB = s dh (A x)^T, dx = W0^T dh + s A^T B^T dh;
// the frozen W0 gets no dW GEMM. forward() runs it as one fused op (lora_linear.cpp), or, with
// an active adapter dropout or fused = false, composed from ag::linear, scale and add.
#pragma once
#include "lora/lora_layer.h"
#include "nn/linear.h"

namespace ld::lora {

class LoRALinear : public LoRALayer {
 public:
  // Wraps `base`, sharing its weight and bias; no adapter yet (add_adapter adds one).
  explicit LoRALinear(std::shared_ptr<nn::Linear> base);
  std::string type_name() const override { return "LoRALinear"; }
  // x (..., in) -> (..., out)
  Var forward(const Var& x) override;

  int64_t in_features;  // out_features() comes from the weight
  // true: one fused op (forward and backward in lora_linear.cpp); false: composed from
  // ag::linear, scale and add (LoRALayer::add_adapters). Same values; tests compare the two.
  bool fused = true;

 protected:
  std::pair<std::shared_ptr<nn::Module>, std::shared_ptr<nn::Module>> make_pair(int64_t rank,
                                                                                Generator& gen) override;
};

}  // namespace ld::lora
