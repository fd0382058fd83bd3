// nn/clip_grad.cpp: see clip_grad.h.
#include "nn/clip_grad.h"

#include <cmath>

#include "tensor/reduce.h"

namespace ld::nn {

double clip_grad_norm(const std::vector<ag::Var>& params, double max_norm) {
  if (max_norm <= 0) fail("clip_grad_norm: max_norm ", max_norm, " must be positive");
  double sq = 0.0;
  for (const ag::Var& p : params)
    if (p.grad().defined()) {
      const double n = l2_norm(p.grad());
      sq += n * n;
    }
  const double total = std::sqrt(sq);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0) {
    for (const ag::Var& p : params) {
      const Tensor& g = p.grad();
      if (!g.defined()) continue;
      if (!g.is_contiguous()) fail("clip_grad_norm: gradients must be contiguous");
      float* d = g.f32();
      const float c = static_cast<float>(coef);
      for (int64_t i = 0; i < g.numel(); ++i) d[i] *= c;
    }
  }
  return total;
}

}  // namespace ld::nn
