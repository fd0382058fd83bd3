// diffusion/ddpm.h: one step of DDPM ancestral sampling (Ho et al. 2020, Alg. 2),
// written through the predicted x_0 so it can be clipped to the data range [-1, 1]:
//   x0_hat = (x_t - sqrt(1 - alphabar_t) eps) / sqrt(alphabar_t)         (clipped)
//   mean   = sqrt(alphabar_{t-1}) beta_t / (1 - alphabar_t) x0_hat
//          + sqrt(alpha_t) (1 - alphabar_{t-1}) / (1 - alphabar_t) x_t
//   x_{t-1} = mean + sigma_t z,  sigma_t^2 = beta_t (1 - alphabar_{t-1}) / (1 - alphabar_t),  z = 0 at t = 0
// Without clipping the mean equals 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alphabar_t) eps).
#pragma once
#include <functional>

#include "diffusion/schedule.h"
#include "tensor/random.h"

namespace ld::diffusion {

Tensor ddpm_step(const NoiseSchedule& s, const Tensor& x_t, const Tensor& eps, int64_t t, bool clip_x0,
                 Generator& gen);
// The same with z ~ N(0, I) of x's shape from noise(), called only when t > 0.
Tensor ddpm_step(const NoiseSchedule& s, const Tensor& x_t, const Tensor& eps, int64_t t, bool clip_x0,
                 const std::function<Tensor()>& noise);

}  // namespace ld::diffusion
