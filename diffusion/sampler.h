// diffusion/sampler.h: generating images from captions (article Fig. 5: base model,
// optionally with LoRA adapters attached, at generation time).
// Classifier-free guidance (Ho & Salimans 2022):
//   eps = eps_u + s (eps_c - eps_u),  eps_c = eps_theta(x_t, t, y),  eps_u = eps_theta(x_t, t, {})
// The conditional and unconditional passes run as one batch of 2B.
#pragma once
#include <functional>
#include <string>

#include "diffusion/model.h"
#include "diffusion/schedule.h"

namespace ld::diffusion {

// One step of the reverse process as the trace (`loradiff sample --trace`) sees it: the state x_t the
// step starts from and the model's guess of the clean image from it,
//   x0_hat = (x_t - sqrt(1 - alphabar_t) eps) / sqrt(alphabar_t), clipped to [-1, 1].
struct SampleStep {
  int64_t index, total;  // 0-based step number, number of steps
  int64_t t;             // the timestep
  const Tensor& x_t;     // (B, C, H, W)
  const Tensor& x0_hat;  // (B, C, H, W)
};

struct SampleOptions {
  std::string sampler = "ddim";  // "ddim" or "ddpm"
  int64_t steps = 50;            // DDIM steps (DDPM always takes T)
  float eta = 0.0f;              // DDIM noise
  float guidance = 3.0f;         // s; 1 = no guidance (one pass), 0 = unconditional
  uint64_t seed = 0;
  bool clip_x0 = true;
  std::string source;  // the model (and adapters) in error messages, e.g. "model 'runs/m/model.safetensors'"
  std::function<void(const SampleStep&)> on_step;  // called at the start of every step when set
  // Called before the model runs at each step (index 0-based, total steps), e.g. to switch an
  // adapter on or off for a range of steps (`--lora FILE:W:start=s,end=e`).
  std::function<void(int64_t index, int64_t total)> before_step;
};

// x0_hat of SampleStep from x_t and the (guided) eps at timestep t.
Tensor predict_x0(const NoiseSchedule& s, const Tensor& x_t, const Tensor& eps, int64_t t);

// Guided eps for a batch at one timestep t (same for the whole batch).
Tensor guided_eps(TextToImageModel& model, const Tensor& x_t, int64_t t, const Tensor& ids, float guidance);

// Throws "the model produced non-finite values at sampling step <step> of <total> (<source>)"
// when x holds a NaN or an infinity: a damaged model, or a too large --guidance or adapter
// weight, must fail rather than be drawn as a black image. sample() calls it after every step.
void check_sampling_step(const Tensor& x, int64_t step, int64_t total, const SampleOptions& opt);

// ids I32 (B, L): one caption per image. Returns images (B, C, H, W) in [-1, 1].
// progress(step, total) is called after each step when given. Throws ld::Interrupted at the
// next step once Ctrl-C was pressed (tensor/interrupt.h).
Tensor sample(TextToImageModel& model, const NoiseSchedule& s, const Tensor& ids, const SampleOptions& opt,
              const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace ld::diffusion
