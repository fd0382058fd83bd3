// nn/sequential.h: a chain of single-input modules, y = f_n(... f_2(f_1(x))).
// Children are named "0", "1", ... as in PyTorch (state dict `ff.0.weight`); a
// model that wants meaningful names (`ff.fc1`) registers its own members instead.
#pragma once
#include <deque>

#include "nn/module.h"

namespace ld::nn {

class Sequential : public Module {
 public:
  Sequential() = default;
  std::string type_name() const override { return "Sequential"; }
  Var forward(const Var& x) override;
  // Appends m under the name of its position.
  Sequential& push_back(std::shared_ptr<Module> m);
  size_t size() const { return layers_.size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const { return layers_.at(i); }

 private:
  // A deque: growing it never moves the slots the registry points to.
  std::deque<std::shared_ptr<Module>> layers_;
};

}  // namespace ld::nn
