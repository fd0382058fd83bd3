// bench/diffusion.cpp: `loradiff bench train` and `loradiff bench sample`, the standard
// workloads of docs/reference-model.md: a training step (forward, loss (1), backward,
// AdamW) at batch 64 and DDIM sampling of 64 images with guidance 3.0 (two UNet passes
// per step, batched as 128). bench/torch_diffusion.py runs the same network in PyTorch.
#include <sys/resource.h>

#include <chrono>

#include "autograd/ops.h"
#include "autograd/profile.h"
#include "bench/bench.h"
#include "data/vocab.h"
#include "diffusion/loss.h"
#include "diffusion/model_io.h"
#include "diffusion/sampler.h"
#include "nn/adam.h"
#include "tensor/matmul.h"
#include "tensor/parallel.h"
#include "tensor/random.h"

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

// The machine's single-precision GEMM rate through loradiff's matmul (1024^3, all threads, median of
// 5): the physical limit the profile's GEMM rows are compared with.
static double gemm_gflops() {
  Generator g(1);
  Tensor a = rand_uniform({1024, 1024}, g, -1.0f, 1.0f), b = rand_uniform({1024, 1024}, g, -1.0f, 1.0f);
  const double ms = median_ms([&] { Tensor c = matmul(a, b); }, 5, 1);
  return 2.0 * 1024 * 1024 * 1024 / (ms * 1e6);
}

// The rows of a profile as JSON lines, largest first, then a summary line. `total_ms` is the
// measured wall time of the profiled work; what no row accounts for is reported as "other".
static void emit_profile(const std::string& workload, const std::vector<ag::profile::Row>& rows,
                         double total_ms, const nlohmann::json& extra) {
  double in_rows = 0, gflop = 0;
  for (const auto& r : rows) in_rows += r.ms, gflop += r.gflop;
  for (const auto& r : rows) {
    nlohmann::json j{{"bench", "profile"},      {"workload", workload}, {"op", r.op},
                     {"phase", r.phase},        {"calls", r.calls},     {"ms", r.ms},
                     {"share", r.ms / total_ms}};
    if (r.gflop > 0) j["gflop"] = r.gflop, j["gflops"] = r.gflop / (r.ms * 1e-3);
    emit(j);
  }
  const double machine = gemm_gflops();
  nlohmann::json sum{{"bench", "profile_total"},
                     {"workload", workload},
                     {"ms", total_ms},
                     {"other_ms", total_ms - in_rows},
                     {"gemm_gflop", gflop},
                     {"effective_gflops", gflop / (total_ms * 1e-3)},
                     {"machine_gemm_gflops", machine},
                     {"share_of_gemm_rate", gflop / (total_ms * 1e-3) / machine},
                     {"threads", num_threads()}};
  for (auto& [k, v] : extra.items()) sum[k] = v;
  emit(sum);
}

int run_train(const std::string& config, int64_t batch, int reps, bool profile) {
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
  emit({{"bench", "train_step"},
        {"impl", "loradiff"},
        {"config", config},
        {"batch", batch},
        {"threads", num_threads()},
        {"reps", reps},
        {"ms", med(total)},
        {"forward_ms", med(fwd)},
        {"backward_ms", med(bwd)},
        {"adamw_ms", med(upd)},
        {"params", model->num_parameters()},
        {"peak_rss_mb", peak_rss_mb()},
        {"peak_rss_increase_mb", peak_rss_mb() - rss0}});
  if (profile) {
    ag::profile::start();
    const auto t0 = std::chrono::steady_clock::now();
    opt.zero_grad();
    ag::Var loss = diffusion::diffusion_loss(*model, sched, x0, ids, c.p_uncond, gen);
    loss.backward();
    const auto t1 = std::chrono::steady_clock::now();
    opt.step();
    const auto t2 = std::chrono::steady_clock::now();
    auto rows = ag::profile::stop();
    auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    rows.push_back({"adamw", "update", 1, ms(t1, t2), 0});
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.ms > b.ms; });
    emit_profile("train_step", rows, ms(t0, t2), {{"config", config}, {"batch", batch}});
  }
  return 0;
}

int run_sample(const std::string& config, int64_t batch, int64_t steps, float guidance, int reps,
               bool profile) {
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
  emit({{"bench", "sample_ddim"},
        {"impl", "loradiff"},
        {"config", config},
        {"batch", batch},
        {"steps", steps},
        {"guidance", guidance},
        {"threads", num_threads()},
        {"reps", reps},
        {"ms", ms},
        {"ms_per_step", ms / static_cast<double>(steps)},
        {"peak_rss_mb", peak_rss_mb()},
        {"peak_rss_increase_mb", peak_rss_mb() - rss0}});
  if (profile) {
    ag::profile::start();
    const auto t0 = std::chrono::steady_clock::now();
    Tensor x = diffusion::sample(*model, sched, ids, so);
    const double total =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    emit_profile("sample_ddim", ag::profile::stop(), total,
                 {{"config", config}, {"batch", batch}, {"steps", steps}, {"guidance", guidance}});
  }
  return 0;
}

}  // namespace ld::bench
