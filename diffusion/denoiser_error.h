// diffusion/denoiser_error.h: how much of the noise does eps_theta give back? (`loradiff denoiser-error`)
//
// Loss (1) trains eps_theta(x_t, t, c) to return the eps of x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps.
// On real test digits, for a few timesteps t, this measures per background pixel (x_0 = -1, where a
// stray bright pixel is a "speckle") how the prediction e misses the true z = eps, binned by |z|:
//   rms    = sqrt(mean (e - z)^2)
//   shrink = mean sign(z) (z - e)      > 0: the prediction is pulled toward 0, |e| < |z|
// A denoiser unsure whether a pixel is ink or noise predicts the posterior mean, which pulls large
// |z| toward 0 (regression to the mean); the x_0 it implies, (x_t - sqrt(1 - abar_t) e) / sqrt(abar_t),
// then keeps shrink * sqrt(1 - abar_t) / sqrt(abar_t) (the row's x0_factor) of the noise as "ink".
// A deterministic sampler (DDIM eta = 0, DPM-Solver++) follows that x_0 to the end, so a rare large
// z of the starting noise can end as an isolated grey or white pixel (docs/results.md, "Speckles").
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "diffusion/schedule.h"
#include "tensor/tensor.h"

namespace ld::diffusion {

struct DenoiserErrorRow {
  int64_t t = 0;
  std::string z_range;  // "|z|<2", "2<=|z|<3", "|z|>=3"
  int64_t pixels = 0;
  double rms = 0, shrink = 0;
  double x0_factor = 0;  // sqrt(1 - abar_t) / sqrt(abar_t): eps error -> x_0 error
  nlohmann::json to_json() const;
};

// x_t -> eps prediction for a batch at timesteps t (I32 (B)); the caller binds model and captions.
using EpsPredictor = std::function<Tensor(const Tensor& x_t, const Tensor& t)>;

// x0 (B, C, H, W) in [-1, 1]; one fresh eps per timestep drawn from `seed`. Pixels with x0 > -0.999
// (ink) are left out. Three rows per timestep, in the order of `timesteps`.
std::vector<DenoiserErrorRow> denoiser_error(const NoiseSchedule& s, const Tensor& x0,
                                             const EpsPredictor& eps, const std::vector<int64_t>& timesteps,
                                             uint64_t seed);

}  // namespace ld::diffusion
