// diffusion/ddim.cpp: one DDIM sampling step (Song et al. 2021, Eq. 12) and the subsequence of
// timesteps it walks (formulas in ddim.h).
#include "diffusion/ddim.h"

#include <algorithm>
#include <cmath>

namespace ld::diffusion {

std::vector<int64_t> ddim_timesteps(int64_t T, int64_t steps) {
  if (steps < 1 || steps > T) fail("--steps: ", steps, " must be between 1 and ", T);
  std::vector<int64_t> ts;
  for (int64_t i = steps - 1; i >= 0; --i) ts.push_back(i * T / steps);
  return ts;
}

Tensor ddim_step(const NoiseSchedule& s, const Tensor& x_t, const Tensor& eps, int64_t t, int64_t t_prev,
                 float eta, bool clip_x0, Generator& gen) {
  return ddim_step(s, x_t, eps, t, t_prev, eta, clip_x0, [&] { return rand_normal(x_t.shape(), gen); });
}

Tensor ddim_step(const NoiseSchedule& s, const Tensor& x_in, const Tensor& eps_in, int64_t t, int64_t t_prev,
                 float eta, bool clip_x0, const std::function<Tensor()>& noise) {
  if (t < 0 || t >= s.T() || t_prev >= t) fail("ddim_step: bad timesteps t=", t, ", t_prev=", t_prev);
  Tensor x = x_in.contiguous(), eps = eps_in.contiguous();
  const double ab = s.alphabar[t], ab_prev = t_prev >= 0 ? s.alphabar[t_prev] : 1.0;
  const double sigma = eta * std::sqrt((1.0 - ab_prev) / (1.0 - ab)) * std::sqrt(1.0 - ab / ab_prev);
  const double dir = std::sqrt(std::max(1.0 - ab_prev - sigma * sigma, 0.0));
  Tensor z = sigma > 0 ? noise().contiguous() : Tensor();
  Tensor out = Tensor::empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double xt = x.f32()[i];
    double e = eps.f32()[i];
    double x0 = (xt - std::sqrt(1.0 - ab) * e) / std::sqrt(ab);
    if (clip_x0 && (x0 > 1.0 || x0 < -1.0)) {
      x0 = std::clamp(x0, -1.0, 1.0);
      e = (xt - std::sqrt(ab) * x0) / std::sqrt(1.0 - ab);
    }
    double v = std::sqrt(ab_prev) * x0 + dir * e;
    if (sigma > 0) v += sigma * z.f32()[i];
    out.f32()[i] = static_cast<float>(v);
  }
  return out;
}

}  // namespace ld::diffusion
