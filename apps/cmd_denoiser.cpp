// `loradiff denoiser-error`: how much of the noise eps_theta gives back on real test digits, by
// timestep and by the size of the noise (diffusion/denoiser_error.h): where speckles come from.
#include <cstdio>
#include <iostream>

#include "apps/commands.h"
#include "apps/guard.h"
#include "apps/option_checks.h"
#include "autograd/var.h"
#include "data/loader.h"
#include "data/mnist.h"
#include "data/tokenizer.h"
#include "diffusion/denoiser_error.h"
#include "diffusion/evaluate.h"
#include "diffusion/model_io.h"
#include "diffusion/sampler.h"
#include "tensor/file_io.h"

namespace ld::app {

void register_denoiser_error(CLI::App& app, Runner& run) {
  struct Args {
    std::string model, data_dir = "data/mnist", json_out;
    int64_t n = 200;
    std::vector<int64_t> timesteps{10, 50, 150, 400, 800};
    float guidance = 1.0f;
    uint64_t seed = 0;
    bool overwrite = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "denoiser-error",
      "how much of the noise eps_theta gives back on background pixels, by timestep and |z| (JSON)");
  cmd->add_option("--model", a->model, "checkpoint")->required();
  cmd->add_option("--data", a->data_dir, "MNIST folder: the first --n digits of its test split")
      ->capture_default_str();
  cmd->add_option("--n", a->n, "test digits")->capture_default_str();
  cmd->add_option("--t", a->timesteps, "timesteps, e.g. 10,50,150")->delimiter(',')->capture_default_str();
  cmd->add_option("--guidance", a->guidance,
                  "classifier-free guidance scale of the prediction (1 = conditional)")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "noise seed")->capture_default_str();
  cmd->add_option("--json", a->json_out, "also write the rows to this file");
  cmd->add_flag("--overwrite", a->overwrite, "replace an existing --json file even when it is not JSON");
  cmd->callback([&run, a] {
    run = [a] {
      check_outputs_distinct({{"--model", a->model}, {"--data", a->data_dir}}, {{"--json", a->json_out}});
      check_output_file({"--json", a->json_out}, FileKind::Json, a->overwrite);
      diffusion::LoadedModel lm = diffusion::load_model(a->model);
      const diffusion::ModelConfig& cfg = lm.model->config;
      for (int64_t t : a->timesteps)
        if (t < 0 || t >= cfg.timesteps) fail("--t: ", t, " must be between 0 and ", cfg.timesteps - 1);
      data::Digits test = data::load_mnist(a->data_dir, data::Split::Test);
      diffusion::check_image_shape(cfg, test.rows, test.cols, 1, "'" + a->data_dir + "' (--data)",
                                   "the model --model '" + a->model + "'");
      const int64_t n = std::min<int64_t>(a->n, test.count());
      data::CaptionedImages real = data::captioned_mnist(test, data::CaptionMode::Simple);
      std::vector<std::string> prompts;
      for (int64_t i = 0; i < n; ++i) prompts.push_back(diffusion::digit_prompt(lm.vocab, real.labels[i]));
      const Tensor ids = data::tokenize_batch(lm.vocab, prompts).ids;
      const Tensor x0 = real.images.narrow(0, 0, n);
      auto s = diffusion::NoiseSchedule::make(cfg.beta_schedule, cfg.timesteps, cfg.beta_start, cfg.beta_end);
      lm.model->eval();
      ag::NoGrad no_grad;
      const auto rows = diffusion::denoiser_error(
          s, x0,
          [&](const Tensor& x_t, const Tensor& t) {
            return diffusion::guided_eps(*lm.model, s, x_t, t.i32()[0], ids, a->guidance);
          },
          a->timesteps, a->seed);
      nlohmann::json j = nlohmann::json::array();
      std::printf("%6s %10s %9s %8s %8s %11s\n", "t", "|z|", "pixels", "rms", "shrink", "x0 error");
      for (const auto& r : rows) {
        j.push_back(r.to_json());
        std::printf("%6lld %10s %9lld %8.3f %8.3f %11.4f\n", static_cast<long long>(r.t), r.z_range.c_str(),
                    static_cast<long long>(r.pixels), r.rms, r.shrink, r.shrink * r.x0_factor);
      }
      nlohmann::json out{
          {"model", a->model}, {"n", n}, {"guidance", a->guidance}, {"seed", a->seed}, {"rows", j}};
      if (!a->json_out.empty()) write_file_atomic(a->json_out, out.dump(2) + "\n");
      return 0;
    };
  });
}

}  // namespace ld::app
