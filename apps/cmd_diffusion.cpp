// `loradiff train`, `loradiff sample` and `loradiff eval`: the text-to-image model of the article
// (Eqs. (1), (2)) trained on MNIST digits and sampled from captions.
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

#include "apps/commands.h"
#include "apps/guard.h"
#include "apps/option_checks.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/mnist.h"
#include "data/png.h"
#include "data/tokenizer.h"
#include "data/utf8.h"
#include "diffusion/evaluate.h"
#include "diffusion/generation_info.h"
#include "diffusion/model_io.h"
#include "diffusion/resources.h"
#include "diffusion/sampler.h"
#include "diffusion/shapes_eval.h"
#include "diffusion/trace.h"
#include "diffusion/trainer.h"
#include "lora/adapter_file.h"
#include "lora/adapter_formats.h"
#include "tensor/file_io.h"
#include "tensor/index.h"
#include "tensor/interrupt.h"

namespace ld::app {

namespace {

// The "parameters" chunk of a PNG for --from-png, or a one-line error.
data::GenerationParams app_read_parameters(const std::string& path) {
  std::optional<data::GenerationParams> p;
  try {
    p = data::read_png_parameters(path);
  } catch (const Error& e) {
    fail("--from-png: ", e.what());
  }
  if (!p)
    fail("--from-png: '", path,
         "' has no 'parameters' text chunk (expected a PNG written by loradiff sample, e.g. one of "
         "--out-dir)");
  return *p;
}

std::string param_or(const data::GenerationParams& p, const std::string& key, const std::string& fallback) {
  for (const auto& [k, v] : p.extra)
    if (k == key) return v;
  return fallback;
}

float param_number(const data::GenerationParams& p, const std::string& key, float fallback,
                   const std::string& file) {
  const std::string v = param_or(p, key, "");
  if (v.empty()) return fallback;
  char* end = nullptr;
  const float f = std::strtof(v.c_str(), &end);
  if (!end || *end != '\0' || !std::isfinite(f))
    fail("--from-png: '", file, "' has '", key, ": ", data::printable(v, 40), "', not a number");
  return f;
}

// --from-png: the model, adapters, image size and input images must be the ones the PNG was made with.
void check_same_setup(const data::GenerationParams& png, const data::GenerationParams& now,
                      const std::string& file) {
  auto differ = [&](const std::string& what, const std::string& was, const std::string& is,
                    const std::string& hint) {
    if (was != is)
      fail("--from-png: '", file, "' was made with ", what, " '", data::printable(was, 60),
           "', this run has '", data::printable(is, 60), "'", hint);
  };
  differ("Size", png.size, now.size, " (use the model it was made with)");
  differ("Model hash", png.model_hash, now.model_hash, " (give the --model it was made with)");
  for (const char* key : {"Lora hashes", "LoRA", "Init image hash", "Mask hash"}) {
    std::string was, is;
    for (const auto& [k, v] : png.extra)
      if (k == key) was += (was.empty() ? "" : "; ") + v;
    for (const auto& [k, v] : now.extra)
      if (k == key) is += (is.empty() ? "" : "; ") + v;
    differ(key, was, is, " (give the same --lora, --init-image and --mask)");
  }
}

}  // namespace

void register_train(CLI::App& app, Runner& run) {
  auto o = std::make_shared<diffusion::TrainOptions>();
  auto* cmd = app.add_subcommand(
      "train", "train the text-to-image diffusion model (loss (1)) on MNIST or a captioned folder");
  cmd->add_option("--config", o->config,
                  "model config: mnist-t2i (reference), mnist-t2i-small, mnist-t2i-tiny, shapes-t2i (32x32 "
                  "colour; -small, -tiny), or a .json file")
      ->capture_default_str();
  cmd->add_option("--prediction-type", o->prediction_type,
                  "what the network learns, in place of the config's: epsilon (loss (1)) or v_prediction "
                  "(docs/diffusion.md; the shapes configs' default)");
  cmd->add_option("--data", o->data_dir,
                  "MNIST folder (from `loradiff data fetch-mnist`), or a folder of images with same-name "
                  ".txt captions")
      ->capture_default_str();
  cmd->add_option("--val", o->val_dir, "held-out folder of captioned images (folder --data only)");
  cmd->add_option(
      "--val-fraction", o->val_fraction,
      "part of a folder --data held out, drawn by --seed (default 0.05, at least 1 image; 0 = none)");
  cmd->add_option("--vocab", o->vocab,
                  "builtin (data/vocab.txt; default for MNIST), auto (built from the training captions; "
                  "default for a folder), shapes (the `data make-shapes` grammar) or a word-list file");
  cmd->add_option("--vocab-min-count", o->vocab_min_count, "--vocab auto: drop words seen fewer times")
      ->capture_default_str();
  cmd->add_option("--vocab-size", o->vocab_size,
                  "--vocab auto: at most this many entries (3 reserved and the spares included)")
      ->capture_default_str();
  cmd->add_option("--vocab-spare", o->vocab_spare, "--vocab auto: reserved <spare_k> rows at the end")
      ->capture_default_str();
  cmd->add_option("--out", o->out_dir, "run folder, e.g. runs/mnist")->required();
  cmd->add_option("--steps", o->steps, "total optimizer steps")->capture_default_str();
  cmd->add_option("--batch", o->batch, "batch size")->capture_default_str();
  cmd->add_option("--lr", o->lr, "AdamW learning rate")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "linear warm-up steps")->capture_default_str();
  cmd->add_option("--clip", o->clip, "clip gradients to this global norm (0 = off)")->capture_default_str();
  cmd->add_option("--ema", o->ema_decay,
                  "EMA decay of the sampling weights (warmed up as min(d, (1 + n) / (10 + n)) at update n, "
                  "as diffusers does)")
      ->capture_default_str();
  cmd->add_option("--exclude-digits", o->exclude_digits, "digits left out of training, e.g. 9")
      ->delimiter(',');
  cmd->add_option("--seed", o->seed, "seed of initialisation, data order and noise")->capture_default_str();
  cmd->add_option("--captions", o->caption_mode,
                  "MNIST captions: simple (only 'a handwritten digit <word>'), varied, ru (Russian "
                  "templates) or ru-simple ('рукописная цифра <word>')")
      ->capture_default_str();
  cmd->add_option("--max-train-samples", o->max_train_samples,
                  "use only the first N training digits (0 = all)");
  cmd->add_option("--log-every", o->log_every, "steps between loss.csv rows")->capture_default_str();
  cmd->add_option("--checkpoint-every", o->checkpoint_every,
                  "steps between checkpoints (0 = only at the end and on Ctrl-C)")
      ->capture_default_str();
  cmd->add_option("--sample-every", o->sample_every, "steps between sample grids (0 = never)")
      ->capture_default_str();
  cmd->add_option("--eval-every", o->eval_every, "steps between held-out losses (0 = never)")
      ->capture_default_str();
  cmd->add_option("--eval-batches", o->eval_batches, "held-out batches per evaluation")
      ->capture_default_str();
  cmd->add_option("--sample-steps", o->sample_steps, "DDIM steps for the sample grids")
      ->capture_default_str();
  cmd->add_flag("--resume", o->resume, "continue the run in --out from its last checkpoint");
  cmd->add_flag(
      "--overwrite", o->overwrite,
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
      std::cout << (r.interrupted ? "interrupted" : "trained") << ": steps " << r.start_step << " -> "
                << r.end_step << ", last loss " << r.last_loss << ", " << r.seconds << " s; checkpoint "
                << (std::filesystem::path(o->out_dir) / "model.safetensors").string() << "\n";
      return 0;
    };
  });
}

