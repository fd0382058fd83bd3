// nn/activation.h: parameter-free activations as modules, for Sequential.
//   SiLU(x) = x * sigmoid(x)        GELU(x) = x * Phi(x) (exact erf form)        ReLU(x) = max(x, 0)
#pragma once
#include "nn/module.h"

namespace ld::nn {

class SiLU : public Module {
 public:
  std::string type_name() const override { return "SiLU"; }
  Var forward(const Var& x) override;
};

class GELU : public Module {
 public:
  std::string type_name() const override { return "GELU"; }
  Var forward(const Var& x) override;
};

class ReLU : public Module {
 public:
  std::string type_name() const override { return "ReLU"; }
  Var forward(const Var& x) override;
};

}  // namespace ld::nn
