// `loradiff train`, `loradiff sample` and `loradiff eval`: the text-to-image model of the article
// (Eqs. (1), (2)) trained on MNIST digits and sampled from captions.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>

#include "apps/commands.h"
#include "apps/guard.h"
#include "apps/option_checks.h"
#include "data/image.h"
#include "data/png.h"
#include "data/tokenizer.h"
#include "data/loader.h"
#include "data/mnist.h"
#include "diffusion/evaluate.h"
#include "diffusion/model_io.h"
#include "diffusion/resources.h"
#include "tensor/file_io.h"
#include "diffusion/sampler.h"
#include "diffusion/trace.h"
#include "diffusion/trainer.h"
#include "lora/adapter_file.h"
#include "tensor/index.h"
#include "tensor/interrupt.h"

namespace ld::app {

void register_train(CLI::App& app, Runner& run) {
  auto o = std::make_shared<diffusion::TrainOptions>();
  auto* cmd = app.add_subcommand("train", "train the text-to-image diffusion model on MNIST (loss (1))");
  cmd->add_option("--config", o->config, "model config: mnist-t2i (reference), mnist-t2i-small, mnist-t2i-tiny, or a .json file")
      ->capture_default_str();
  cmd->add_option("--data", o->data_dir, "MNIST folder (from `loradiff data fetch-mnist`)")->capture_default_str();
  cmd->add_option("--out", o->out_dir, "run folder, e.g. runs/mnist")->required();
  cmd->add_option("--steps", o->steps, "total optimizer steps")->capture_default_str();
  cmd->add_option("--batch", o->batch, "batch size")->capture_default_str();
  cmd->add_option("--lr", o->lr, "AdamW learning rate")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "linear warm-up steps")->capture_default_str();
  cmd->add_option("--clip", o->clip, "clip gradients to this global norm (0 = off)")->capture_default_str();
  cmd->add_option("--ema", o->ema_decay, "EMA decay of the sampling weights")->capture_default_str();
  cmd->add_option("--exclude-digits", o->exclude_digits, "digits left out of training, e.g. 9")->delimiter(',');
  cmd->add_option("--seed", o->seed, "seed of initialisation, data order and noise")->capture_default_str();
  cmd->add_option("--captions", o->caption_mode, "simple (only 'a handwritten digit <word>') or varied")
      ->capture_default_str();
  cmd->add_option("--max-train-samples", o->max_train_samples, "use only the first N training digits (0 = all)");
  cmd->add_option("--log-every", o->log_every, "steps between loss.csv rows")->capture_default_str();
  cmd->add_option("--checkpoint-every", o->checkpoint_every, "steps between checkpoints (0 = only at the end and on Ctrl-C)")->capture_default_str();
  cmd->add_option("--sample-every", o->sample_every, "steps between sample grids (0 = never)")->capture_default_str();
  cmd->add_option("--eval-every", o->eval_every, "steps between held-out losses (0 = never)")->capture_default_str();
  cmd->add_option("--eval-batches", o->eval_batches, "held-out batches per evaluation")->capture_default_str();
  cmd->add_option("--sample-steps", o->sample_steps, "DDIM steps for the sample grids")->capture_default_str();
  cmd->add_flag("--resume", o->resume, "continue the run in --out from its last checkpoint");
  cmd->add_flag("--overwrite", o->overwrite,
                "start afresh in an --out folder that holds another run (its state and loss log are removed)");
  auto quiet = std::make_shared<bool>(false);
  cmd->add_flag("--no-progress", *quiet, "no progress bar");
  cmd->callback([&run, o, quiet, cmd] {
    const bool warmup_given = cmd->count("--warmup") > 0;  // the default is not the user's choice to question
    run = [o, quiet, warmup_given] {
      o->progress = !*quiet;
      if (auto w = warmup_given ? warmup_warning(o->warmup, o->steps, o->lr) : ""; !w.empty())
        std::cerr << "loradiff: warning: " << w << "\n";
      install_interrupt_handler();  // Ctrl-C: checkpoint the steps done, then stop
      diffusion::TrainResult r = diffusion::train(*o, std::cout);
      std::cout << (r.interrupted ? "interrupted" : "trained") << ": steps " << r.start_step << " -> " << r.end_step
                << ", last loss " << r.last_loss << ", " << r.seconds << " s; checkpoint "
                << (std::filesystem::path(o->out_dir) / "model.safetensors").string() << "\n";
      return 0;
    };
  });
}

