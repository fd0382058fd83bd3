// nn/sgd.h: stochastic gradient descent with momentum (PyTorch's SGD, dampening 0).
//   g <- g + weight_decay * p
//   buf <- g on the first update, else momentum * buf + g
//   p <- p - lr * buf                 (p <- p - lr * g when momentum is 0)
#pragma once
#include "nn/optimizer.h"

namespace ld::nn {

class SGD : public Optimizer {
 public:
  SGD(NamedParameters params, float lr, float momentum = 0.0f, float weight_decay = 0.0f);
  std::string type_name() const override { return "SGD"; }

  float momentum, weight_decay;

 protected:
  std::vector<std::string> state_names() const override;
  void update(Slot& s, float* p, const float* g, int64_t n) override;
};

}  // namespace ld::nn
