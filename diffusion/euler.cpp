// diffusion/euler.cpp: Euler and Euler-ancestral steps in Karras' sigma space (formulas in euler.h).
#include "diffusion/euler.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace ld::diffusion {

double karras_sigma(const NoiseSchedule& s, int64_t t) {
  if (t < 0) return 0.0;
  return std::sqrt((1.0 - s.alphabar[t]) / s.alphabar[t]);
}

std::vector<int64_t> euler_timesteps(int64_t T, int64_t steps) {
  if (steps < 1 || steps > T) fail("--steps: ", steps, " must be between 1 and ", T);
  std::vector<int64_t> ts;
  for (int64_t i = 0; i < steps; ++i) {
    const double v = steps == 1 ? double(T - 1) : double(T - 1) * double(steps - 1 - i) / double(steps - 1);
    ts.push_back(static_cast<int64_t>(std::llround(v)));
  }
  return ts;
}

Tensor euler_step(const NoiseSchedule& s, const Tensor& x_in, const Tensor& eps_in, int64_t t, int64_t t_next,
                  bool ancestral, bool clip_x0, const std::function<Tensor()>& noise) {
  if (t < 0 || t >= s.T() || t_next >= t) fail("euler_step: bad timesteps t=", t, ", t_next=", t_next);
  Tensor x = x_in.contiguous(), eps = eps_in.contiguous();
  const double ab = s.alphabar[t], ab_next = t_next >= 0 ? s.alphabar[t_next] : 1.0;
  const double sigma = karras_sigma(s, t), sigma_next = karras_sigma(s, t_next);
  double sigma_up = 0.0, sigma_down = sigma_next;
  if (ancestral) {
    sigma_up = std::min(sigma_next, std::sqrt(sigma_next * sigma_next *
                                              (sigma * sigma - sigma_next * sigma_next) / (sigma * sigma)));
    sigma_down = std::sqrt(std::max(sigma_next * sigma_next - sigma_up * sigma_up, 0.0));
  }
  Tensor z = sigma_up > 0 ? noise().contiguous() : Tensor();
  Tensor out = Tensor::empty(x.shape());
  const double scale_in = 1.0 / std::sqrt(ab), scale_out = std::sqrt(ab_next);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double X = x.f32()[i] * scale_in;
    double d = eps.f32()[i];
    if (clip_x0) {
      const double D = X - sigma * d;
      if (D > 1.0 || D < -1.0) d = (X - std::clamp(D, -1.0, 1.0)) / sigma;
    }
    double Xn = X + (sigma_down - sigma) * d;
    if (sigma_up > 0) Xn += sigma_up * z.f32()[i];
    out.f32()[i] = static_cast<float>(Xn * scale_out);
  }
  return out;
}

}  // namespace ld::diffusion
