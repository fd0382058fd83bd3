// diffusion/sampler.h: generating images from captions (article Fig. 5: base model,
// optionally with LoRA adapters attached, at generation time).
// Classifier-free guidance (Ho & Salimans 2022):
//   eps = eps_u + s (eps_c - eps_u),  eps_c = eps_theta(x_t, t, y),  eps_u = eps_theta(x_t, t, {})
// The conditional and unconditional passes run as one batch of 2B. A negative prompt n replaces the
// empty caption:  eps = eps_n + s (eps_c - eps_n),  eps_n = eps_theta(x_t, t, n).
//
// Samplers (--sampler): ddim (ddim.h), ddpm (ddpm.h), dpmpp-2m (dpm_solver.h), euler and euler-a
// (euler.h). Every one of them runs through denoise(), which takes the noise prediction as a function
// eps(x_t, t), so the same loop runs the model (sample) and, in the tests, an analytic eps.
//
// img2img (SampleOptions::init, strength): of the K timesteps t_0 > .. > t_{K-1} the sampler visits, the
// last k = floor(K strength) run, from x_{t_{K-k}} ~ q(x_t | x_0 = init) = N(sqrt(alphabar_t) init,
// (1 - alphabar_t) I); strength 0 returns init, strength 1 starts from pure noise x_T ~ N(0, I) exactly as
// text-to-image does (same seed, same image; the sqrt(alphabar_T) init term, < 1 % of x_T, is dropped).
// Inpainting (SampleOptions::mask, 1 = regenerate): after every step the kept pixels are replaced by a
// fresh draw of q(x_t' | init) at the step's target timestep, and by init itself after the last step
// (RePaint, Lugmayr et al. 2022, without resampling), so the kept pixels of the result are init exactly.
#pragma once
#include <functional>
#include <string>
#include <vector>

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
  std::string sampler = "ddim";  // ddim, ddpm, dpmpp-2m, euler or euler-a (sampler_names())
  int64_t steps = 50;            // sampler steps (DDPM always takes T)
  float eta = 0.0f;       // DDIM noise: 0 = the deterministic ODE (the CLI's default is 0.5, docs/results.md)
  float guidance = 2.0f;  // s; 1 = no guidance (one pass), 0 = unconditional (docs/results.md: the trade-off)
  uint64_t seed = 0;      // image i of the batch draws all its noise from seed + i
  Tensor negative_ids;    // I32 (1 or B, L): the negative caption; undefined = the empty caption
  Tensor init;            // (1 or B, C, H, W) in [-1, 1]: img2img / inpainting start; undefined = none
  float strength = 1.0f;  // img2img: the share of the steps run (0 = init unchanged, 1 = from noise)
  Tensor mask;            // (1 or B, C, H, W): 1 = regenerate, 0 = keep init; needs init
  bool clip_x0 = true;
  std::string source;  // the model (and adapters) in error messages, e.g. "model 'runs/m/model.safetensors'"
  std::function<void(const SampleStep&)> on_step;  // called at the start of every step when set
  // Called before the model runs at each step (index 0-based, total steps), e.g. to switch an
  // adapter on or off for a range of steps (`--lora FILE:W:start=s,end=e`).
  std::function<void(int64_t index, int64_t total)> before_step;
};

// The --sampler names, and a one-line error naming `option` for any other.
const std::vector<std::string>& sampler_names();
void check_sampler(const std::string& name, const std::string& option = "--sampler");
// The timesteps a sampler visits, largest first: ddim the DDIM subsequence (ddim_timesteps), dpmpp-2m
// dpm_solver_timesteps (uniform in log-SNR), euler and euler-a euler_timesteps (from T-1), ddpm all T.
std::vector<int64_t> sampler_timesteps(const std::string& sampler, const NoiseSchedule& s, int64_t steps);
// Index of the first of K timesteps that img2img with `strength` runs: K - floor(K strength).
int64_t img2img_first_step(int64_t K, float strength);
// Steps a sample() call with these options runs (what on_step's `total` and the trace see).
int64_t sample_step_count(const SampleOptions& opt, const NoiseSchedule& s);

// eps_theta(x_t, t) for the whole batch at one timestep, and a draw of z ~ N(0, I) of the batch's shape.
using EpsFn = std::function<Tensor(const Tensor& x_t, int64_t t)>;
using NoiseFn = std::function<Tensor()>;
// The reverse process of opt.sampler with eps from `eps`: starts from noise() (or init, see above), calls
// opt.before_step / opt.on_step / progress at every step, checks every step for non-finite values, and
// returns x_0, clamped to [-1, 1] when opt.clip_x0. opt.init and opt.mask must have the noise's full shape
// here.
Tensor denoise(const NoiseSchedule& s, const EpsFn& eps, const NoiseFn& noise, const SampleOptions& opt,
               const std::function<void(int64_t, int64_t)>& progress = {});

// x0_hat of SampleStep from x_t and the (guided) eps at timestep t.
Tensor predict_x0(const NoiseSchedule& s, const Tensor& x_t, const Tensor& eps, int64_t t);

// Guided eps for a batch at one timestep t (same for the whole batch); negative_ids (B, L) replaces the
// empty caption when defined. A "v_prediction" model's guided v is turned into eps with the schedule s
// (prediction.h; guidance is linear, so guiding v and then converting equals guiding eps).
Tensor guided_eps(TextToImageModel& model, const NoiseSchedule& s, const Tensor& x_t, int64_t t,
                  const Tensor& ids, float guidance, const Tensor& negative_ids = Tensor());

// Throws "the model produced non-finite values at sampling step <step> of <total> (<source>)"
// when x holds a NaN or an infinity: a damaged model, or a too large --guidance or adapter
// weight, must fail rather than be drawn as a black image. sample() calls it after every step.
void check_sampling_step(const Tensor& x, int64_t step, int64_t total, const SampleOptions& opt);

// ids I32 (B, L): one caption per image. Returns images (B, C, H, W) in [-1, 1]; image i depends only on
// its caption and seed + i (not on the batch it was made in, up to the BLAS's rounding).
// progress(step, total) is called after each step when given. Throws ld::Interrupted at the
// next step once Ctrl-C was pressed (tensor/interrupt.h).
Tensor sample(TextToImageModel& model, const NoiseSchedule& s, const Tensor& ids, const SampleOptions& opt,
              const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace ld::diffusion
