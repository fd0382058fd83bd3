// diffusion/sampler.cpp: generating images (Fig. 5): classifier-free guided eps (guided_eps),
// predict_x0, the one loop of every sampler (denoise: text-to-image, img2img, inpainting) and sample(),
// which runs it on the model with one seed per image.
#include "diffusion/sampler.h"

#include <algorithm>
#include <cmath>

#include "diffusion/ddim.h"
#include "diffusion/ddpm.h"
#include "diffusion/dpm_solver.h"
#include "diffusion/euler.h"
#include "diffusion/loss.h"
#include "diffusion/prediction.h"
#include "tensor/elementwise.h"
#include "tensor/index.h"
#include "tensor/interrupt.h"

namespace ld::diffusion {

Tensor guided_eps(TextToImageModel& model, const NoiseSchedule& s, const Tensor& x_t, int64_t t,
                  const Tensor& ids, float guidance, const Tensor& negative_ids) {
  const int64_t B = x_t.size(0), L = ids.size(1);
  const std::string& type = model.config.prediction_type;
  if (guidance == 1.0f) {  // eps_u + 1 (eps_c - eps_u) = eps_c: one pass is enough
    Tensor tt = Tensor::from_ints(std::vector<int32_t>(B, static_cast<int32_t>(t)), {B});
    return eps_from_prediction(type, s, x_t, model.forward(ag::Var(x_t), tt, ids).value(), t);
  }
  Tensor x2 = concat({x_t, x_t}, 0);
  Tensor ids2 = concat({ids, negative_ids.defined() ? negative_ids : empty_captions(B, L)}, 0);
  Tensor tt = Tensor::from_ints(std::vector<int32_t>(2 * B, static_cast<int32_t>(t)), {2 * B});
  Tensor e = model.forward(ag::Var(x2), tt, ids2).value();
  Tensor ec = e.narrow(0, 0, B), eu = e.narrow(0, B, B);
  return eps_from_prediction(type, s, x_t, add(eu, mul_scalar(sub(ec, eu), guidance)), t);
}

const std::vector<std::string>& sampler_names() {
  static const std::vector<std::string> names = {"ddim", "ddpm", "dpmpp-2m", "euler", "euler-a"};
  return names;
}

void check_sampler(const std::string& name, const std::string& option) {
  for (const auto& n : sampler_names())
    if (n == name) return;
  fail(option, ": '", name, "' is not a sampler (expected ddim, ddpm, dpmpp-2m, euler or euler-a)");
}

std::vector<int64_t> sampler_timesteps(const std::string& sampler, const NoiseSchedule& s, int64_t steps) {
  check_sampler(sampler);
  const int64_t T = s.T();
  if (sampler == "ddpm") {
    std::vector<int64_t> ts;
    for (int64_t t = T - 1; t >= 0; --t) ts.push_back(t);
    return ts;
  }
  if (sampler == "euler" || sampler == "euler-a") return euler_timesteps(T, steps);
  if (sampler == "dpmpp-2m") return dpm_solver_timesteps(s, steps);
  return ddim_timesteps(T, steps);
}

int64_t img2img_first_step(int64_t K, float strength) {
  if (!(strength >= 0.0f && strength <= 1.0f)) fail("--strength: ", strength, " must be in [0, 1]");
  const auto run = std::min<int64_t>(K, static_cast<int64_t>(std::floor(double(K) * double(strength))));
  return K - run;
}

int64_t sample_step_count(const SampleOptions& opt, const NoiseSchedule& s) {
  const int64_t K = static_cast<int64_t>(sampler_timesteps(opt.sampler, s, opt.steps).size());
  return opt.init.defined() ? K - img2img_first_step(K, opt.strength) : K;
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

namespace {

// out = mask ? x : known, elementwise (mask is 0 or 1)
Tensor keep_known(const Tensor& x_in, const Tensor& known_in, const Tensor& mask_in) {
  Tensor x = x_in.contiguous(), known = known_in.contiguous(), mask = mask_in.contiguous();
  Tensor out = Tensor::empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) out.f32()[i] = mask.f32()[i] > 0.5f ? x.f32()[i] : known.f32()[i];
  return out;
}

Tensor q_sample_at(const NoiseSchedule& s, const Tensor& x0, int64_t t, const Tensor& z) {
  return q_sample(
      s, x0, Tensor::from_ints(std::vector<int32_t>(x0.size(0), static_cast<int32_t>(t)), {x0.size(0)}), z);
}

// A (1, ...) tensor repeated to B rows; (B, ...) as is.
Tensor rows_for_batch(const Tensor& t, int64_t B, const char* what) {
  if (t.size(0) == B) return t;
  if (t.size(0) != 1)
    fail("sample: ", what, " has ", t.size(0), " rows for a batch of ", B, " (expected 1 or ", B, ")");
  return B == 1 ? t : concat(std::vector<Tensor>(static_cast<size_t>(B), t), 0);
}

}  // namespace

Tensor denoise(const NoiseSchedule& s, const EpsFn& eps_fn, const NoiseFn& noise, const SampleOptions& opt,
               const std::function<void(int64_t, int64_t)>& progress) {
  const std::vector<int64_t> ts = sampler_timesteps(opt.sampler, s, opt.steps);
  const int64_t K = static_cast<int64_t>(ts.size());
  const bool img2img = opt.init.defined(), inpaint = opt.mask.defined();
  if (inpaint && !img2img) fail("--mask: inpainting needs --init-image (the pixels to keep)");
  const int64_t first = img2img ? img2img_first_step(K, opt.strength) : 0, total = K - first;
  Tensor x = noise();  // drawn even when unused, so that strength 1 starts from text-to-image's x_T
  if (img2img) {
    if (opt.init.shape() != x.shape() || (inpaint && opt.mask.shape() != x.shape()))
      fail("sample: the init image ", shape_str(opt.init.shape()), inpaint ? " or mask " : "",
           inpaint ? shape_str(opt.mask.shape()) : "", " does not match the batch ", shape_str(x.shape()));
    if (first == K) return opt.init.contiguous().clone();  // strength 0: nothing to denoise
    if (first > 0)
      x = q_sample_at(s, opt.init, ts[first], x);
    else if (inpaint)
      x = keep_known(x, q_sample_at(s, opt.init, ts[0], x), opt.mask);
  }
  Tensor m_prev;  // DPM-Solver++(2M): the previous step's data prediction
  for (int64_t i = first; i < K; ++i) {
    throw_if_interrupted();  // Ctrl-C: the caller decides what to keep
    const int64_t t = ts[i], t_next = i + 1 < K ? ts[i + 1] : -1, index = i - first;
    if (opt.before_step) opt.before_step(index, total);
    const Tensor eps = eps_fn(x, t);
    if (opt.on_step) opt.on_step({index, total, t, x, predict_x0(s, x, eps, t)});
    if (opt.sampler == "ddpm") {
      x = ddpm_step(s, x, eps, t, opt.clip_x0, noise);
    } else if (opt.sampler == "ddim") {
      x = ddim_step(s, x, eps, t, t_next, opt.eta, opt.clip_x0, noise);
    } else if (opt.sampler == "dpmpp-2m") {
      Tensor m = data_prediction(s, x, eps, t, opt.clip_x0);
      x = dpmpp_2m_step(s, x, m, t, t_next, m_prev, index > 0 ? ts[i - 1] : -1);
      m_prev = m;
    } else {
      x = euler_step(s, x, eps, t, t_next, opt.sampler == "euler-a", opt.clip_x0, noise);
    }
    if (inpaint)
      x = keep_known(x, t_next >= 0 ? q_sample_at(s, opt.init, t_next, noise()) : opt.init, opt.mask);
    check_sampling_step(x, index + 1, total, opt);
    if (progress) progress(index + 1, total);
  }
  // the last step is x_0; keep it in the data range (unless the data has none: clip_x0 = false)
  float* p = x.f32();
  if (opt.clip_x0)
    for (int64_t i = 0; i < x.numel(); ++i) p[i] = std::clamp(p[i], -1.0f, 1.0f);
  return x;
}

Tensor sample(TextToImageModel& model, const NoiseSchedule& s, const Tensor& ids, const SampleOptions& opt_in,
              const std::function<void(int64_t, int64_t)>& progress) {
  check_sampler(opt_in.sampler);
  if (!std::isfinite(opt_in.guidance) || opt_in.guidance < 0.0f)
    fail("--guidance: ", opt_in.guidance, " must be a finite number >= 0");
  if (opt_in.eta < 0.0f || !std::isfinite(opt_in.eta)) fail("--eta: ", opt_in.eta, " must be >= 0");
  if (!(opt_in.strength >= 0.0f && opt_in.strength <= 1.0f))
    fail("--strength: ", opt_in.strength, " must be in [0, 1]");
  ag::NoGrad no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const ModelConfig& c = model.config;
  const int64_t B = ids.size(0);
  const Shape one{1, c.image_channels, c.image_size, c.image_size};
  SampleOptions opt = opt_in;
  if (opt.negative_ids.defined())
    opt.negative_ids = rows_for_batch(opt.negative_ids, B, "the negative caption");
  for (Tensor* t : {&opt.init, &opt.mask}) {
    if (!t->defined()) continue;
    if (t->dim() != 4 || t->size(1) != one[1] || t->size(2) != one[2] || t->size(3) != one[3])
      fail("sample: the ", t == &opt.init ? "init image" : "mask", " is ", shape_str(t->shape()),
           "; the model makes ", shape_str(one));
    *t = rows_for_batch(*t, B, t == &opt.init ? "the init image" : "the mask").contiguous();
  }
  std::vector<Generator> gens;  // image i: seed + i, so it can be made again alone (--from-png)
  for (int64_t i = 0; i < B; ++i) gens.emplace_back(opt.seed + static_cast<uint64_t>(i));
  auto noise = [&] {
    std::vector<Tensor> parts;
    for (auto& g : gens) parts.push_back(rand_normal(one, g));
    return parts.size() == 1 ? parts[0] : concat(parts, 0);
  };
  auto eps = [&](const Tensor& x, int64_t t) {
    return guided_eps(model, s, x, t, ids, opt.guidance, opt.negative_ids);
  };
  Tensor x = denoise(s, eps, noise, opt, progress);
  model.train(was_training);
  return x;
}

}  // namespace ld::diffusion
