// diffusion/dpm_solver.cpp: DPM-Solver++(2M) steps (formulas in dpm_solver.h).
#include "diffusion/dpm_solver.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace ld::diffusion {

Tensor data_prediction(const NoiseSchedule& s, const Tensor& x_in, const Tensor& eps_in, int64_t t,
                       bool clip_x0) {
  if (t < 0 || t >= s.T()) fail("data_prediction: timestep ", t, " outside [0, ", s.T(), ")");
  Tensor x = x_in.contiguous(), eps = eps_in.contiguous();
  const double a = std::sqrt(s.alphabar[t]), b = std::sqrt(1.0 - s.alphabar[t]);
  Tensor out = Tensor::empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    double v = (x.f32()[i] - b * eps.f32()[i]) / a;
    if (clip_x0) v = std::clamp(v, -1.0, 1.0);
    out.f32()[i] = static_cast<float>(v);
  }
  return out;
}

static double lambda_of(const NoiseSchedule& s, int64_t t) {
  return 0.5 * std::log(s.alphabar[t]) - 0.5 * std::log(1.0 - s.alphabar[t]);
}

Tensor dpmpp_2m_step(const NoiseSchedule& s, const Tensor& x_in, const Tensor& m0_in, int64_t s0, int64_t t,
                     const Tensor& m1_in, int64_t s1) {
  if (s0 < 0 || s0 >= s.T() || t >= s0 || (s1 >= 0 && (s1 <= s0 || s1 >= s.T())))
    fail("dpmpp_2m_step: bad timesteps s1=", s1, ", s0=", s0, ", t=", t);
  if (t < 0) return m0_in.contiguous().clone();  // sigma_t = 0: first order lands on the data prediction
  Tensor x = x_in.contiguous(), m0 = m0_in.contiguous();
  const bool second = s1 >= 0;
  Tensor m1 = second ? m1_in.contiguous() : Tensor();
  const double alpha_t = std::sqrt(s.alphabar[t]), sigma_t = std::sqrt(1.0 - s.alphabar[t]);
  const double sigma_s0 = std::sqrt(1.0 - s.alphabar[s0]);
  const double h = lambda_of(s, t) - lambda_of(s, s0);
  const double r0 = second ? (lambda_of(s, s0) - lambda_of(s, s1)) / h : 1.0;
  const double c_x = sigma_t / sigma_s0, c_d = -alpha_t * std::expm1(-h);
  Tensor out = Tensor::empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double d0 = m0.f32()[i];
    const double d1 = second ? (d0 - m1.f32()[i]) / r0 : 0.0;
    out.f32()[i] = static_cast<float>(c_x * x.f32()[i] + c_d * d0 + 0.5 * c_d * d1);
  }
  return out;
}

std::vector<int64_t> dpm_solver_timesteps(const NoiseSchedule& s, int64_t steps) {
  const int64_t T = s.T();
  if (steps < 1 || steps > T) fail("--steps: ", steps, " must be between 1 and ", T);
  std::vector<double> lam(T);
  for (int64_t t = 0; t < T; ++t) lam[t] = lambda_of(s, t);  // decreasing in t
  const double hi = lam[T - 1], lo = lam[0];
  std::vector<int64_t> ts(steps);
  for (int64_t i = 0; i < steps; ++i) {
    const double target = steps == 1 ? hi : hi + (lo - hi) * double(i) / double(steps - 1);
    int64_t best = 0;
    for (int64_t t = 1; t < T; ++t)
      if (std::fabs(lam[t] - target) < std::fabs(lam[best] - target)) best = t;
    ts[i] = best;
  }
  for (int64_t i = steps - 2; i >= 0; --i) ts[i] = std::max(ts[i], ts[i + 1] + 1);  // strictly decreasing
  for (int64_t i = 0; i < steps; ++i) ts[i] = std::min(ts[i], T - 1 - i);           // and within [0, T)
  return ts;
}

}  // namespace ld::diffusion
