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
// Backward: the adapter path is two ag::linear ops, so dA = (w alpha / r) (B^T dh) x^T and
// dB = (w alpha / r) dh (A x)^T come from ag::linear's backward; the frozen W0 gets no dW
// GEMM (ag::linear skips it), only dx = W0^T dh + A^T B^T dh (w alpha / r) flows on.
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

 protected:
  std::pair<std::shared_ptr<nn::Module>, std::shared_ptr<nn::Module>> make_pair(int64_t rank,
                                                                                Generator& gen) override;
};

}  // namespace ld::lora