void register_sample(CLI::App& app, Runner& run) {
  struct Args {
    std::string model, out, out_dir, sampler = "ddim";
    std::vector<std::string> prompts, loras;
    int64_t n = 64, steps = 50, batch = 64;
    float guidance = 3.0f, eta = 0.0f;
    uint64_t seed = 0;
    bool overwrite = false;
    std::string trace;
    int64_t trace_steps = 8;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("sample", "generate digits from a caption (DDIM or DDPM, classifier-free guidance)");
  cmd->add_option("--model", a->model, "checkpoint (model.safetensors of a run)")->required();
  cmd->add_option("--prompt", a->prompts, "caption, e.g. \"a handwritten digit seven\" (repeatable)")->required();
  cmd->add_option("--n", a->n, "images per prompt")->capture_default_str();
  cmd->add_option("--sampler", a->sampler, "ddim or ddpm")->capture_default_str();
  cmd->add_option("--steps", a->steps, "DDIM steps (DDPM uses all T)")->capture_default_str();
  cmd->add_option("--guidance", a->guidance, "classifier-free guidance scale s (1 = none)")->capture_default_str();
  cmd->add_option("--eta", a->eta, "DDIM eta (0 = deterministic)")->capture_default_str();
  cmd->add_option("--seed", a->seed, "noise seed: same seed, same images")->capture_default_str();
  cmd->add_option("--batch", a->batch, "images per forward batch (memory)")->capture_default_str();
  cmd->add_option("--out", a->out, "grid PNG (with generation parameters in a text chunk)")->required();
  cmd->add_option("--out-dir", a->out_dir, "also write one PNG per image here");
  cmd->add_option("--lora", a->loras, "LoRA adapter FILE[:W][:down=a,mid=b,up=c,te=d][:start=s,end=e] beside the base model, e.g. nines.safetensors:0.8 or nines.safetensors:0.8:up=1:start=0.5 (per-block weights, active for a fraction of the steps; repeatable; kohya and PEFT files too)");
  cmd->add_flag("--overwrite", a->overwrite, "replace an existing --out file even when it is not a PNG");
  cmd->add_option("--trace", a->trace,
                  "also write the denoising trajectory as one PNG: a row per prompt, x_t and the predicted x_0 "
                  "at --trace-steps steps, then the result (diffusion/trace.h)");
  cmd->add_option("--trace-steps", a->trace_steps, "steps shown in --trace, evenly spaced")->capture_default_str();
  cmd->callback([&run, a] {
    run = [a] {
      install_interrupt_handler();  // Ctrl-C: stop between sampler steps, write nothing
      if (a->n < 1) fail("--n: ", a->n, " must be >= 1");
      if (a->batch < 1) fail("--batch: ", a->batch, " must be >= 1");
      if (a->sampler != "ddim" && a->sampler != "ddpm") fail("--sampler: '", a->sampler, "' must be ddim or ddpm");
      for (const auto& p : a->prompts) data::check_prompt(p, "--prompt");  // before the work, not at the PNG
      const auto inputs = std::vector<PathArg>{{"--model", a->model}} + lora_inputs(a->loras);
      check_outputs_distinct(inputs, {{"--out", a->out}, {"--out-dir", a->out_dir}, {"--trace", a->trace}});
      check_output_file({"--out", a->out}, FileKind::Png, a->overwrite);
      check_output_file({"--trace", a->trace}, FileKind::Png, a->overwrite);
      check_output_folder({"--out-dir", a->out_dir});
      diffusion::LoadedModel lm = diffusion::load_model(a->model);
      std::vector<std::pair<std::string, std::string>> lora_params;  // article Fig. 5: base + adapters
      const auto lora_reports = lora::load_lora_specs(*lm.model, a->loras, &lm.vocab);  // + new words
      for (const auto& r : lora_reports) {
        for (const auto& w : r.warnings) std::cerr << "loradiff: warning: " << w << "\n";
        lora_params.push_back({"LoRA", str_cat(r.name, ":", r.weight)});
      }
      const diffusion::ModelConfig& cfg = lm.model->config;
      const int64_t n_images = a->n * static_cast<int64_t>(a->prompts.size());
      const std::string n_what = str_cat(a->n, " images x ", a->prompts.size(), " prompt(s)");
      diffusion::check_sample_memory(cfg, n_images, a->batch, a->guidance != 1.0f, "--n", n_what);
      data::check_grid_size(n_images, cfg.image_size, cfg.image_size, 2, "--n " + n_what);
      diffusion::NoiseSchedule s =
          diffusion::NoiseSchedule::make(cfg.beta_schedule, cfg.timesteps, cfg.beta_start, cfg.beta_end);
      std::vector<std::string> captions;
      for (auto& p : a->prompts)
        for (int64_t i = 0; i < a->n; ++i) captions.push_back(p);
      data::TokenBatch tb = data::tokenize_batch(lm.vocab, captions);
      for (size_t i = 0; i < tb.warnings.size(); ++i)
        if (i == 0 || tb.warnings[i] != tb.warnings[i - 1]) std::cerr << "loradiff: warning: " << tb.warnings[i] << "\n";
      diffusion::SampleOptions so;
      so.sampler = a->sampler;
      so.steps = a->steps;
      so.guidance = a->guidance;
      so.eta = a->eta;
      so.source = diffusion::model_source(a->model, a->loras);
      so.before_step = lora::adapter_step_schedule(*lm.model, lora_reports);  // --lora ...:start=s,end=e
      std::vector<Tensor> parts;
      const int64_t total = static_cast<int64_t>(captions.size());
      // the denoising trajectory (Eq. (2)'s reverse process): first image of each prompt
      std::optional<diffusion::TraceRecorder> trace;
      int64_t b0 = 0;
      if (!a->trace.empty()) {
        trace.emplace(a->sampler == "ddim" ? a->steps : cfg.timesteps, a->trace_steps, a->n);
        so.on_step = [&](const diffusion::SampleStep& st) { trace->record(st, b0); };
      }
      for (b0 = 0; b0 < total; b0 += a->batch) {
        const int64_t nb = std::min(a->batch, total - b0);
        so.seed = a->seed + static_cast<uint64_t>(b0 / a->batch);  // chunk k uses seed + k
        parts.push_back(diffusion::sample(*lm.model, s, tb.ids.narrow(0, b0, nb), so));
        std::cerr << "\rsampled " << b0 + nb << "/" << total << std::flush;
      }
      std::cerr << "\n";
      Tensor imgs = parts.size() == 1 ? parts[0] : concat(parts, 0);
      data::GenerationParams gp;
      gp.prompt = a->prompts.size() == 1 ? a->prompts[0] : nlohmann::json(a->prompts).dump();
      gp.seed = a->seed;
      gp.steps = a->sampler == "ddim" ? a->steps : cfg.timesteps;
      gp.guidance = a->guidance;
      gp.sampler = a->sampler == "ddim" ? "DDIM" : "DDPM";
      gp.model_hash = lm.metadata.count("weights_hash") ? lm.metadata.at("weights_hash") : "";
      gp.extra = lora_params;
      int64_t rows, cols;
      if (a->prompts.size() > 1 && a->n <= 16) {
        rows = static_cast<int64_t>(a->prompts.size());
        cols = a->n;
      } else {
        data::grid_shape(total, rows, cols);
      }
      data::write_png_grid(a->out, imgs, rows, cols, 2, gp);
      if (trace) {
        int64_t trows = 0, tcols = 0;
        const Tensor cells = trace->grid(imgs, trows, tcols);
        data::GenerationParams tp = gp;
        tp.extra.push_back({"Trace steps", nlohmann::json(trace->steps()).dump()});
        data::write_png_grid(a->trace, cells, trows, tcols, 2, tp);
      }
      if (!a->out_dir.empty()) {
        std::filesystem::create_directories(a->out_dir);
        for (int64_t i = 0; i < total; ++i) {
          char name[32];
          std::snprintf(name, sizeof name, "%05ld.png", static_cast<long>(i));
          data::GenerationParams one = gp;
          one.prompt = captions[i];
          data::write_png((std::filesystem::path(a->out_dir) / name).string(), imgs.select(0, i), one);
        }
      }
      std::cout << "wrote " << a->out << " (" << total << " images";
      if (!a->out_dir.empty()) std::cout << ", and one PNG each in " << a->out_dir;
      if (trace) std::cout << "; trajectory in " << a->trace;
      std::cout << ")\n";
      return 0;
    };
  });
}

}  // namespace ld::app

