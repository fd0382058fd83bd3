// nn/optimizer.h: the base of SGD, Adam and AdamW.
//
// An optimizer holds named parameters (the names of Module::named_parameters())
// and, per parameter, its state tensors (momentum buffer, exp_avg, exp_avg_sq)
// and its own step count, as PyTorch does. step() updates, in place, every
// parameter that has a gradient; parameters without one (frozen, or not reached by
// the last backward) are left alone and their step count does not advance.
//
// state_dict() exports everything a resumed run needs as named tensors:
//   "step"                    I32 (1): step() calls so far
//   "<param>.step"            I32 (1): updates this parameter received
//   "<param>.<state>"         F32, the parameter's shape: e.g. "unet.conv_in.weight.exp_avg"
// load_state_dict() checks every name and shape before it changes anything.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace ld::nn {

using NamedParameters = std::vector<std::pair<std::string, Var>>;

class Optimizer {
 public:
  Optimizer(NamedParameters params, float lr);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual std::string type_name() const = 0;
  // One update of every parameter that has a gradient.
  void step();
  // Drop the gradients of every parameter held.
  void zero_grad();
  int64_t steps() const { return steps_; }

  StateDict state_dict() const;
  void load_state_dict(const StateDict& dict);

  float lr;  // the learning rate of the next step (a schedule sets it before each step)

 protected:
  struct Slot {
    std::string name;
    Var param;
    int64_t step = 0;                     // updates applied to this parameter
    std::map<std::string, Tensor> state;  // e.g. "exp_avg"; created on the first update
  };
  // The names of a parameter's state tensors, e.g. {"exp_avg", "exp_avg_sq"}.
  virtual std::vector<std::string> state_names() const = 0;
  // Update one parameter in place; s.step already counts this update.
  // p, g, and every state tensor are contiguous F32 of the same size n.
  virtual void update(Slot& s, float* p, const float* g, int64_t n) = 0;

 private:
  std::vector<Slot> slots_;
  int64_t steps_ = 0;
};

}  // namespace ld::nn
