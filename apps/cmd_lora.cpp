// `loradiff lora ...`: low-rank adapters for the text-to-image model (article Eq. (LoRA),
// Figs. 1-3 and 5; claims C2, C4, C6): train one on a small captioned folder, merge adapters
// into a checkpoint, extract one from two checkpoints by SVD, resize one, show one.
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/commands.h"
#include "apps/guard.h"
#include "diffusion/model_io.h"
#include "lora/adapter_file.h"
#include "lora/attach.h"
#include "lora/extract.h"
#include "lora/resize.h"
#include "lora/trainer.h"
#include "tensor/interrupt.h"

namespace ld::app {

namespace {

std::string pct(double share) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << 100.0 * share << "%";
  return s.str();
}

// Load each FILE:WEIGHT onto the model under its own name; print warnings.
std::vector<std::pair<std::string, float>> load_adapters(diffusion::TextToImageModel& model,
                                                         const std::vector<std::string>& specs) {
  std::vector<std::pair<std::string, float>> loaded;
  for (const auto& r : lora::load_lora_specs(model, specs)) {
    for (const auto& w : r.warnings) std::cerr << "loradiff: warning: " << w << "\n";
    loaded.push_back({r.name, r.weight});
  }
  return loaded;
}

void register_lora_train(CLI::App& group, Runner& run) {
  auto o = std::make_shared<lora::LoRATrainOptions>();
  auto targets = std::make_shared<std::string>();
  auto quiet = std::make_shared<bool>(false);
  auto* cmd = group.add_subcommand(
      "train", "train a LoRA adapter (or, with --full, every weight) on an image + caption folder");
  cmd->add_option("--base", o->base, "base checkpoint (model.safetensors of `loradiff train`)")->required();
  cmd->add_option("--data", o->data_dir,
                  "folder of image + same-name .txt caption pairs (16-24 in the article)")
      ->required();
  cmd->add_option("--out", o->out, "adapter file to write (a full checkpoint with --full)")->required();
  cmd->add_option("--rank", o->rank, "LoRA rank r")->capture_default_str();
  cmd->add_option("--alpha", o->alpha, "LoRA alpha (the update is scaled by alpha / r)")
      ->capture_default_str();
  cmd->add_option("--dropout", o->dropout, "dropout on the adapter input")->capture_default_str();
  cmd->add_option(
      "--targets", *targets,
      "comma-separated layer patterns (default unet.*.to_q,unet.*.to_k,unet.*.to_v,unet.*.to_out; "
      "'*' matches anything, a bare name matches the last part, conv layers get LoCon)");
  cmd->add_flag("--text-encoder", o->text_encoder, "also adapt the text encoder's attention projections");
  cmd->add_flag("--full", o->full, "fine-tune every weight instead of training an adapter (for comparisons)");
  cmd->add_option("--steps", o->steps, "optimizer steps")->capture_default_str();
  cmd->add_option("--batch", o->batch, "batch size (<= the number of pairs)")->capture_default_str();
  cmd->add_option("--lr", o->lr, "AdamW learning rate")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "linear warm-up steps")->capture_default_str();
  cmd->add_option("--clip", o->clip, "clip gradients to this global norm (0 = off)")->capture_default_str();
  cmd->add_option("--seed", o->seed, "seed of the adapter init, data order and noise")->capture_default_str();
  cmd->add_option("--reg", o->reg_dir,
                  "prior preservation: a folder of image + caption pairs the base already draws (e.g. other "
                  "digits); their loss (1) is added every step so the adapter keeps them (claim C5)");
  cmd->add_option("--prior-weight", o->prior_weight, "weight of the --reg loss")->capture_default_str();
  cmd->add_option("--val", o->val_dir, "held-out image + caption folder: its loss is logged (fixed noise)");
  cmd->add_option("--eval-every", o->eval_every, "steps between held-out losses")->capture_default_str();
  cmd->add_option("--eval-repeats", o->eval_repeats, "passes over --val per evaluation")
      ->capture_default_str();
  cmd->add_option("--sample-every", o->sample_every,
                  "steps between sample grids of the folder's captions (0 = never)")
      ->capture_default_str();
  cmd->add_option("--sample-steps", o->sample_steps, "DDIM steps for the sample grids")
      ->capture_default_str();
  cmd->add_option("--log-every", o->log_every, "steps between loss.csv rows")->capture_default_str();
  cmd->add_option("--log-dir", o->log_dir,
                  "folder for loss.csv, loss.png, samples/, train_state.safetensors (default <out>-log)");
  cmd->add_option("--save-every", o->save_every,
                  "steps between saves of the adapter and the resume state (0 = only at the end)")
      ->capture_default_str();
  cmd->add_flag(
      "--resume", o->resume,
      "continue the run whose state is in the log folder (same base, data and options; bit-identical)");
  cmd->add_flag(
      "--overwrite", o->overwrite,
      "start afresh over another run's state in the log folder, or replace another kind of --out file");
  cmd->add_flag("--no-progress", *quiet, "no progress bar");
  cmd->callback([&run, o, targets, quiet] {
    run = [o, targets, quiet] {
      o->targets = lora::split_patterns(*targets);
      o->progress = !*quiet;
      // checked now, not when the adapter is written after the whole training
      if (std::filesystem::is_directory(o->out))
        fail("--out '", o->out, "': is a folder; give the adapter file to write, e.g. nines.safetensors");
      install_interrupt_handler();  // Ctrl-C: save the steps done, then stop
      lora::LoRATrainResult r = lora::train_lora(*o, std::cout);
      std::cout << (r.interrupted ? "interrupted" : "trained") << ": " << r.steps << " steps, loss "
                << r.first_loss << " -> " << r.last_loss;
      if (std::isfinite(r.heldout_before))
        std::cout << ", held-out " << r.heldout_before << " -> " << r.heldout_after;
      std::cout << ", " << r.median_step_ms << " ms/step (median), " << r.seconds << " s\n"
                << "trainable parameters " << r.trainable_params << " ("
                << pct(double(r.trainable_params) / double(r.unet_params)) << " of the UNet's "
                << r.unet_params << "), AdamW state " << r.optimizer_state_floats << " floats\n"
                << "wrote " << o->out << "; log in " << r.log_dir << "\n";
      return 0;
    };
  });
}

