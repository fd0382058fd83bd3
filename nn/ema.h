// nn/ema.h: exponential moving average of a model's weights (Polyak averaging),
// the weights diffusion models usually sample with.
//   shadow <- decay * shadow + (1 - decay) * param        after each optimizer step
// The shadow is keyed by parameter name; copy_to() loads it into a module of the
// same structure (e.g. for sampling), state_dict() saves it with a checkpoint.
#pragma once
#include "nn/module.h"

namespace ld::nn {

class Ema {
 public:
  Ema(const Module& model, double decay);  // the shadow starts as a copy of the weights
  void update(const Module& model);
  void copy_to(Module& model) const;  // strict: same names and shapes
  const StateDict& state_dict() const { return shadow_; }
  void load_state_dict(const StateDict& shadow);  // same names and shapes as the current shadow
  int64_t updates() const { return updates_; }

  double decay;

 private:
  StateDict shadow_;
  int64_t updates_ = 0;
};

}  // namespace ld::nn
