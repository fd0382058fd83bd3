// diffusion/schedule.cpp: the DDPM noise schedule (linear or cosine betas, alphabar) and
// q_sample, x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps, the input of loss (1).
#include "diffusion/schedule.h"

#include <cmath>

#include "tensor/error.h"

namespace ld::diffusion {

static NoiseSchedule from_betas(std::vector<double> beta) {
  NoiseSchedule s;
  s.beta = std::move(beta);
  double prod = 1.0;
  for (double b : s.beta) {
    s.alpha.push_back(1.0 - b);
    prod *= 1.0 - b;
    s.alphabar.push_back(prod);
  }
  return s;
}

NoiseSchedule NoiseSchedule::linear(int64_t T, double b0, double b1) {
  if (T < 2) fail("noise schedule: T = ", T, " must be >= 2");
  std::vector<double> beta(T);
  for (int64_t t = 0; t < T; ++t) beta[t] = b0 + (b1 - b0) * static_cast<double>(t) / static_cast<double>(T - 1);
  return from_betas(std::move(beta));
}

// alphabar(t) = f(t) / f(0), f(t) = cos^2(((t/T) + s) / (1 + s) * pi/2); beta clipped at 0.999
NoiseSchedule NoiseSchedule::cosine(int64_t T, double s) {
  if (T < 2) fail("noise schedule: T = ", T, " must be >= 2");
  auto f = [&](double t) {
    double c = std::cos((t / static_cast<double>(T) + s) / (1.0 + s) * M_PI / 2.0);
    return c * c;
  };
  std::vector<double> beta(T);
  for (int64_t t = 0; t < T; ++t) beta[t] = std::min(1.0 - f(t + 1.0) / f(static_cast<double>(t)), 0.999);
  return from_betas(std::move(beta));
}

NoiseSchedule NoiseSchedule::make(const std::string& kind, int64_t T, double b0, double b1) {
  if (kind == "linear") return linear(T, b0, b1);
  if (kind == "cosine") return cosine(T);
  fail("noise schedule: unknown kind '", kind, "' (expected linear or cosine)");
}

Tensor q_sample(const NoiseSchedule& s, const Tensor& x0_in, const Tensor& t_in, const Tensor& eps_in) {
  if (x0_in.shape() != eps_in.shape())
    fail("q_sample: x0 ", shape_str(x0_in.shape()), " and noise ", shape_str(eps_in.shape()), " differ");
  check_dtype("q_sample", t_in, DType::I32, "timesteps");
  const int64_t B = x0_in.size(0), per = x0_in.numel() / std::max<int64_t>(B, 1);
  if (t_in.numel() != B) fail("q_sample: ", t_in.numel(), " timesteps for a batch of ", B);
  Tensor x0 = x0_in.contiguous(), eps = eps_in.contiguous(), t = t_in.contiguous();
  Tensor xt = Tensor::empty(x0.shape());
  for (int64_t b = 0; b < B; ++b) {
    const int32_t tb = t.i32()[b];
    if (tb < 0 || tb >= s.T()) fail("q_sample: timestep ", tb, " outside [0, ", s.T(), ")");
    const float a = static_cast<float>(std::sqrt(s.alphabar[tb]));
    const float n = static_cast<float>(std::sqrt(1.0 - s.alphabar[tb]));
    const float *px = x0.f32() + b * per, *pe = eps.f32() + b * per;
    float* po = xt.f32() + b * per;
    for (int64_t i = 0; i < per; ++i) po[i] = a * px[i] + n * pe[i];
  }
  return xt;
}

}  // namespace ld::diffusion
