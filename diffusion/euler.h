// diffusion/euler.h: Euler and Euler-ancestral steps in the Karras et al. (2022) sigma formulation, as
// k-diffusion's sample_euler / sample_euler_ancestral and diffusers' Euler(Ancestral)DiscreteScheduler.
//
// With sigma_t = sqrt((1 - alphabar_t) / alphabar_t) the VP state x_t is rescaled to
//   X = x_t sqrt(1 + sigma_t^2) = x_t / sqrt(alphabar_t)     (the model still sees x_t = X / sqrt(1 +
//   sigma^2))
// and the probability-flow ODE becomes dX/dsigma = eps_theta(x_t, t). With the denoised image
//   D = X - sigma eps (clipped to [-1, 1]; eps re-derived from it),  d = (X - D) / sigma:
//   Euler:    X' = X + (sigma' - sigma) d
//   Euler a:  sigma_up = sqrt(sigma'^2 (sigma^2 - sigma'^2) / sigma^2),  sigma_down = sqrt(sigma'^2 -
//   sigma_up^2)
//             X' = X + (sigma_down - sigma) d + sigma_up z
// and x_{t'} = X' sqrt(alphabar_{t'}); sigma' = 0 (alphabar = 1) after the last step.
// On the same timesteps Euler is exactly DDIM with eta = 0 (Karras et al. 2022, Sec. 3 and App. B):
// what differs is where the steps go (euler_timesteps: from T-1, as diffusers' "linspace" spacing).
#pragma once
#include <functional>
#include <vector>

#include "diffusion/schedule.h"

namespace ld::diffusion {

// sigma_t of the Karras formulation; t = -1 (the clean image) gives 0.
double karras_sigma(const NoiseSchedule& s, int64_t t);
// One Euler (ancestral = false) or Euler-ancestral step from t to t_next < t (t_next = -1: to x_0).
// noise() gives z ~ N(0, I) of x's shape; called only by the ancestral step, when sigma_up > 0.
Tensor euler_step(const NoiseSchedule& s, const Tensor& x_t, const Tensor& eps, int64_t t, int64_t t_next,
                  bool ancestral, bool clip_x0, const std::function<Tensor()>& noise);
// `steps` timesteps evenly spaced from T-1 down to 0, rounded (diffusers' timestep_spacing = "linspace").
std::vector<int64_t> euler_timesteps(int64_t T, int64_t steps);

}  // namespace ld::diffusion
