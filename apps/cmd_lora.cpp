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
#include "lora/adapter_formats.h"
#include "lora/adapter_merge.h"
#include "lora/attach.h"
#include "lora/extract.h"
#include "lora/resize.h"
#include "lora/trainer.h"
#include "tensor/excerpt.h"
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
                                                         const std::vector<std::string>& specs,
                                                         data::Vocabulary* vocab = nullptr) {
  std::vector<std::pair<std::string, float>> loaded;
  for (const auto& r : lora::load_lora_specs(model, specs, vocab)) {
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
  cmd->add_option("--new-token", o->new_token,
                  "add this new word (e.g. sks) to the vocabulary and train its token-embedding row with the "
                  "adapter (textual inversion; only that row trains); stored in the adapter file");
  cmd->add_option("--init-token", o->init_token,
                  "with --new-token: start the row as this word's (default <unk>)");
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

// `lora merge --out-lora OUT A:wA B:wB [--rank r]`: several adapters into one adapter file.
template <class Args>
int merge_into_adapter(const Args& a, const std::vector<std::string>& specs) {
  if (!a.base.empty() || !a.out.empty())
    fail("--out-lora: writes an adapter; --base and --out are for merging into a checkpoint");
  check_outputs_distinct(lora_inputs(specs), {{"--out-lora", a.out_lora}});
  check_output_file({"--out-lora", a.out_lora}, FileKind::Adapter, a.overwrite);
  std::vector<lora::WeightedAdapter> in;
  for (const auto& spec : specs) {
    lora::LoRASpec s = lora::parse_lora_spec(spec);
    in.push_back({lora::read_adapter(s.path), s});
  }
  const lora::AdapterMergeResult r = lora::merge_adapters(in, a.rank);
  lora::save_adapter(a.out_lora, r.adapter);
  if (a.rank > 0) {
    std::cout << "layer  rank  ||D||_F  ||D - D_r||_F (SVD tail)  energy kept\n";
    for (const auto& l : r.layers)
      std::cout << l.name << "  " << l.rank << "  " << l.delta_norm << "  " << l.tail_norm << "  "
                << pct(l.energy_kept) << "\n";
  }
  std::cout << "merged " << in.size() << " adapters into " << a.out_lora << ": " << r.adapter.layers.size()
            << " layers, rank " << r.adapter.rank << ", alpha " << r.adapter.alpha << ", "
            << (a.rank > 0 ? "rank-" + std::to_string(a.rank) + " SVD" : std::string("exact")) << "\n";
  return 0;
}

void register_lora_merge(CLI::App& group, Runner& run) {
  struct Args {
    std::string base, out, out_lora;
    std::vector<std::string> loras, positional;
    int64_t rank = 0;
    bool overwrite = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = group.add_subcommand("merge",
                                   "fold adapters into the base weights (W0 += w (alpha / r) B A), or with "
                                   "--out-lora into one adapter file");
  cmd->add_option("--base", a->base, "base checkpoint (not with --out-lora)");
  cmd->add_option("--lora", a->loras,
                  "adapter FILE:WEIGHT[:down=a,mid=b,up=c,te=d] (repeatable; weight 1 when omitted)");
  cmd->add_option("adapters", a->positional, "more adapters FILE:WEIGHT (same as --lora)");
  cmd->add_option("--out", a->out, "merged checkpoint to write (loads like any model)");
  cmd->add_option("--out-lora", a->out_lora,
                  "instead, write the adapters as one adapter file: exactly (ranks concatenated, "
                  "B' = [wA sA BA | wB sB BB], A' = [AA; AB]) or with --rank by SVD of the summed update");
  cmd->add_option("--rank", a->rank, "with --out-lora: the merged adapter's rank (0 = exact)")
      ->capture_default_str();
  cmd->add_flag("--overwrite", a->overwrite,
                "replace --out even when it is another kind of file or another run's model");
  cmd->callback([&run, a] {
    run = [a] {
      std::vector<std::string> specs = a->loras;
      specs.insert(specs.end(), a->positional.begin(), a->positional.end());
      if (specs.empty()) fail("lora merge: give the adapters as --lora FILE:WEIGHT or after the options");
      if (!a->out_lora.empty()) return merge_into_adapter(*a, specs);
      if (a->base.empty() || a->out.empty())
        fail("lora merge: --base and --out are required (or --out-lora to merge adapters into one adapter)");
      if (a->rank != 0) fail("--rank: only with --out-lora");
      check_outputs_distinct(std::vector<PathArg>{{"--base", a->base}} + lora_inputs(specs),
                             {{"--out", a->out}});
      check_output_file({"--out", a->out}, FileKind::Model, a->overwrite);
      for (const auto& spec : specs)
        if (lora::parse_lora_spec(spec).has_range())
          fail("--lora '", spec,
               "': a step range (start, end) cannot be merged into weights; use it with sample");
      diffusion::LoadedModel lm = diffusion::load_model(a->base);
      const std::string base_hash = diffusion::weights_hash(lm.model->state_dict());
      auto loaded = load_adapters(*lm.model, specs, &lm.vocab);
      lora::merge_lora(*lm.model);
      const int64_t layers = lora::remove_lora(*lm.model);
      lm.model->text->bake_new_tokens();  // an adapter's new words become rows of the checkpoint's table
      lm.model->config.vocab_size = lm.vocab.size();
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
  auto* cmd =
      group.add_subcommand("info", "show an adapter file (loradiff, kohya or PEFT): layers, ranks, metadata");
  cmd->add_option("file", *path, "adapter file (or PEFT folder)")->required();
  cmd->callback([&run, path] {
    run = [path] {
      lora::Adapter a = lora::read_adapter(*path);
      const lora::AdapterLayout layout = lora::detect_layout(*path);
      std::cout << *path << ": " << lora::layout_name(layout) << " layout, " << a.layers.size()
                << " layers, rank " << a.rank << ", alpha " << a.alpha << ", " << a.num_parameters()
                << " parameters\n";
      std::cout << "  targets: " << nlohmann::json(a.targets).dump() << "\n";
      std::cout << "  base weights: " << (a.base_weights_hash.empty() ? "unknown" : a.base_weights_hash)
                << "\n";
      if (!a.new_words.empty()) std::cout << "  new words: " << nlohmann::json(a.new_words).dump() << "\n";
      for (const auto& [k, v] : a.extra) std::cout << "  " << k << ": " << excerpt(v, 200) << "\n";
      for (const auto& l : a.layers)
        std::cout << "  " << l.name << "  A " << shape_str(l.A.shape()) << "  B " << shape_str(l.B.shape())
                  << "\n";
      return 0;
    };
  });
}

void register_lora_convert(CLI::App& group, Runner& run) {
  struct Args {
    std::string in, to, out;
    bool overwrite = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = group.add_subcommand(
      "convert",
      "rewrite an adapter in kohya's, PEFT's or loradiff's layout (the same B and A, bit for bit)");
  cmd->add_option("in", a->in, "adapter file (any of the three layouts; a PEFT folder too)")->required();
  cmd->add_option("--to", a->to,
                  "kohya (lora_unet_*.lora_down/up), peft (a folder: adapter_model.safetensors + "
                  "adapter_config.json) or loradiff")
      ->required();
  cmd->add_option("--out", a->out, "file to write (for peft a folder, or a .safetensors file with adapter_config.json beside it)")->required();
  cmd->add_flag("--overwrite", a->overwrite, "replace --out even when it is another kind of file");
  cmd->callback([&run, a] {
    run = [a] {
      const lora::AdapterLayout to = lora::parse_layout(a->to, "--to");
      check_outputs_distinct({{"the input", a->in}}, {{"--out", a->out}});
      if (to == lora::AdapterLayout::Peft) {
        const lora::PeftPaths p = lora::peft_paths(a->out);
        check_output_folder({"--out", p.folder});
        check_outputs_distinct({{"the input", a->in}}, {{"--out", p.weights}, {"--out", p.config}});
        if (std::filesystem::is_directory(p.folder)) {
          check_output_file({"--out", p.weights}, FileKind::Safetensors, a->overwrite);
          check_output_file({"--out", p.config}, FileKind::Json, a->overwrite);
        }
      } else {
        check_output_file({"--out", a->out},
                          to == lora::AdapterLayout::Loradiff ? FileKind::Adapter : FileKind::Safetensors,
                          a->overwrite);
      }
      const lora::Adapter ad = lora::read_adapter(a->in);
      const lora::AdapterLayout from = lora::detect_layout(a->in);
      lora::save_adapter_as(a->out, ad, to);
      std::cout << "converted " << a->in << " (" << lora::layout_name(from) << ") to " << a->out << " ("
                << lora::layout_name(to) << "): " << ad.layers.size() << " layers, rank " << ad.rank
                << ", alpha " << ad.alpha << "\n";
      return 0;
    };
  });
}

}  // namespace

void register_lora(CLI::App& app, Runner& run) {
  auto* group = app.add_subcommand("lora", "LoRA adapters: train, merge, extract, resize, info, convert");
  group->require_subcommand(1);
  register_lora_train(*group, run);
  register_lora_merge(*group, run);
  register_lora_extract(*group, run);
  register_lora_resize(*group, run);
  register_lora_info(*group, run);
  register_lora_convert(*group, run);
}

}  // namespace ld::app