namespace ld::app {

void register_eval(CLI::App& app, Runner& run) {
  struct Args {
    std::string model, classifier, data_dir = "data/mnist", json_out, sampler = "ddim";
    int64_t n = 100, steps = 50, batch = 100;
    float guidance = 3.0f;
    uint64_t seed = 0;
    std::vector<int> digits{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    std::vector<std::string> loras;
    std::string prompt;
    bool overwrite = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval", "prompt accuracy and Frechet distance of generated digits (JSON)");
  cmd->add_option("--model", a->model, "checkpoint to evaluate")->required();
  cmd->add_option("--classifier", a->classifier, "the judge (`loradiff classifier train`)")->required();
  cmd->add_option("--data", a->data_dir, "MNIST folder: its test split is the real reference")->capture_default_str();
  cmd->add_option("--n-per-digit", a->n, "images generated per digit prompt")->capture_default_str();
  cmd->add_option("--digits", a->digits, "digits to prompt, e.g. 0,1,2")->delimiter(',');
  cmd->add_option("--prompt", a->prompt,
                  "draw every digit's images from this caption instead, e.g. \"a handwritten digit sks\" with "
                  "--digits 9: the share judged a nine");
  cmd->add_option("--sampler", a->sampler, "ddim or ddpm")->capture_default_str();
  cmd->add_option("--steps", a->steps, "DDIM steps")->capture_default_str();
  cmd->add_option("--guidance", a->guidance, "classifier-free guidance scale")->capture_default_str();
  cmd->add_option("--seed", a->seed, "noise seed")->capture_default_str();
  cmd->add_option("--batch", a->batch, "images per sampling batch")->capture_default_str();
  cmd->add_option("--json", a->json_out, "also write the JSON result to this file");
  cmd->add_option("--lora", a->loras, "LoRA adapter FILE[:W][:down=a,mid=b,up=c,te=d][:start=s,end=e] applied to the model (repeatable)");
  cmd->add_flag("--overwrite", a->overwrite, "replace an existing --json file even when it is not JSON");
  cmd->callback([&run, a] {
    run = [a] {
      install_interrupt_handler();  // Ctrl-C: stop between sampler steps, write nothing
      if (a->batch < 1) fail("--batch: ", a->batch, " must be >= 1");
      const auto inputs =
          std::vector<PathArg>{{"--model", a->model}, {"--classifier", a->classifier}, {"--data", a->data_dir}} +
          lora_inputs(a->loras);
      check_outputs_distinct(inputs, {{"--json", a->json_out}});
      check_output_file({"--json", a->json_out}, FileKind::Json, a->overwrite);
      diffusion::LoadedModel lm = diffusion::load_model(a->model);
      nlohmann::json lora_used = nlohmann::json::array();
      const auto lora_reports = lora::load_lora_specs(*lm.model, a->loras, &lm.vocab);  // + new words
      for (const auto& r : lora_reports) {
        for (const auto& w : r.warnings) std::cerr << "loradiff: warning: " << w << "\n";
        lora_used.push_back(str_cat(r.name, ":", r.weight));
      }
      diffusion::check_sample_memory(lm.model->config, a->n * static_cast<int64_t>(a->digits.size()),
                                     a->batch, a->guidance != 1.0f, "--n-per-digit",
                                     str_cat(a->n, " x ", a->digits.size(), " digits"));
      auto cls = nn::load_classifier(a->classifier);
      data::Digits test = data::load_mnist(a->data_dir, data::Split::Test);
      diffusion::check_image_shape(lm.model->config, test.rows, test.cols, 1,
                                   "'" + a->data_dir + "' (--data)", "the model --model '" + a->model + "'");
      data::CaptionedImages real = data::captioned_mnist(test, data::CaptionMode::Simple);
      diffusion::EvalOptions eo;
      eo.n_per_digit = a->n;
      eo.digits = a->digits;
      eo.batch = a->batch;
      eo.sample.sampler = a->sampler;
      eo.sample.steps = a->steps;
      eo.sample.guidance = a->guidance;
      eo.sample.seed = a->seed;
      eo.sample.source = diffusion::model_source(a->model, a->loras);
      eo.sample.before_step = lora::adapter_step_schedule(*lm.model, lora_reports);
      eo.prompt = a->prompt;
      if (!eo.prompt.empty()) data::check_prompt(eo.prompt, "--prompt");
      Tensor labels = Tensor::from_ints(real.labels, {real.size()});
      auto t0 = std::chrono::steady_clock::now();
      diffusion::EvalResult r =
          diffusion::evaluate(*lm.model, lm.vocab, *cls, real.images, labels, eo, [](int64_t done, int64_t total) {
            std::cerr << "\reval: generated " << done << "/" << total << std::flush;
          });
      std::cerr << "\n";
      nlohmann::json j = r.to_json();
      j["model"] = a->model;
      j["classifier"] = a->classifier;
      j["lora"] = lora_used;
      if (!a->prompt.empty()) j["prompt"] = a->prompt;
      j["sampler"] = a->sampler;
      j["steps"] = a->steps;
      j["guidance"] = a->guidance;
      j["seed"] = a->seed;
      j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!a->json_out.empty()) write_file_atomic(a->json_out, j.dump(2) + "\n");
      std::cout << j.dump() << std::endl;
      return 0;
    };
  });
}

}  // namespace ld::app
