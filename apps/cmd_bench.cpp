// `loradiff bench ops`: micro-benchmarks as JSON lines (see bench/).
#include "apps/commands.h"
#include "bench/bench.h"
#include "diffusion/resources.h"
#include "tensor/error.h"

namespace ld::app {

void register_bench(CLI::App& app, Runner& run) {
  auto* cmd = app.add_subcommand("bench", "benchmarks, printed as JSON lines");
  cmd->require_subcommand(1);
  auto* ops = cmd->add_subcommand("ops", "matmul vs raw sgemm, dense-layer products (thin_gemm vs OpenBLAS), conv2d, softmax, layer norm");
  auto reps = std::make_shared<int>(7);
  // the diffusion workloads of docs/reference-model.md (bench/diffusion.cpp)
  ops->add_option("--reps", *reps, "repetitions per measurement (median reported)")->check(CLI::Range(1, 1000));
  ops->callback([&run, reps] { run = [reps] { return bench::run_ops(*reps); }; });
  auto* wino =
      cmd->add_subcommand("winograd", "3x3 convolutions: Winograd F(2x2) vs F(4x4) at the mnist-t2i shapes");
  wino->add_option("--reps", *reps, "alternating repetitions (medians reported)")->check(CLI::Range(1, 1000));
  wino->callback([&run, reps] { run = [reps] { return bench::run_winograd(*reps); }; });

  struct Args {
    std::string config = "mnist-t2i";
    int64_t batch = 64, steps = 50;
    float guidance = 3.0f;
    int reps = 5;
    bool profile = false;
  };
  auto a = std::make_shared<Args>();
  auto* train = cmd->add_subcommand("train", "one training step: forward, loss (1), backward, AdamW");
  auto* sample = cmd->add_subcommand("sample", "DDIM sampling with classifier-free guidance");
  for (auto* sub : {train, sample}) {
    sub->add_option("--config", a->config, "model config")->capture_default_str();
    sub->add_option("--batch", a->batch, "images per batch")->capture_default_str()->check(CLI::Range(1, 4096));
    sub->add_option("--reps", a->reps, "repetitions (median reported)")->capture_default_str()->check(CLI::Range(1, 1000));
    sub->add_flag("--profile", a->profile,
                  "also profile one run: time per op and phase, share, GFLOP/s of the GEMM-shaped ops");
  }
  sample->add_option("--steps", a->steps, "DDIM steps")->capture_default_str()->check(CLI::Range(1, 1000));
  sample->add_option("--guidance", a->guidance, "guidance scale")->capture_default_str();
  train->callback([&run, a] {
    run = [a] {
      diffusion::check_train_memory(diffusion::load_config(a->config), a->batch, 0);
      return bench::run_train(a->config, a->batch, a->reps, a->profile);
    };
  });
  auto* lora = cmd->add_subcommand("lora", "a LoRA training step vs a full fine-tuning step, measured alternately (C2)");
  auto rank = std::make_shared<int64_t>(4);
  lora->add_option("--config", a->config, "model config")->capture_default_str();
  lora->add_option("--batch", a->batch, "images per batch")->capture_default_str()->check(CLI::Range(1, 4096));
  lora->add_option("--reps", a->reps, "alternating repetitions (medians reported)")->capture_default_str()->check(CLI::Range(1, 1000));
  lora->add_option("--rank", *rank, "LoRA rank (alpha = rank)")->capture_default_str()->check(CLI::Range(1, 1024));
  auto composed = std::make_shared<bool>(false);
  lora->add_flag("--composed", *composed, "LoRA layers as ag::linear + scale + add instead of the fused op");
  lora->callback([&run, a, rank, composed] {
    run = [a, rank, composed] {
      diffusion::check_train_memory(diffusion::load_config(a->config), a->batch, 0);
      return bench::run_lora(a->config, a->batch, a->reps, *rank, *composed);
    };
  });
  sample->callback([&run, a] {
    run = [a] {
      diffusion::check_sample_memory(diffusion::load_config(a->config), a->batch, a->batch,
                                     a->guidance != 1.0f, "--batch", str_cat(a->batch));
      return bench::run_sample(a->config, a->batch, a->steps, a->guidance, a->reps, a->profile);
    };
  });
}

}  // namespace ld::app
