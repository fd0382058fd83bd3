// nn/sgd.cpp: see sgd.h.
#include "nn/sgd.h"

namespace ld::nn {

SGD::SGD(NamedParameters params, float lr, float m, float wd)
    : Optimizer(std::move(params), lr), momentum(m), weight_decay(wd) {
  if (lr < 0 || m < 0 || wd < 0)
    fail("SGD: lr ", lr, ", momentum ", m, ", weight decay ", wd, " must be >= 0");
}

std::vector<std::string> SGD::state_names() const {
  if (momentum == 0.0f) return {};
  return {"momentum_buffer"};
}

void SGD::update(Slot& s, float* p, const float* g, int64_t n) {
  float* buf = momentum != 0.0f ? s.state.at("momentum_buffer").f32() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    float d = g[i] + weight_decay * p[i];
    if (buf) {
      buf[i] = s.step == 1 ? d : momentum * buf[i] + d;
      d = buf[i];
    }
    p[i] -= lr * d;
  }
}

}  // namespace ld::nn
