// nn/adam.h: Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), as PyTorch computes them.
// For update t of a parameter p with gradient g:
//   Adam:  g <- g + weight_decay * p            (L2 penalty folded into the gradient)
//   AdamW: p <- p * (1 - lr * weight_decay)     (decoupled weight decay)
//   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// State per parameter: exp_avg (m), exp_avg_sq (v).
#pragma once
#include "nn/optimizer.h"

namespace ld::nn {

// Doubles, like PyTorch's Python floats; each is rounded to float where PyTorch rounds it.
struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;
};

class Adam : public Optimizer {
 public:
  Adam(NamedParameters params, float lr = 1e-3f, AdamOptions opt = {});
  std::string type_name() const override { return "Adam"; }

  AdamOptions options;

 protected:
  Adam(NamedParameters params, float lr, AdamOptions opt, bool decoupled);
  std::vector<std::string> state_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  void update(Slot& s, float* p, const float* g, int64_t n) override;

 private:
  bool decoupled_;  // AdamW
};

// AdamW: PyTorch's defaults, weight decay 0.01.
inline AdamOptions adamw_defaults() {
  AdamOptions o;
  o.weight_decay = 0.01;
  return o;
}

class AdamW : public Adam {
 public:
  AdamW(NamedParameters params, float lr = 1e-3f, AdamOptions opt = adamw_defaults())
      : Adam(std::move(params), lr, opt, true) {}
  std::string type_name() const override { return "AdamW"; }
};

}  // namespace ld::nn
