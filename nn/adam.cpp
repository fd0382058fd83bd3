// nn/adam.cpp: see adam.h. The order of operations follows PyTorch's single-tensor
// implementation (torch/optim/adamw.py), so results agree to float rounding.
#include "nn/adam.h"

#include <cmath>

namespace ld::nn {

Adam::Adam(NamedParameters params, float lr, AdamOptions opt) : Adam(std::move(params), lr, opt, false) {}

Adam::Adam(NamedParameters params, float lr, AdamOptions opt, bool decoupled)
    : Optimizer(std::move(params), lr), options(opt), decoupled_(decoupled) {
  if (lr < 0 || opt.eps < 0 || opt.weight_decay < 0 || opt.beta1 < 0 || opt.beta1 >= 1 || opt.beta2 < 0 ||
      opt.beta2 >= 1)
    fail(type_name(), ": lr ", lr, ", betas (", opt.beta1, ", ", opt.beta2, "), eps ", opt.eps,
         ", weight decay ", opt.weight_decay, " out of range");
}

void Adam::update(Slot& s, float* p, const float* g, int64_t n) {
  const AdamOptions& o = options;
  float* m = s.state.at("exp_avg").f32();
  float* v = s.state.at("exp_avg_sq").f32();
  const double t = static_cast<double>(s.step);
  const float step_size = static_cast<float>(lr / (1.0 - std::pow(o.beta1, t)));
  const float bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(o.beta2, t)));
  const float decay = decoupled_ ? static_cast<float>(1.0 - lr * o.weight_decay) : 1.0f;
  const float l2 = decoupled_ ? 0.0f : static_cast<float>(o.weight_decay);
  const float b1 = static_cast<float>(o.beta1), one_minus_b1 = static_cast<float>(1.0 - o.beta1);
  const float b2 = static_cast<float>(o.beta2), one_minus_b2 = static_cast<float>(1.0 - o.beta2);
  const float eps = static_cast<float>(o.eps);
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + l2 * p[i];
    p[i] *= decay;
    m[i] = m[i] * b1 + one_minus_b1 * gi;
    v[i] = v[i] * b2 + one_minus_b2 * gi * gi;
    const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    p[i] -= step_size * m[i] / denom;
  }
}

}  // namespace ld::nn
