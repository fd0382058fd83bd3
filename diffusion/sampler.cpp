// diffusion/sampler.cpp: generating images (Fig. 5): classifier-free guided eps (guided_eps),
// predict_x0, and the DDIM / DDPM loop from x_T ~ N(0, I) (sample).
#include "diffusion/sampler.h"

#include <algorithm>
#include <cmath>

#include "diffusion/ddim.h"
#include "diffusion/ddpm.h"
#include "diffusion/loss.h"
#include "tensor/elementwise.h"
#include "tensor/index.h"
#include "tensor/interrupt.h"

namespace ld::diffusion {

Tensor guided_eps(TextToImageModel& model, const Tensor& x_t, int64_t t, const Tensor& ids, float guidance) {
  const int64_t B = x_t.size(0), L = ids.size(1);
  if (guidance == 1.0f) {  // eps_u + 1 (eps_c - eps_u) = eps_c: one pass is enough
    Tensor tt = Tensor::from_ints(std::vector<int32_t>(B, static_cast<int32_t>(t)), {B});
    return model.forward(ag::Var(x_t), tt, ids).value();
  }
  Tensor x2 = concat({x_t, x_t}, 0);
  Tensor ids2 = concat({ids, empty_captions(B, L)}, 0);
  Tensor tt = Tensor::from_ints(std::vector<int32_t>(2 * B, static_cast<int32_t>(t)), {2 * B});
  Tensor e = model.forward(ag::Var(x2), tt, ids2).value();
  Tensor ec = e.narrow(0, 0, B), eu = e.narrow(0, B, B);
  return add(eu, mul_scalar(sub(ec, eu), guidance));
}

Tensor predict_x0(const NoiseSchedule& s, const Tensor& x_t, const Tensor& eps, int64_t t) {
  const float a = static_cast<float>(std::sqrt(s.alphabar[t])),
              b = static_cast<float>(std::sqrt(1.0 - s.alphabar[t]));
  Tensor x0 = mul_scalar(sub(x_t, mul_scalar(eps, b)), 1.0f / a);
  float* p = x0.f32();
  for (int64_t i = 0; i < x0.numel(); ++i) p[i] = std::clamp(p[i], -1.0f, 1.0f);
  return x0;
}

void check_sampling_step(const Tensor& x, int64_t step, int64_t total, const SampleOptions& opt) {
  if (!has_non_finite(x)) return;
  fail("the model produced non-finite values at sampling step ", step, " of ", total,
       opt.source.empty() ? std::string() : " (" + opt.source + ")",
       "; a damaged checkpoint, or too large a --guidance or --lora weight");
}

Tensor sample(TextToImageModel& model, const NoiseSchedule& s, const Tensor& ids, const SampleOptions& opt,
              const std::function<void(int64_t, int64_t)>& progress) {
  if (opt.sampler != "ddim" && opt.sampler != "ddpm")
    fail("--sampler: '", opt.sampler, "' is not a sampler (expected ddim or ddpm)");
  if (!std::isfinite(opt.guidance) || opt.guidance < 0.0f)
    fail("--guidance: ", opt.guidance, " must be a finite number >= 0");
  if (opt.eta < 0.0f || !std::isfinite(opt.eta)) fail("--eta: ", opt.eta, " must be >= 0");
  ag::NoGrad no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const ModelConfig& c = model.config;
  const int64_t B = ids.size(0);
  Generator gen(opt.seed);
  Tensor x = rand_normal({B, c.image_channels, c.image_size, c.image_size}, gen);  // x_T ~ N(0, I)
  if (opt.sampler == "ddpm") {
    for (int64_t t = s.T() - 1; t >= 0; --t) {
      throw_if_interrupted();  // Ctrl-C: the caller decides what to keep
      if (opt.before_step) opt.before_step(s.T() - 1 - t, s.T());
      const Tensor eps = guided_eps(model, x, t, ids, opt.guidance);
      if (opt.on_step) opt.on_step({s.T() - 1 - t, s.T(), t, x, predict_x0(s, x, eps, t)});
      x = ddpm_step(s, x, eps, t, opt.clip_x0, gen);
      check_sampling_step(x, s.T() - t, s.T(), opt);
      if (progress) progress(s.T() - t, s.T());
    }
  } else {
    std::vector<int64_t> ts = ddim_timesteps(s.T(), opt.steps);
    for (size_t i = 0; i < ts.size(); ++i) {
      throw_if_interrupted();
      const int64_t t_prev = i + 1 < ts.size() ? ts[i + 1] : -1;
      if (opt.before_step) opt.before_step(static_cast<int64_t>(i), static_cast<int64_t>(ts.size()));
      const Tensor eps = guided_eps(model, x, ts[i], ids, opt.guidance);
      if (opt.on_step)
        opt.on_step({static_cast<int64_t>(i), static_cast<int64_t>(ts.size()), ts[i], x,
                     predict_x0(s, x, eps, ts[i])});
      x = ddim_step(s, x, eps, ts[i], t_prev, opt.eta, opt.clip_x0, gen);
      check_sampling_step(x, static_cast<int64_t>(i) + 1, static_cast<int64_t>(ts.size()), opt);
      if (progress) progress(static_cast<int64_t>(i) + 1, static_cast<int64_t>(ts.size()));
    }
  }
  model.train(was_training);
  // the last step is x_0; keep it in the data range
  float* p = x.f32();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = std::clamp(p[i], -1.0f, 1.0f);
  return x;
}

}  // namespace ld::diffusion
