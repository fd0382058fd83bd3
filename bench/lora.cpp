// bench/lora.cpp: `loradiff bench lora`, article claim C2 (low-rank adapters reduce computation
// and speed up training): one LoRA training step against one full fine-tuning step of the same
// model on the same batch, measured alternately (LoRA, full, LoRA, full, ...) so that a change
// in the load of the shared machine hits both alike; the ratio is the result.
//
//   LoRA step: loss (1) forward, backward, AdamW on the adapters only (W0 frozen: no dW GEMMs,
//              and layers before the first adapter record no graph at all)
//   full step: the same on every weight (what `loradiff train` does)
// Also reported: trainable parameters (and their share of the UNet, the <= 2 % target set for it),
// and the AdamW state each needs (2 floats per trainable parameter).
#include <algorithm>
#include <chrono>

#include "bench/bench.h"
#include "data/vocab.h"
#include "diffusion/loss.h"
#include "diffusion/model_io.h"
#include "lora/attach.h"
#include "lora/lora_linear.h"
#include "nn/adam.h"
#include "tensor/parallel.h"

namespace ld::bench {

namespace {

Tensor captions(int64_t B, int64_t V, Generator& gen) {
  Tensor ids = Tensor::zeros({B, 16}, DType::I32);
  for (int64_t b = 0; b < B; ++b) {
    ids.i32()[b * 16] = 1;
    const int64_t len = 4 + gen.next_int(4);
    for (int64_t i = 1; i <= len; ++i) ids.i32()[b * 16 + i] = static_cast<int32_t>(3 + gen.next_int(V - 3));
  }
  return ids;
}

struct Setup {
  std::unique_ptr<diffusion::TextToImageModel> model;
  std::unique_ptr<nn::AdamW> opt;
  int64_t trainable = 0;
  Generator gen{11};
  std::vector<double> fwd, bwd, upd, total;
};

double med(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int run_lora(const std::string& config, int64_t batch, int reps, int64_t rank, bool composed) {
  const diffusion::ModelConfig cfg = diffusion::load_config(config);
  Setup lora, full;
  for (Setup* s : {&lora, &full}) {
    s->model = diffusion::build_model(cfg, data::Vocabulary::builtin(), 0);
    s->model->train();
  }
  lora::LoRAConfig lc;
  lc.rank = rank;
  lc.alpha = static_cast<float>(rank);
  const lora::AttachReport ar = lora::attach_lora(*lora.model, lc);
  if (composed)  // the unfused form: ag::linear, scale and add per adapter
    for (auto& [_, layer] : lora::lora_layers(*lora.model))
      if (auto l = std::dynamic_pointer_cast<lora::LoRALinear>(layer)) l->fused = false;
  const int64_t unet_params = full.model->unet->num_parameters();
  for (Setup* s : {&lora, &full}) {
    nn::NamedParameters trainable;
    for (auto& [name, p] : s->model->named_parameters())
      if (p.requires_grad()) {
        trainable.push_back({name, p});
        s->trainable += p.value().numel();
      }
    s->opt = std::make_unique<nn::AdamW>(trainable, 2e-4f);
  }
  const auto& c = full.model->config;
  auto sched = diffusion::NoiseSchedule::make(c.beta_schedule, c.timesteps, c.beta_start, c.beta_end);
  Generator gen(0);
  Tensor x0 = rand_uniform({batch, c.image_channels, c.image_size, c.image_size}, gen, -1.0f, 1.0f);
  Tensor ids = captions(batch, c.vocab_size, gen);

  auto step = [&](Setup& s, bool record) {
    auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    auto t0 = std::chrono::steady_clock::now();
    s.opt->zero_grad();
    ag::Var loss = diffusion::diffusion_loss(*s.model, sched, x0, ids, c.p_uncond, s.gen);
    auto t1 = std::chrono::steady_clock::now();
    loss.backward();
    auto t2 = std::chrono::steady_clock::now();
    s.opt->step();
    auto t3 = std::chrono::steady_clock::now();
    if (!record) return;
    s.fwd.push_back(ms(t0, t1));
    s.bwd.push_back(ms(t1, t2));
    s.upd.push_back(ms(t2, t3));
    s.total.push_back(ms(t0, t3));
  };
  step(lora, false);  // warm-up
  step(full, false);
  for (int r = 0; r < reps; ++r) {
    step(lora, true);
    step(full, true);
  }
  auto floats_mb = [](int64_t n) { return static_cast<double>(n) * 4.0 / (1024.0 * 1024.0); };
  emit({{"bench", "lora_vs_full_step"},
        {"impl", "loradiff"},
        {"config", config},
        {"batch", batch},
        {"rank", rank},
        {"lora_op", composed ? "composed" : "fused"},
        {"adapted_layers", ar.layers.size()},
        {"threads", num_threads()},
        {"reps", reps},
        {"lora_ms", med(lora.total)},
        {"full_ms", med(full.total)},
        {"ratio_lora_over_full", med(lora.total) / med(full.total)},
        {"lora_forward_ms", med(lora.fwd)},
        {"full_forward_ms", med(full.fwd)},
        {"lora_backward_ms", med(lora.bwd)},
        {"full_backward_ms", med(full.bwd)},
        {"lora_adamw_ms", med(lora.upd)},
        {"full_adamw_ms", med(full.upd)},
        {"unet_params", unet_params},
        {"model_params", full.model->num_parameters()},
        {"lora_trainable", lora.trainable},
        {"full_trainable", full.trainable},
        {"lora_share_of_unet", static_cast<double>(lora.trainable) / static_cast<double>(unet_params)},
        {"lora_adamw_state_mb", floats_mb(2 * lora.trainable)},
        {"full_adamw_state_mb", floats_mb(2 * full.trainable)}});
  return 0;
}

}  // namespace ld::bench
