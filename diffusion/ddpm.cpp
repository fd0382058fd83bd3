// diffusion/ddpm.cpp: one DDPM ancestral sampling step (Ho et al. 2020, Alg. 2) through the clipped
// predicted x_0 (formulas in ddpm.h).
#include "diffusion/ddpm.h"

#include <algorithm>
#include <cmath>

namespace ld::diffusion {

Tensor ddpm_step(const NoiseSchedule& s, const Tensor& x_t, const Tensor& eps, int64_t t, bool clip_x0,
                 Generator& gen) {
  return ddpm_step(s, x_t, eps, t, clip_x0, [&] { return rand_normal(x_t.shape(), gen); });
}

Tensor ddpm_step(const NoiseSchedule& s, const Tensor& x_in, const Tensor& eps_in, int64_t t, bool clip_x0,
                 const std::function<Tensor()>& noise) {
  if (t < 0 || t >= s.T()) fail("ddpm_step: timestep ", t, " outside [0, ", s.T(), ")");
  Tensor x = x_in.contiguous(), eps = eps_in.contiguous();
  const double ab = s.alphabar[t], ab_prev = t > 0 ? s.alphabar[t - 1] : 1.0;
  const double c0 = std::sqrt(ab_prev) * s.beta[t] / (1.0 - ab);
  const double ct = std::sqrt(s.alpha[t]) * (1.0 - ab_prev) / (1.0 - ab);
  const double sigma = t > 0 ? std::sqrt(s.beta[t] * (1.0 - ab_prev) / (1.0 - ab)) : 0.0;
  Tensor z = t > 0 ? noise().contiguous() : Tensor();
  Tensor out = Tensor::empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    double x0 = (x.f32()[i] - std::sqrt(1.0 - ab) * eps.f32()[i]) / std::sqrt(ab);
    if (clip_x0) x0 = std::clamp(x0, -1.0, 1.0);
    double v = c0 * x0 + ct * x.f32()[i];
    if (t > 0) v += sigma * z.f32()[i];
    out.f32()[i] = static_cast<float>(v);
  }
  return out;
}

}  // namespace ld::diffusion