void register_sample(CLI::App& app, Runner& run) {
  struct Args {
    std::string model, out, out_dir, sampler = "ddim";
    std::vector<std::string> prompts, loras;
    std::string negative, init_image, mask, from_png;
    int64_t n = 64, steps = 50, batch = 64;
    float guidance = 2.0f, eta = 0.5f, strength = 0.75f;
    uint64_t seed = 0;
    bool overwrite = false;
    std::string trace;
    int64_t trace_steps = 8;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "sample", "generate digits from a caption (DDIM, DDPM, DPM-Solver++, Euler; classifier-free guidance)");
  cmd->add_option("--model", a->model, "checkpoint (model.safetensors of a run)")->required();
  cmd->add_option("--prompt", a->prompts,
                  "caption, e.g. \"a handwritten digit seven\" (repeatable; required unless --from-png)");
  cmd->add_option(
      "--negative-prompt", a->negative,
      "caption guidance pushes away from, in place of the empty one: eps = eps_neg + s (eps_c - eps_neg)");
  cmd->add_option("--n", a->n, "images per prompt")->capture_default_str();
  cmd->add_option("--sampler", a->sampler,
                  "ddim, ddpm, dpmpp-2m (DPM-Solver++ 2M), euler or euler-a (Euler ancestral)")
      ->capture_default_str();
  cmd->add_option("--steps", a->steps, "sampler steps (DDPM uses all T)")->capture_default_str();
  cmd->add_option("--guidance", a->guidance,
                  "classifier-free guidance scale s (1 = none; larger: the prompt more surely, less varied, "
                  "see docs/diffusion.md)")
      ->capture_default_str();
  cmd->add_option("--eta", a->eta,
                  "DDIM eta: fresh noise per step (0 = the deterministic ODE; 0.5 removes the speckles, "
                  "docs/results.md; any eta stays reproducible per seed)")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "noise seed: image i of the run uses seed + i (same seed, same images)")
      ->capture_default_str();
  cmd->add_option("--batch", a->batch, "images per forward batch (memory)")->capture_default_str();
  cmd->add_option("--init-image", a->init_image,
                  "img2img: start from this PNG (the model's size, e.g. 28x28 gray), noised to --strength");
  cmd->add_option(
         "--strength", a->strength,
         "img2img: share of the steps run from the noised --init-image (0 = the image, 1 = from noise)")
      ->capture_default_str();
  cmd->add_option("--mask", a->mask,
                  "inpainting: PNG, white = regenerate, black = keep --init-image's pixels");
  cmd->add_option(
      "--from-png", a->from_png,
      "remake the image a PNG of `sample` describes (its parameters chunk: prompt, seed, sampler, ...)");
  cmd->add_option("--out", a->out, "grid PNG (with generation parameters in a text chunk)")->required();
  cmd->add_option("--out-dir", a->out_dir, "also write one PNG per image here, each with its own parameters");
  cmd->add_option("--lora", a->loras,
                  "LoRA adapter FILE[:W][:down=a,mid=b,up=c,te=d][:start=s,end=e] beside the base model, "
                  "e.g. nines.safetensors:0.8 or nines.safetensors:0.8:up=1:start=0.5 (per-block weights, "
                  "active for a fraction of the steps; repeatable; kohya and PEFT files too)");
  cmd->add_flag("--overwrite", a->overwrite, "replace an existing --out file even when it is not a PNG");
  cmd->add_option(
      "--trace", a->trace,
      "also write the denoising trajectory as one PNG: a row per prompt, x_t and the predicted x_0 "
      "at --trace-steps steps, then the result (diffusion/trace.h)");
  cmd->add_option("--trace-steps", a->trace_steps, "steps shown in --trace, evenly spaced")
      ->capture_default_str();
  cmd->callback([&run, a, cmd] {
    std::vector<std::string> given;  // options --from-png takes from the file
    for (const char* o : {"--prompt", "--negative-prompt", "--n", "--sampler", "--steps", "--guidance",
                          "--eta", "--seed", "--strength"})
      if (cmd->count(o) > 0) given.push_back(o);
    const bool strength_given = cmd->count("--strength") > 0;
    run = [a, given, strength_given] {
      install_interrupt_handler();  // Ctrl-C: stop between sampler steps, write nothing
      std::optional<data::GenerationParams> from;
      if (!a->from_png.empty()) {
        if (!given.empty())
          fail("--from-png: ", given[0], " is read from '", a->from_png, "'; do not give it as well");
        from = app_read_parameters(a->from_png);
        a->prompts = {from->prompt};
        a->negative = from->negative_prompt;
        a->n = 1;
        a->seed = from->seed;
        a->sampler = diffusion::sampler_from_infotext(from->sampler, a->from_png);
        a->steps = from->steps;
        a->guidance = static_cast<float>(from->guidance);
        a->eta = param_number(*from, "Eta", 0.0f, a->from_png);
        a->strength = param_number(*from, "Denoising strength", 0.75f, a->from_png);
      } else if (a->prompts.empty()) {
        fail("--prompt: required (or --from-png FILE)");
      }
      if (a->n < 1) fail("--n: ", a->n, " must be >= 1");
      if (a->batch < 1) fail("--batch: ", a->batch, " must be >= 1");
      diffusion::check_sampler(a->sampler);
      if (!a->mask.empty() && a->init_image.empty())
        fail("--mask: inpainting needs --init-image (the pixels to keep)");
      if (strength_given && a->init_image.empty()) fail("--strength: needs --init-image (img2img)");
      for (const auto& p : a->prompts) data::check_prompt(p, "--prompt");  // before the work, not at the PNG
      data::check_prompt(a->negative, "--negative-prompt");
      auto inputs = std::vector<PathArg>{{"--model", a->model}} + lora_inputs(a->loras);
      for (const PathArg& in : std::vector<PathArg>{
               {"--init-image", a->init_image}, {"--mask", a->mask}, {"--from-png", a->from_png}})
        if (!in.path.empty()) inputs.push_back(in);
      check_outputs_distinct(inputs, {{"--out", a->out}, {"--out-dir", a->out_dir}, {"--trace", a->trace}});
      check_output_file({"--out", a->out}, FileKind::Png, a->overwrite);
      check_output_file({"--trace", a->trace}, FileKind::Png, a->overwrite);
      check_output_folder({"--out-dir", a->out_dir});
      diffusion::LoadedModel lm = diffusion::load_model(a->model);
      std::vector<std::pair<std::string, std::string>> lora_params;  // article Fig. 5: base + adapters
      std::string lora_hashes;
      const std::vector<PathArg> lora_files = lora_inputs(a->loras);
      const auto reports = lora::load_lora_specs(*lm.model, a->loras, &lm.vocab);  // + new words
      for (size_t i = 0; i < reports.size(); ++i) {
        const auto& r = reports[i];
        for (const auto& w : r.warnings) std::cerr << "loradiff: warning: " << w << "\n";
        // the whole spec when it has block weights or a step range, so --from-png checks them too
        const std::string& spec = a->loras[i];
        const std::string path = i < lora_files.size() ? lora_files[i].path : spec;
        const size_t keys = spec.find(':', spec.find(':', path.size()) + 1);
        lora_params.push_back({"LoRA", keys != std::string::npos && spec.rfind(path, 0) == 0
                                           ? r.name + spec.substr(path.size())
                                           : str_cat(r.name, ":", r.weight)});
        if (i < lora_files.size())
          lora_hashes += (lora_hashes.empty() ? "" : ", ") + r.name + ": " +
                         diffusion::file_hash10(lora::peft_weights_file(lora_files[i].path));
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
        if (i == 0 || tb.warnings[i] != tb.warnings[i - 1])
          std::cerr << "loradiff: warning: " << tb.warnings[i] << "\n";
      diffusion::SampleOptions so;
      so.sampler = a->sampler;
      so.steps = a->steps;
      so.guidance = a->guidance;
      so.eta = a->eta;
      so.source = diffusion::model_source(a->model, a->loras);
      so.before_step = lora::adapter_step_schedule(*lm.model, reports);  // --lora ...:start=s,end=e
      if (!a->negative.empty()) {  // "" is the empty caption itself: today's guidance, bit for bit
        data::TokenBatch nb = data::tokenize_batch(lm.vocab, {a->negative});
        for (const auto& w : nb.warnings) std::cerr << "loradiff: warning: --negative-prompt: " << w << "\n";
        so.negative_ids = nb.ids;
      }
      if (!a->init_image.empty()) {
        so.init =
            diffusion::load_init_image(a->init_image, cfg.image_size, cfg.image_channels, "--init-image");
        so.strength = a->mask.empty() || strength_given || from ? a->strength : 1.0f;
      }
      if (!a->mask.empty())
        so.mask = diffusion::load_mask(a->mask, cfg.image_size, cfg.image_channels, "--mask");
      // the infotext of image i (seed + i), A1111 style; the grid carries image 0's
      data::GenerationParams gp;
      gp.negative_prompt = a->negative;
      gp.steps = a->sampler == "ddpm" ? cfg.timesteps : a->steps;
      gp.guidance = a->guidance;
      gp.sampler = diffusion::sampler_infotext_name(a->sampler);
      gp.size = str_cat(cfg.image_size, "x", cfg.image_size);
      gp.model_hash = diffusion::file_hash10(a->model);
      if (!lora_hashes.empty()) gp.extra.push_back({"Lora hashes", lora_hashes});
      gp.extra.insert(gp.extra.end(), lora_params.begin(), lora_params.end());
      if (a->sampler == "ddim" && a->eta != 0.0f) gp.extra.push_back({"Eta", str_cat(a->eta)});
      if (so.init.defined()) {
        gp.extra.push_back({"Denoising strength", str_cat(so.strength)});
        gp.extra.push_back({"Init image hash", diffusion::file_hash10(a->init_image)});
      }
      if (so.mask.defined()) gp.extra.push_back({"Mask hash", diffusion::file_hash10(a->mask)});
      if (from) {
        check_same_setup(*from, gp, a->from_png);
        // one image (an --out-dir PNG, or the grid of a one-image run, drawn 2x): a grid of several holds
        // only the first image's seed
        const data::GrayImage png = data::decode_png(read_file(a->from_png), a->from_png);
        const int64_t S = cfg.image_size;
        if (!((png.width == S && png.height == S) || (png.width == 2 * S && png.height == 2 * S)))
          fail("--from-png: '", a->from_png, "' is a ", png.width, "x", png.height,
               " grid of several images; give one of the --out-dir PNGs (each holds its own image's seed)");
      }
      std::vector<Tensor> parts;
      const int64_t total = static_cast<int64_t>(captions.size());
      // the denoising trajectory (Eq. (2)'s reverse process): first image of each prompt
      std::optional<diffusion::TraceRecorder> trace;
      int64_t b0 = 0;
      if (!a->trace.empty()) {
        trace.emplace(diffusion::sample_step_count(so, s), a->trace_steps, a->n);
        so.on_step = [&](const diffusion::SampleStep& st) { trace->record(st, b0); };
      }
      for (b0 = 0; b0 < total; b0 += a->batch) {
        const int64_t nb = std::min(a->batch, total - b0);
        so.seed = a->seed + static_cast<uint64_t>(b0);  // image i of the run: seed + i
        parts.push_back(diffusion::sample(*lm.model, s, tb.ids.narrow(0, b0, nb), so));
        std::cerr << "\rsampled " << b0 + nb << "/" << total << std::flush;
      }
      std::cerr << "\n";
      Tensor imgs = parts.size() == 1 ? parts[0] : concat(parts, 0);
      auto params_of = [&](int64_t i) {
        data::GenerationParams one = gp;
        one.prompt = captions[i];
        one.seed = a->seed + static_cast<uint64_t>(i);
        return one;
      };
      data::GenerationParams grid_params = params_of(0);
      if (a->prompts.size() > 1) grid_params.prompt = nlohmann::json(a->prompts).dump();
      int64_t rows, cols;
      if (a->prompts.size() > 1 && a->n <= 16) {
        rows = static_cast<int64_t>(a->prompts.size());
        cols = a->n;
      } else {
        data::grid_shape(total, rows, cols);
      }
      data::write_png_grid(a->out, imgs, rows, cols, 2, grid_params);
      if (trace) {
        int64_t trows = 0, tcols = 0;
        const Tensor cells = trace->grid(imgs, trows, tcols);
        data::GenerationParams tp = grid_params;
        tp.extra.push_back({"Trace steps", nlohmann::json(trace->steps()).dump()});
        data::write_png_grid(a->trace, cells, trows, tcols, 2, tp);
      }
      if (!a->out_dir.empty()) {
        std::filesystem::create_directories(a->out_dir);
        for (int64_t i = 0; i < total; ++i) {
          char name[32];
          std::snprintf(name, sizeof name, "%05ld.png", static_cast<long>(i));
          data::write_png((std::filesystem::path(a->out_dir) / name).string(), imgs.select(0, i),
                          params_of(i));
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

namespace {

// `eval --dataset shapes`: captions from --prompts or the grammar, one image each, judged by rule.
template <class Args>
int eval_shapes(const Args& a) {
  const data::ShapeExclusions exclude = data::parse_shape_exclusions(a.exclude, "--exclude");
  auto inputs = std::vector<PathArg>{{"--model", a.model}} + lora_inputs(a.loras);
  if (!a.prompts_file.empty()) inputs.push_back({"--prompts", a.prompts_file});
  check_outputs_distinct(inputs, {{"--json", a.json_out}});
  check_output_file({"--json", a.json_out}, FileKind::Json, a.overwrite);
  std::vector<std::string> prompts;
  if (!a.prompts_file.empty()) {
    const std::string text = read_file(a.prompts_file);
    data::check_utf8(text, "--prompts '" + a.prompts_file + "'");
    size_t line_no = 0;
    for (size_t pos = 0; pos < text.size();) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      try {
        data::parse_shapes_caption(line);
      } catch (const Error& e) {
        fail("--prompts '", a.prompts_file, "' line ", line_no, ": ", e.what());
      }
      prompts.push_back(line);
    }
    if (prompts.empty()) fail("--prompts '", a.prompts_file, "': no caption (expected one per line)");
  } else {
    prompts = diffusion::shapes_eval_prompts(a.seed, a.n_prompts, a.two_shape_fraction);
  }
  diffusion::LoadedModel lm = diffusion::load_model(a.model);
  nlohmann::json lora_used = nlohmann::json::array();
  const auto lora_reports = lora::load_lora_specs(*lm.model, a.loras, &lm.vocab);
  for (const auto& r : lora_reports) {
    for (const auto& w : r.warnings) std::cerr << "loradiff: warning: " << w << "\n";
    lora_used.push_back(str_cat(r.name, ":", r.weight));
  }
  diffusion::check_sample_memory(lm.model->config, static_cast<int64_t>(prompts.size()), a.batch,
                                 a.guidance != 1.0f, "--n-prompts", str_cat(prompts.size(), " prompts"));
  data::TokenReport tokens;  // words the model does not know: one warning line, not one per prompt
  for (const auto& p : prompts) tokens.add(data::tokenize(lm.vocab, p));
  if (!tokens.ok()) std::cerr << "loradiff: warning: " << tokens.warning("--dataset shapes prompts") << "\n";
  diffusion::ShapesEvalOptions eo;
  eo.batch = a.batch;
  eo.exclude = exclude;
  eo.sample.sampler = a.sampler;
  eo.sample.steps = a.steps;
  eo.sample.guidance = a.guidance;
  eo.sample.eta = a.eta;
  eo.sample.seed = a.seed;
  eo.sample.source = diffusion::model_source(a.model, a.loras);
  eo.sample.before_step = lora::adapter_step_schedule(*lm.model, lora_reports);
  const auto t0 = std::chrono::steady_clock::now();
  const diffusion::ShapesEvalResult r =
      diffusion::evaluate_shapes(*lm.model, lm.vocab, prompts, eo, [](int64_t done, int64_t total) {
        std::cerr << "\reval: generated " << done << "/" << total << std::flush;
      });
  std::cerr << "\n";
  nlohmann::json j = r.to_json();
  j["model"] = a.model;
  j["lora"] = lora_used;
  j["prompts"] = a.prompts_file.empty()
                     ? nlohmann::json(str_cat("drawn: ", prompts.size(), ", seed ", a.seed))
                     : nlohmann::json(a.prompts_file);
  j["exclude"] = exclude.names();
  j["sampler"] = a.sampler;
  j["steps"] = a.steps;
  j["guidance"] = a.guidance;
  j["seed"] = a.seed;
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!a.json_out.empty()) write_file_atomic(a.json_out, j.dump(2) + "\n");
  nlohmann::json summary = j;  // stdout: the scores; the per-image list only in --json
  summary.erase("images");
  std::cout << summary.dump() << std::endl;
  return 0;
}

}  // namespace

void register_eval(CLI::App& app, Runner& run) {
  struct Args {
    std::string model, classifier, data_dir = "data/mnist", json_out, sampler = "ddim";
    int64_t n = 100, steps = 50, batch = 100;
    float guidance = 2.0f, eta = 0.5f;
    uint64_t seed = 0;
    std::vector<int> digits{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    std::vector<std::string> loras;
    std::string prompt;
    bool overwrite = false;
    std::string dataset = "mnist", prompts_file;  // --dataset shapes
    int64_t n_prompts = 100;
    double two_shape_fraction = 0;
    std::vector<std::string> exclude;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "eval", "prompt accuracy and Frechet distance of generated digits, or rule-judged shapes (JSON)");
  cmd->add_option("--model", a->model, "checkpoint to evaluate")->required();
  cmd->add_option("--classifier", a->classifier,
                  "the judge of digits (`loradiff classifier train`); mnist only");
  cmd->add_option(
         "--dataset", a->dataset,
         "mnist (digits judged by --classifier) or shapes (`data make-shapes` captions judged by rule)")
      ->capture_default_str();
  cmd->add_option("--prompts", a->prompts_file,
                  "shapes: captions to draw, one per line (else --n-prompts drawn with --seed)");
  cmd->add_option("--n-prompts", a->n_prompts, "shapes: captions drawn from the grammar (one image each)")
      ->capture_default_str();
  cmd->add_option("--two-shape-fraction", a->two_shape_fraction, "shapes: share of two-shape captions drawn")
      ->capture_default_str();
  cmd->add_option(
         "--exclude", a->exclude,
         "shapes: the shapes or colour-shape pairs left out of training (their captions are scored apart)")
      ->delimiter(',');
  cmd->add_option("--data", a->data_dir, "MNIST folder: its test split is the real reference")
      ->capture_default_str();
  cmd->add_option("--n-per-digit", a->n, "images generated per digit prompt")->capture_default_str();
  cmd->add_option("--digits", a->digits, "digits to prompt, e.g. 0,1,2")->delimiter(',');
  cmd->add_option(
      "--prompt", a->prompt,
      "draw every digit's images from this caption instead, e.g. \"a handwritten digit sks\" with "
      "--digits 9: the share judged a nine");
  cmd->add_option("--sampler", a->sampler, "ddim, ddpm, dpmpp-2m, euler or euler-a")->capture_default_str();
  cmd->add_option("--steps", a->steps, "sampler steps (DDPM uses all T)")->capture_default_str();
  cmd->add_option(
         "--guidance", a->guidance,
         "classifier-free guidance scale (docs/results.md: 2 balances prompt accuracy and Frechet distance)")
      ->capture_default_str();
  cmd->add_option("--eta", a->eta,
                  "DDIM eta: fresh noise per step (0 = the deterministic ODE; 0.5 removes the speckles, "
                  "docs/results.md; any eta stays reproducible per seed)")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "noise seed")->capture_default_str();
  cmd->add_option("--batch", a->batch, "images per sampling batch")->capture_default_str();
  cmd->add_option("--json", a->json_out, "also write the JSON result to this file");
  cmd->add_option(
      "--lora", a->loras,
      "LoRA adapter FILE[:W][:down=a,mid=b,up=c,te=d][:start=s,end=e] applied to the model (repeatable)");
  cmd->add_flag("--overwrite", a->overwrite, "replace an existing --json file even when it is not JSON");
  cmd->callback([&run, a] {
    run = [a] {
      install_interrupt_handler();  // Ctrl-C: stop between sampler steps, write nothing
      if (a->batch < 1) fail("--batch: ", a->batch, " must be >= 1");
      if (a->dataset == "shapes") return eval_shapes(*a);
      if (a->classifier.empty())
        fail(
            "--classifier is required with --dataset mnist (the judge of the digits: `loradiff classifier "
            "train`)");
      const auto inputs =
          std::vector<PathArg>{
              {"--model", a->model}, {"--classifier", a->classifier}, {"--data", a->data_dir}} +
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
      eo.sample.eta = a->eta;
      eo.sample.seed = a->seed;
      eo.sample.source = diffusion::model_source(a->model, a->loras);
      eo.sample.before_step = lora::adapter_step_schedule(*lm.model, lora_reports);
      eo.prompt = a->prompt;
      if (!eo.prompt.empty()) data::check_prompt(eo.prompt, "--prompt");
      // the prompts are tokenized with the checkpoint's vocabulary: say which words it lacks
      for (int d : eo.digits) {
        const std::string p = eo.prompt.empty() ? diffusion::digit_prompt(lm.vocab, d) : eo.prompt;
        if (const data::Tokens t = data::tokenize(lm.vocab, p); !t.ok())
          std::cerr << "loradiff: warning: " << t.warning(p) << "\n";
        if (!eo.prompt.empty()) break;
      }
      Tensor labels = Tensor::from_ints(real.labels, {real.size()});
      auto t0 = std::chrono::steady_clock::now();
      diffusion::EvalResult r = diffusion::evaluate(
          *lm.model, lm.vocab, *cls, real.images, labels, eo, [](int64_t done, int64_t total) {
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
      j["eta"] = a->eta;
      j["seed"] = a->seed;
      j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!a->json_out.empty()) write_file_atomic(a->json_out, j.dump(2) + "\n");
      std::cout << j.dump() << std::endl;
      return 0;
    };
  });
}

}  // namespace ld::app
