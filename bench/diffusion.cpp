// bench/diffusion.cpp: `loradiff bench train` and `loradiff bench sample`, the standard
// workloads of shared/reference-model.md: a training step (forward, loss (1), backward,
// AdamW) at batch 64 and DDIM sampling of 64 images with guidance 3.0 (two UNet passes
// per step, batched as 128). bench/torch_diffusion.py runs the same network in PyTorch.
#include <sys/resource.h>

#include <chrono>

#include "autograd/ops.h"
#include "bench/bench.h"
#include "diffusion/loss.h"
#include "diffusion/model_io.h"
#include "diffusion/sampler.h"
#include "data/vocab.h"
#include "nn/adam.h"
#include "tensor/parallel.h"

namespace ld::bench {

static double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

static Tensor random_captions(int64_t B, int64_t V, Generator& gen) {
  Tensor ids = Tensor::zeros({B, 16}, DType::I32);
  for (int64_t b = 0; b < B; ++b) {
    ids.i32()[b * 16] = 1;
    const int64_t len = 4 + gen.next_int(4);
    for (int64_t i = 1; i <= len; ++i) ids.i32()[b * 16 + i] = static_cast<int32_t>(3 + gen.next_int(V - 3));
  }
  return ids;
}

int run_train(const std::string& config, int64_t batch, int reps) {
  const double rss0 = peak_rss_mb();
  Generator gen(0);
  auto model = diffusion::build_model(diffusion::load_config(config), data::Vocabulary::builtin(), 0);
  model->train();
  nn::AdamW opt(model->named_parameters(), 2e-4f);
  const auto& c = model->config;
  auto sched = diffusion::NoiseSchedule::make(c.beta_schedule, c.timesteps, c.beta_start, c.beta_end);
  Tensor x0 = rand_uniform({batch, c.image_channels, c.image_size, c.image_size}, gen, -1.0f, 1.0f);
  Tensor ids = random_captions(batch, c.vocab_size, gen);
  std::vector<double> fwd, bwd, upd, total;
  for (int r = 0; r < reps + 1; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    opt.zero_grad();
    ag::Var loss = diffusion::diffusion_loss(*model, sched, x0, ids, c.p_uncond, gen);
    auto t1 = std::chrono::steady_clock::now();
    loss.backward();
    auto t2 = std::chrono::steady_clock::now();
    opt.step();
    auto t3 = std::chrono::steady_clock::now();
    if (r == 0) continue;  // warm-up
    auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    fwd.push_back(ms(t0, t1));
    bwd.push_back(ms(t1, t2));
    upd.push_back(ms(t2, t3));
    total.push_back(ms(t0, t3));
  }
  auto med = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  emit({{"bench", "train_step"}, {"impl", "loradiff"}, {"config", config}, {"batch", batch},
        {"threads", num_threads()}, {"reps", reps}, {"ms", med(total)}, {"forward_ms", med(fwd)},
        {"backward_ms", med(bwd)}, {"adamw_ms", med(upd)}, {"params", model->num_parameters()},
        {"peak_rss_mb", peak_rss_mb()}, {"peak_rss_increase_mb", peak_rss_mb() - rss0}});
  return 0;
}

int run_sample(const std::string& config, int64_t batch, int64_t steps, float guidance, int reps) {
  const double rss0 = peak_rss_mb();
  Generator gen(0);
  auto model = diffusion::build_model(diffusion::load_config(config), data::Vocabulary::builtin(), 0);
  const auto& c = model->config;
  auto sched = diffusion::NoiseSchedule::make(c.beta_schedule, c.timesteps, c.beta_start, c.beta_end);
  Tensor ids = random_captions(batch, c.vocab_size, gen);
  diffusion::SampleOptions so;
  so.steps = steps;
  so.guidance = guidance;
  double ms = median_ms([&] { Tensor x = diffusion::sample(*model, sched, ids, so); }, reps, 0);
  emit({{"bench", "sample_ddim"}, {"impl", "loradiff"}, {"config", config}, {"batch", batch}, {"steps", steps},
        {"guidance", guidance}, {"threads", num_threads()}, {"reps", reps}, {"ms", ms},
        {"ms_per_step", ms / static_cast<double>(steps)}, {"peak_rss_mb", peak_rss_mb()},
        {"peak_rss_increase_mb", peak_rss_mb() - rss0}});
  return 0;
}

}  // namespace ld::bench
