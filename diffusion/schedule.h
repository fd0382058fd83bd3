// diffusion/schedule.h: the forward (noising) process of DDPM (Ho et al. 2020).
//   beta_t        linear from beta_start to beta_end over t = 0..T-1 (or cosine, Nichol & Dhariwal 2021)
//   alpha_t       = 1 - beta_t
//   alphabar_t    = prod_{s <= t} alpha_s
//   q(x_t | x_0)  = N(sqrt(alphabar_t) x_0, (1 - alphabar_t) I)
// so x_t can be drawn in one step (q_sample), which is what makes loss (1) cheap to train.
#pragma once
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ld::diffusion {

struct NoiseSchedule {
  std::vector<double> beta, alpha, alphabar;  // index t = 0..T-1
  int64_t T() const { return static_cast<int64_t>(beta.size()); }

  static NoiseSchedule linear(int64_t T, double beta_start, double beta_end);
  static NoiseSchedule cosine(int64_t T, double s = 0.008);
  static NoiseSchedule make(const std::string& kind, int64_t T, double beta_start, double beta_end);
};

// x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps, per sample t (I32 (B)).
Tensor q_sample(const NoiseSchedule& s, const Tensor& x0, const Tensor& t, const Tensor& eps);

// out[i] = fa(alphabar_{t_i}) a[i] + fb(alphabar_{t_i}) b[i] for each sample i of the batch (t: I32 (B)):
// q_sample, the v target and v -> eps (prediction.h) are all this mix. Errors start with `what`.
Tensor mix_at_timesteps(const NoiseSchedule& s, const Tensor& a, double (*fa)(double), const Tensor& b,
                        double (*fb)(double), const Tensor& t, const char* what);

}  // namespace ld::diffusion
