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
  for (int64_t t = 0; t < T; ++t)
    beta[t] = b0 + (b1 - b0) * static_cast<double>(t) / static_cast<double>(T - 1);
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

Tensor mix_at_timesteps(const NoiseSchedule& s, const Tensor& a_in, double (*fa)(double), const Tensor& b_in,
                        double (*fb)(double), const Tensor& t_in, const char* what) {
  if (a_in.shape() != b_in.shape())
    fail(what, ": ", shape_str(a_in.shape()), " and ", shape_str(b_in.shape()), " differ");
  check_dtype(what, t_in, DType::I32, "timesteps");
  const int64_t B = a_in.size(0), per = a_in.numel() / std::max<int64_t>(B, 1);
  if (t_in.numel() != B) fail(what, ": ", t_in.numel(), " timesteps for a batch of ", B);
  const Tensor a = a_in.contiguous(), b = b_in.contiguous(), t = t_in.contiguous();
  Tensor out = Tensor::empty(a.shape());
  for (int64_t i = 0; i < B; ++i) {
    const int32_t ti = t.i32()[i];
    if (ti < 0 || ti >= s.T()) fail(what, ": timestep ", ti, " outside [0, ", s.T(), ")");
    const float ca = static_cast<float>(fa(s.alphabar[ti])), cb = static_cast<float>(fb(s.alphabar[ti]));
    const float *pa = a.f32() + i * per, *pb = b.f32() + i * per;
    float* po = out.f32() + i * per;
    for (int64_t k = 0; k < per; ++k) po[k] = ca * pa[k] + cb * pb[k];
  }
  return out;
}

Tensor q_sample(const NoiseSchedule& s, const Tensor& x0, const Tensor& t, const Tensor& eps) {
  if (x0.shape() != eps.shape())
    fail("q_sample: x0 ", shape_str(x0.shape()), " and noise ", shape_str(eps.shape()), " differ");
  return mix_at_timesteps(
      s, x0, [](double ab) { return std::sqrt(ab); }, eps, [](double ab) { return std::sqrt(1.0 - ab); }, t,
      "q_sample");
}

}  // namespace ld::diffusion