void register_lora_merge(CLI::App& group, Runner& run) {
  struct Args {
    std::string base, out;
    std::vector<std::string> loras;
    bool overwrite = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = group.add_subcommand("merge", "fold adapters into the base weights: W0 += w (alpha / r) B A");
  cmd->add_option("--base", a->base, "base checkpoint")->required();
  cmd->add_option("--lora", a->loras, "adapter FILE:WEIGHT (repeatable; weight 1 when omitted)")->required();
  cmd->add_option("--out", a->out, "merged checkpoint to write (loads like any model)")->required();
  cmd->add_flag("--overwrite", a->overwrite,
                "replace --out even when it is another kind of file or another run's model");
  cmd->callback([&run, a] {
    run = [a] {
      check_outputs_distinct(std::vector<PathArg>{{"--base", a->base}} + lora_inputs(a->loras),
                             {{"--out", a->out}});
      check_output_file({"--out", a->out}, FileKind::Model, a->overwrite);
      diffusion::LoadedModel lm = diffusion::load_model(a->base);
      const std::string base_hash = diffusion::weights_hash(lm.model->state_dict());
      auto loaded = load_adapters(*lm.model, a->loras);
      lora::merge_lora(*lm.model);
      const int64_t layers = lora::remove_lora(*lm.model);
      nlohmann::json merged = nlohmann::json::array();
      for (auto& [name, w] : loaded) merged.push_back({{"adapter", name}, {"weight", w}});
      diffusion::save_model(a->out, *lm.model, lm.vocab,
                            {{"merged_from", base_hash}, {"merged_loras", merged.dump()}});
      std::cout << "merged " << loaded.size() << " adapter(s) into " << layers << " layers of " << a->base
                << "; wrote " << a->out << " (weights " << diffusion::weights_hash(lm.model->state_dict())
                << ")\n";
      return 0;
    };
  });
}

void register_lora_extract(CLI::App& group, Runner& run) {
  struct Args {
    std::string base, tuned, out, targets;
    int64_t rank = 4;
    float alpha = 0;
    bool overwrite = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = group.add_subcommand(
      "extract", "an adapter from two checkpoints: top-r SVD of each targeted weight difference");
  cmd->add_option("--base", a->base, "base checkpoint")->required();
  cmd->add_option("--tuned", a->tuned, "fine-tuned checkpoint of the same config")->required();
  cmd->add_option("--rank", a->rank, "rank r kept per layer")->capture_default_str();
  cmd->add_option("--alpha", a->alpha, "alpha of the adapter (0 = rank)")->capture_default_str();
  cmd->add_option("--targets", a->targets,
                  "comma-separated layer patterns (default: the UNet attention projections)");
  cmd->add_option("--out", a->out, "adapter file to write")->required();
  cmd->add_flag("--overwrite", a->overwrite, "replace --out even when it is another kind of file");
  cmd->callback([&run, a] {
    run = [a] {
      check_outputs_distinct({{"--base", a->base}, {"--tuned", a->tuned}}, {{"--out", a->out}});
      check_output_file({"--out", a->out}, FileKind::Adapter, a->overwrite);
      diffusion::LoadedModel base = diffusion::load_model(a->base), tuned = diffusion::load_model(a->tuned);
      if (base.model->config.to_json() != tuned.model->config.to_json())
        fail("--tuned '", a->tuned, "' has config ", tuned.model->config.name, ", the base '", a->base,
             "' has ", base.model->config.name, "; extract needs the same architecture");
      lora::ExtractOptions o;
      o.rank = a->rank;
      o.alpha = a->alpha;
      o.targets = lora::split_patterns(a->targets);
      lora::ExtractResult r = lora::extract_lora(*base.model, *tuned.model, o);
      r.adapter.base_config = base.model->config.to_json().dump();
      r.adapter.base_weights_hash = diffusion::weights_hash(base.model->state_dict());
      r.adapter.extra["training"] =
          nlohmann::json{{"mode", "extract"},
                         {"tuned", a->tuned},
                         {"tuned_weights_hash", diffusion::weights_hash(tuned.model->state_dict())}}
              .dump();
      lora::save_adapter(a->out, r.adapter);
      std::cout << "layer  rank  ||W_tuned - W_base||_F  energy kept\n";
      for (const auto& l : r.layers)
        std::cout << l.name << "  " << l.rank << "  " << l.diff_norm << "  " << pct(l.energy_kept) << "\n";
      if (!r.unchanged.empty())
        std::cout << r.unchanged.size() << " targeted layers are unchanged (left out)\n";
      if (!r.other_changes.empty()) {
        std::cout << "note: " << r.other_changes.size()
                  << " parameters outside the adapter also differ and are not in it, e.g. "
                  << r.other_changes[0] << "\n";
      }
      std::cout << "wrote " << a->out << ": " << r.adapter.layers.size() << " layers, "
                << r.adapter.num_parameters() << " parameters\n";
      return 0;
    };
  });
}

void register_lora_resize(CLI::App& group, Runner& run) {
  struct Args {
    std::string in, out;
    int64_t rank = 0;
    double energy = 0;
    bool overwrite = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = group.add_subcommand(
      "resize", "shrink an adapter: top singular triplets of each layer's (alpha / r) B A");
  cmd->add_option("--in", a->in, "adapter file")->required();
  auto* r = cmd->add_option("--rank", a->rank, "new rank in every layer");
  auto* e = cmd->add_option("--energy", a->energy, "keep this share of sum S^2 per layer, e.g. 0.9");
  r->excludes(e);
  cmd->add_option("--out", a->out, "smaller adapter to write")->required();
  cmd->add_flag("--overwrite", a->overwrite, "replace --out even when it is another kind of file");
  cmd->callback([&run, a] {
    run = [a] {
      check_outputs_distinct({{"--in", a->in}}, {{"--out", a->out}});
      check_output_file({"--out", a->out}, FileKind::Adapter, a->overwrite);
      lora::Adapter in = lora::read_adapter(a->in);
      lora::ResizeOptions o;
      o.rank = a->rank;
      o.energy = a->energy;
      lora::ResizeResult res = lora::resize_lora(in, o);
      res.adapter.extra["resized_from"] = nlohmann::json{
          {"file", a->in},
          {"rank", in.rank},
          {"by", a->rank > 0 ? "rank" : "energy"},
          {"value", a->rank > 0 ? double(a->rank)
                                : a->energy}}.dump();
      lora::save_adapter(a->out, res.adapter);
      std::cout << "layer  rank  energy kept\n";
      double min_kept = 1;
      for (const auto& l : res.layers) {
        std::cout << l.name << "  " << l.old_rank << " -> " << l.new_rank << "  " << pct(l.energy_kept)
                  << "\n";
        min_kept = std::min(min_kept, l.energy_kept);
      }
      std::cout << "wrote " << a->out << ": " << in.num_parameters() << " -> " << res.adapter.num_parameters()
                << " parameters, lowest kept energy " << pct(min_kept) << "\n";
      return 0;
    };
  });
}

void register_lora_info(CLI::App& group, Runner& run) {
  auto path = std::make_shared<std::string>();
  auto* cmd = group.add_subcommand("info", "show an adapter file: layers, ranks, metadata");
  cmd->add_option("file", *path, "adapter file")->required();
  cmd->callback([&run, path] {
    run = [path] {
      lora::Adapter a = lora::read_adapter(*path);
      std::cout << *path << ": " << a.layers.size() << " layers, rank " << a.rank << ", alpha " << a.alpha
                << ", " << a.num_parameters() << " parameters\n";
      std::cout << "  targets: " << nlohmann::json(a.targets).dump() << "\n";
      std::cout << "  base weights: " << (a.base_weights_hash.empty() ? "unknown" : a.base_weights_hash)
                << "\n";
      for (const auto& [k, v] : a.extra) std::cout << "  " << k << ": " << v << "\n";
      for (const auto& l : a.layers)
        std::cout << "  " << l.name << "  A " << shape_str(l.A.shape()) << "  B " << shape_str(l.B.shape())
                  << "\n";
      return 0;
    };
  });
}

}  // namespace

void register_lora(CLI::App& app, Runner& run) {
  auto* group = app.add_subcommand("lora", "LoRA adapters: train, merge, extract, resize, info");
  group->require_subcommand(1);
  register_lora_train(*group, run);
  register_lora_merge(*group, run);
  register_lora_extract(*group, run);
  register_lora_resize(*group, run);
  register_lora_info(*group, run);
}

}  // namespace ld::app
