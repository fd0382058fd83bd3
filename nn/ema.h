// nn/ema.h: exponential moving average of a model's weights (Polyak averaging),
// the weights diffusion models usually sample with.
//   shadow <- decay * shadow + (1 - decay) * param        after each optimizer step
// The shadow is keyed by parameter name; copy_to() loads it into a module of the
// same structure (e.g. for sampling), state_dict() saves it with a checkpoint.
// Warm-up (on by default, as diffusers' EMAModel does): update n (from 0) uses
//   d_n = min(decay, (1 + n) / (10 + n))
// so the shadow forgets the random initialisation within the first steps instead of keeping
// decay^n of it (0.999^1000 = 37 %: a run's early sample grids were pure noise).
#pragma once
#include "nn/module.h"

namespace ld::nn {

class Ema {
 public:
  // the shadow starts as a copy of the weights
  Ema(const Module& model, double decay, bool warmup = true);
  void update(const Module& model);
  double decay_at(int64_t n) const;              // the decay update n uses
  void set_updates(int64_t n) { updates_ = n; }  // on resume: the updates already made (the step)
  void copy_to(Module& model) const;             // strict: same names and shapes
  const StateDict& state_dict() const { return shadow_; }
  void load_state_dict(const StateDict& shadow);  // same names and shapes as the current shadow
  int64_t updates() const { return updates_; }

  double decay;
  bool warmup;

 private:
  StateDict shadow_;
  int64_t updates_ = 0;
};

}  // namespace ld::nn
