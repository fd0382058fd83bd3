// diffusion/prediction.h: what the network is trained to output, the config's "prediction_type"
// (the names of diffusers' schedulers). With a = sqrt(alphabar_t), n = sqrt(1 - alphabar_t) and
// x_t = a x_0 + n eps (schedule.h):
//   "epsilon"       the target is eps, loss (1) of the article (Ho et al. 2020)
//   "v_prediction"  the target is v = a eps - n x_0 (Salimans & Ho 2022)
// Every sampler works on eps; a v output is turned into it with
//   eps = a v + n x_t            (and x0_hat = a x_t - n v)
// Why v: written as an error in x_0, loss (1) weighs timestep t by SNR_t = a^2 / n^2, which is
// below 1e-3 for t > 800 on the linear schedule, so the noisiest steps, where the whole image's
// colour is decided, are barely trained; the v loss weighs them by 1 + SNR_t >= 1
// (docs/diffusion.md, "What the network predicts").
#pragma once
#include <string>

#include "diffusion/schedule.h"

namespace ld::diffusion {

// "epsilon" or "v_prediction"; false for anything else.
bool is_prediction_type(const std::string& type);

// The training target for x0, eps (B, ...) at per-sample timesteps t (I32 (B)).
Tensor prediction_target(const std::string& type, const NoiseSchedule& s, const Tensor& x0, const Tensor& eps,
                         const Tensor& t);

// eps from the network's output `out` at x_t, for one timestep t shared by the batch.
Tensor eps_from_prediction(const std::string& type, const NoiseSchedule& s, const Tensor& x_t,
                           const Tensor& out, int64_t t);

}  // namespace ld::diffusion
