// diffusion/ddim.h: one step of DDIM sampling (Song et al. 2021, Eq. 12), from t to t_prev < t:
//   x0_hat  = (x_t - sqrt(1 - alphabar_t) eps) / sqrt(alphabar_t)                (clipped to [-1, 1])
//   sigma   = eta sqrt((1 - alphabar_prev) / (1 - alphabar_t)) sqrt(1 - alphabar_t / alphabar_prev)
//   x_prev  = sqrt(alphabar_prev) x0_hat + sqrt(1 - alphabar_prev - sigma^2) eps + sigma z
// alphabar_prev = 1 after the last step (t_prev = -1). eta = 0 is deterministic; eta = 1 is DDPM-like.
// When x0_hat is clipped, eps is re-derived from it so the two stay consistent.
#pragma once
#include <functional>
#include <vector>

#include "diffusion/schedule.h"
#include "tensor/random.h"

namespace ld::diffusion {

Tensor ddim_step(const NoiseSchedule& s, const Tensor& x_t, const Tensor& eps, int64_t t, int64_t t_prev,
                 float eta, bool clip_x0, Generator& gen);
// The same with the noise z ~ N(0, I) of x's shape from noise(), called only when sigma > 0 (the sampler
// draws it per image, each image from its own seed).
Tensor ddim_step(const NoiseSchedule& s, const Tensor& x_t, const Tensor& eps, int64_t t, int64_t t_prev,
                 float eta, bool clip_x0, const std::function<Tensor()>& noise);
// The `steps` timesteps DDIM visits, evenly spaced, largest first: T=1000, 50 steps -> 980, 960, .., 0.
std::vector<int64_t> ddim_timesteps(int64_t T, int64_t steps);

}  // namespace ld::diffusion
