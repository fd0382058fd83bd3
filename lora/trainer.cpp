// lora/trainer.cpp: the LoRA (or full fine-tuning) loop on a captioned folder (see trainer.h).
// The pattern is diffusion/trainer.cpp's without EMA (a run is minutes long, and the adapter
// itself is what the article samples with).
#include "lora/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "autograd/ops.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/png.h"
#include "data/tokenizer.h"
#include "diffusion/model_io.h"
#include "diffusion/resources.h"
#include "diffusion/sampler.h"
#include "diffusion/train_step.h"
#include "diffusion/training_log.h"
#include "lora/adapter_file.h"
#include "lora/attach.h"
#include "nn/adam.h"
#include "nn/checkpoint.h"
#include "nn/data_parallel.h"
#include "nn/lr_schedule.h"
#include "nn/progress.h"
#include "nn/rng_state.h"
#include "nn/safetensors.h"
#include "nn/train_state.h"
#include "tensor/excerpt.h"
#include "tensor/file_io.h"
#include "tensor/interrupt.h"
#include "tensor/path_guard.h"

namespace ld::lora {

namespace fs = std::filesystem;

namespace {

void validate(const LoRATrainOptions& o) {
  if (o.base.empty()) fail("--base: the base model checkpoint is required");
  if (o.data_dir.empty()) fail("--data: an image + caption folder is required");
  if (o.out.empty()) fail("--out: the output file is required (e.g. nines.safetensors)");
  if (o.steps < 1) fail("--steps: ", o.steps, " must be >= 1");
  if (o.batch < 1) fail("--batch: ", o.batch, " must be >= 1");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) fail("--lr: ", o.lr, " must be a positive number");
  if (o.weight_decay < 0 || !std::isfinite(o.weight_decay)) fail("--weight-decay: must be >= 0");
  if (o.warmup < 0) fail("--warmup: ", o.warmup, " must be >= 0");
  if (o.clip < 0 || !std::isfinite(o.clip)) fail("--clip: ", o.clip, " must be >= 0 (0 = off)");
  for (int64_t every : {o.log_every, o.eval_every, o.sample_every})
    if (every < 0) fail("--*-every options must be >= 0 (0 = never)");
  if (o.eval_repeats < 1) fail("--eval-repeats: ", o.eval_repeats, " must be >= 1");
  if (o.sample_steps < 1) fail("--sample-steps: ", o.sample_steps, " must be >= 1");
  if (!(o.prior_weight >= 0) || !std::isfinite(o.prior_weight))
    fail("--prior-weight: ", o.prior_weight, " must be a finite number >= 0");
  if (o.save_every < 0) fail("--save-every: ", o.save_every, " must be >= 0 (0 = only at the end)");
  if (o.sample_cols < 1) fail("--sample-cols: ", o.sample_cols, " must be >= 1");
  if (o.full && (!o.targets.empty() || o.text_encoder))
    fail("--full fine-tunes every weight; --targets and --text-encoder are for adapters only");
  if (o.full && !o.new_token.empty()) fail("--new-token: adds a word to an adapter; not with --full");
  if (o.new_token.empty() && !o.init_token.empty()) fail("--init-token: only with --new-token WORD");
}

// True when `inner` is `dir` or lies below it.
bool is_inside(const fs::path& inner, const fs::path& dir) {
  std::error_code ec;
  const fs::path a = fs::weakly_canonical(inner, ec), b = fs::weakly_canonical(dir, ec);
  auto [ia, ib] = std::mismatch(b.begin(), b.end(), a.begin(), a.end());
  return ia == b.end();
}

// Loss (1) on a whole folder, `repeats` passes, with fixed t and noise (train_step.h's fixed_noise_loss).
double folder_loss(diffusion::TextToImageModel& model, const diffusion::NoiseSchedule& s,
                   const data::CaptionedImages& set, const data::Vocabulary& vocab, int64_t batch,
                   int64_t repeats) {
  if (set.size() == 0) return NAN;
  data::LoaderOptions lo;
  lo.batch_size = std::min(batch, set.size());
  lo.shuffle = false;
  lo.drop_last = false;
  data::DataLoader loader(set, vocab, lo);
  return diffusion::fixed_noise_loss(model, s, loader, repeats * loader.batches_per_epoch());
}

std::vector<std::string> unique_captions(const data::ImageFolder& f, size_t max) {
  std::vector<std::string> out;
  for (const auto& item : f.items)
    if (std::find(out.begin(), out.end(), item.caption) == out.end() && out.size() < max)
      out.push_back(item.caption);
  return out;
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

void add_new_token(diffusion::TextToImageModel& model, data::Vocabulary& vocab, const std::string& word,
                   const std::string& init) {
  if (data::split_words(word) != std::vector<std::string>{word})
    fail("--new-token: '", word, "' must be one lower-case word of letters, digits or apostrophes, e.g. sks");
  if (vocab.contains(word))
    fail("--new-token: '", word,
         "' is already a word of the base's vocabulary; choose a new word (e.g. sks)");
  const std::string from = init.empty() ? "<unk>" : init;
  if (!vocab.contains(from))
    fail("--init-token: '", from,
         "' is not a word of the base's vocabulary; give an existing word, e.g. nine");
  const Tensor row = model.text->tok_emb->weight.value().narrow(0, vocab.id(from), 1).contiguous().clone();
  std::vector<std::string> words = vocab.words();
  words.push_back(word);
  model.text->add_token_rows(row);
  vocab = data::Vocabulary::from_words(words);
}

LoRATrainResult train_lora(const LoRATrainOptions& o, std::ostream& log_primary) {
  validate(o);
  // Data-parallel (mpirun -np N, docs/distributed.md): each process trains on its shard of every
  // batch; process 0 alone writes and prints.
  dist::Communicator& comm = dist::Communicator::world();
  const bool primary = comm.primary(), parallel = comm.size() > 1;
  std::ostringstream discarded;
  std::ostream& log = primary ? log_primary : discarded;
  comm.check_batch(o.batch);
  const fs::path out_dir =
      fs::path(o.out).parent_path().empty() ? fs::path(".") : fs::path(o.out).parent_path();
  if (is_inside(out_dir, o.data_dir))
    fail(
        "--out '", o.out, "' lies inside the data folder '", o.data_dir,
        "'; loradiff never writes into a data folder (it would also break the folder's image/caption pairs)");
  const std::string log_dir =
      o.log_dir.empty()
          ? (fs::path(o.out).parent_path() / (fs::path(o.out).stem().string() + "-log")).string()
          : o.log_dir;
  if (!o.reg_dir.empty() && (is_inside(log_dir, o.reg_dir) || is_inside(out_dir, o.reg_dir)))
    fail("--out / --log-dir lie inside the --reg folder '", o.reg_dir, "'; choose another folder");
  if (is_inside(log_dir, o.data_dir))
    fail("--log-dir '", log_dir, "' lies inside the data folder '", o.data_dir, "'; choose another folder");
  // Before any work: no output is an input, --out can be written, the log folder is not another run's.
  check_outputs_distinct(
      {{"--base", o.base}, {"--data", o.data_dir}, {"--reg", o.reg_dir}, {"--val", o.val_dir}},
      {{"--out", o.out}, {"--log-dir", log_dir}});
  check_output_file({"--out", o.out}, o.full ? FileKind::Model : FileKind::Adapter, o.overwrite);
  check_output_folder({"--log-dir", log_dir});
  {
    const FileKind state = sniff_file_kind((fs::path(log_dir) / "train_state.safetensors").string());
    if (state != FileKind::Missing && state != FileKind::LoraTrainState && !o.overwrite)
      fail("--log-dir '", log_dir, "' holds ", file_kind_name(state),
           " (train_state.safetensors), not a `lora train` run; choose another --log-dir (or --overwrite)");
    if (state == FileKind::LoraTrainState && !o.resume && !o.overwrite)
      fail("--log-dir '", log_dir,
           "' already holds a `lora train` run (train_state.safetensors); pass --resume "
           "to continue it, --overwrite to start afresh, or choose another --out / --log-dir");
  }

  // --- base model and data
  diffusion::LoadedModel lm = diffusion::load_model(o.base);
  diffusion::TextToImageModel& model = *lm.model;
  const diffusion::ModelConfig& cfg = model.config;
  const std::string base_hash = diffusion::weights_hash(model.state_dict());
  if (!o.new_token.empty()) add_new_token(model, lm.vocab, o.new_token, o.init_token);
  data::FolderOptions fo;
  fo.size = cfg.image_size;
  fo.channels = cfg.image_channels == 3 ? 3 : 1;  // a colour base reads RGB (grey files: three equal planes)
  const data::ImageFolder folder = data::read_image_folder(o.data_dir, fo);
  const int64_t n = static_cast<int64_t>(folder.items.size());
  diffusion::check_image_shape(cfg, fo.size, fo.size, folder.images.size(1), "'" + o.data_dir + "' (--data)",
                               "the base model '" + o.base + "'");
  diffusion::check_train_memory(cfg, o.batch, n);
  if (o.batch > n)
    fail("--batch: ", o.batch, " is larger than the ", n, " image/caption pairs in '", o.data_dir, "'");
  data::LoaderOptions lo;
  lo.batch_size = o.batch;
  lo.seed = o.seed;
  lo.rank = comm.rank();
  lo.ranks = comm.size();
  data::DataLoader loader(data::captioned_folder(folder), lm.vocab, lo);
  if (auto w = data::check_folder_captions(folder, lm.vocab, o.data_dir); !w.empty())
    log << "warning: " << w << "\n";
  data::CaptionedImages val;
  if (!o.val_dir.empty()) val = data::captioned_folder(data::read_image_folder(o.val_dir, fo));
  std::unique_ptr<data::DataLoader> reg_loader;  // prior preservation: null without --reg
  int64_t reg_n = 0;
  if (!o.reg_dir.empty()) {
    const data::ImageFolder reg = data::read_image_folder(o.reg_dir, fo);
    reg_n = static_cast<int64_t>(reg.items.size());
    if (o.batch > reg_n)
      fail("--reg: '", o.reg_dir, "' has ", reg_n, " image/caption pairs, fewer than --batch ", o.batch);
    data::LoaderOptions rlo = lo;
    rlo.seed = o.seed + 1;
    reg_loader = std::make_unique<data::DataLoader>(data::captioned_folder(reg), lm.vocab, rlo);
    if (auto w = data::check_folder_captions(reg, lm.vocab, o.reg_dir); !w.empty())
      log << "warning: --reg: " << w << "\n";
  }
  log << "base: " << o.base << " (config " << cfg.name << ", weights " << base_hash << ")\n";
  log << "data: " << n << " image/caption pairs from " << o.data_dir;
  if (n < 16 || n > 24) log << " (the article's LoRA sets have 16-24, claim C6)";
  log << "\n";
  if (val.size() > 0) log << "held-out: " << val.size() << " pairs from " << o.val_dir << "\n";
  if (reg_loader)
    log << "prior preservation: " << reg_n << " pairs from " << o.reg_dir << ", weight " << o.prior_weight
        << " (a batch of each every step)\n";

  // --- what trains: adapters (Eq. (LoRA), W0 frozen) or every weight
  LoRATrainResult res;
  res.log_dir = log_dir;
  res.unet_params = model.unet->num_parameters();
  const std::string adapter_name = "train";
  LoRAConfig lc;
  if (!o.full) {
    lc.rank = o.rank;
    lc.alpha = o.alpha;
    lc.dropout = o.dropout;
    lc.seed = o.seed;
    lc.targets = o.targets.empty() ? default_targets() : o.targets;
    if (o.text_encoder)
      for (auto& t : text_encoder_targets()) lc.targets.push_back(t);
    AttachReport ar = attach_lora(model, lc, adapter_name);
    res.layers = static_cast<int64_t>(ar.layers.size());
  } else {
    model.requires_grad(true);
  }
  if (model.text->new_tokens)
    model.text->new_tokens->weight.set_requires_grad(!o.full);  // the new row trains
  nn::NamedParameters trainable;
  for (auto& [name, p] : model.named_parameters())
    if (p.requires_grad()) {
      trainable.push_back({name, p});
      res.trainable_params += p.value().numel();
    }
  res.optimizer_state_floats = 2 * res.trainable_params;
  if (o.full)
    log << "full fine-tuning: " << res.trainable_params << " trainable parameters (every weight)";
  else
    log << "LoRA rank " << o.rank << ", alpha " << o.alpha << " on " << res.layers
        << " layers: " << res.trainable_params << " trainable parameters = " << std::setprecision(3)
        << 100.0 * static_cast<double>(res.trainable_params) / static_cast<double>(res.unet_params)
        << "% of the UNet's " << res.unet_params;
  log << "; AdamW state " << std::setprecision(4)
      << static_cast<double>(res.optimizer_state_floats) * 4.0 / (1024.0 * 1024.0) << " MiB\n"
      << std::setprecision(6);

  model.train();
  nn::AdamOptions ao = nn::adamw_defaults();
  ao.weight_decay = o.weight_decay;
  nn::AdamW opt(trainable, static_cast<float>(o.lr), ao);
  std::vector<Var> params;
  for (auto& [_, p] : trainable) params.push_back(p);
  Generator gen(o.seed * 0x9E3779B97F4A7C15ull + 7);
  const diffusion::NoiseSchedule sched =
      diffusion::NoiseSchedule::make(cfg.beta_schedule, cfg.timesteps, cfg.beta_start, cfg.beta_end);
  nn::LrSchedule lr_at;
  lr_at.base_lr = o.lr;
  lr_at.warmup_steps = o.warmup;

  std::error_code ec;
  std::optional<FolderLock> lock;  // one loradiff run per folder (process 0 of a parallel run holds it)
  if (primary) {
    fs::create_directories(fs::path(log_dir) / "samples", ec);
    if (ec) fail("--log-dir: cannot create folder '", log_dir, "': ", ec.message());
    std::vector<std::string> stale =
        remove_stale_temp_files(out_dir.string(), fs::path(o.out).filename().string() + ".tmp-");
    for (const std::string& dir : {log_dir, (fs::path(log_dir) / "samples").string()})
      for (std::string& f : remove_stale_temp_files(dir)) stale.push_back(std::move(f));
    for (const std::string& f : stale)
      log << "removed " << f
          << " (left by a run killed while writing it; the file it was replacing is intact)\n";
    lock.emplace(log_dir, "--log-dir");
    if (o.overwrite && !o.resume)
      for (const char* f : {"train_state.safetensors", "loss.csv", "loss.png"})
        if (fs::remove(fs::path(log_dir) / f, ec))
          log << "--overwrite: removed " << (fs::path(log_dir) / f).string() << "\n";
  }
  float ready = 1;  // the others wait until process 0 has prepared the folder
  comm.broadcast(&ready, 1, "the start of the run");
  diffusion::TrainingLog tlog((fs::path(log_dir) / "loss.csv").string());

  // What a resumed run must share with the saved one: everything that decides its updates.
  const std::string state_path = (fs::path(log_dir) / "train_state.safetensors").string();
  const nlohmann::json setup = {{"base_weights", base_hash},
                                {"mode", o.full ? "full" : "lora"},
                                {"rank", o.full ? 0 : o.rank},
                                {"alpha", o.full ? 0.0f : o.alpha},
                                {"dropout", o.dropout},
                                {"targets", lc.targets},
                                {"pairs", n},
                                {"batch", o.batch},
                                {"lr", o.lr},
                                {"weight_decay", o.weight_decay},
                                {"warmup", o.warmup},
                                {"clip", o.clip},
                                {"seed", o.seed},
                                {"reg_pairs", reg_n},
                                {"prior_weight", reg_loader ? o.prior_weight : 0.0f}};
  // only when set, so runs saved before --new-token existed still resume
  nlohmann::json setup_now = setup;
  if (!o.new_token.empty()) setup_now["new_token"] = {o.new_token, o.init_token};
  const std::vector<std::string> prompts = unique_captions(folder, 8);
  int64_t step = 0;
  if (o.resume) {
    if (!fs::exists(state_path))
      fail("--resume: there is no training state '", state_path,
           "' (an earlier `lora train` with the same --out or --log-dir writes it every --save-every steps)");
    const nn::ResumeState st(state_path, "loradiff-lora-train-state", "start a new run without --resume");
    if (o.new_token.empty() && st.has("setup") && !st.saved_setup_value("new_token").is_null())
      fail("--resume: the run in '", log_dir, "' was trained with --new-token ",
           excerpt(st.saved_setup_value("new_token").dump()),
           "; give the same --new-token (and --init-token)");
    if (auto key = st.setup_mismatch(setup_now))
      fail("--resume: the run in '", log_dir, "' was trained with ", *key, " = ",
           st.has("setup") && st.json("setup").contains(*key) ? excerpt(st.saved_setup_value(*key).dump())
                                                              : "(none)",
           ", this command has ", excerpt(setup_now.at(*key).dump()),
           "; resume with the same base, data and options, or start a new run without --resume");
    if (!st.has("setup"))
      fail("--resume: '", state_path, "' has no 'setup' metadata; start a new run without --resume");
    const nn::StateDict saved_params = st.take("param.");
    for (auto& [name, p] : trainable) {
      auto it = saved_params.find(name);
      if (it == saved_params.end() || it->second.shape() != p.value().shape())
        fail("--resume: '", state_path, "' lacks trainable parameter '", name, "' ",
             shape_str(p.value().shape()));
      Tensor value = p.value();  // shares the parameter's storage
      value.copy_(it->second);
    }
    opt.load_state_dict(st.take("optim."));
    nn::restore_rng_state(st.json("rng"), gen, model);
    const data::LoaderState ls = data::LoaderState::from_json(st.text("loader"));
    if (ls.num_samples != loader.num_samples())
      fail("--resume: the run was trained on ", ls.num_samples, " pairs but '", o.data_dir, "' now has ",
           loader.num_samples());
    loader.restore(ls);
    if (reg_loader) reg_loader->restore(data::LoaderState::from_json(st.text("reg_loader")));
    step = st.step();
    if (primary) tlog.truncate_after(step);
    res.resumed_from = step;
    log << "resuming " << state_path << " at step " << step << "\n";
  } else if (primary && !tlog.rows().empty()) {
    tlog.truncate_after(-1);  // a new run replaces an old log
  }
  if (parallel) {  // every process starts from process 0's trainable weights
    nn::broadcast_parameters(params, comm);
    log << "data-parallel: " << comm.size() << " processes, " << o.batch << " samples per step split "
        << shard_of(o.batch, 0, comm.size()).count << ".."
        << shard_of(o.batch, comm.size() - 1, comm.size()).count << " per process\n";
  }
  auto sample_grid = [&]() {
    std::vector<std::string> captions;
    for (const auto& p : prompts)
      for (int64_t c = 0; c < o.sample_cols; ++c) captions.push_back(p);
    diffusion::SampleOptions so;
    so.steps = o.sample_steps;
    Tensor imgs = diffusion::sample(model, sched, data::tokenize_batch(lm.vocab, captions).ids, so);
    std::ostringstream name;
    name << "step_" << std::setw(7) << std::setfill('0') << step << ".png";
    data::GenerationParams gp;
    gp.prompt = nlohmann::json(prompts).dump();
    gp.steps = so.steps;
    gp.guidance = so.guidance;
    gp.seed = so.seed;
    gp.model_hash = base_hash;
    if (!o.full)
      gp.extra.push_back({"LoRA", str_cat(fs::path(o.out).stem().string(), ":1 (step ", step, ")")});
    else
      gp.extra.push_back({"Fine-tuned", str_cat("full, step ", step)});
    data::write_png_grid((fs::path(log_dir) / "samples" / name.str()).string(), imgs,
                         static_cast<int64_t>(prompts.size()), o.sample_cols, 2, gp);
  };
  auto heldout = [&]() { return folder_loss(model, sched, val, lm.vocab, o.batch, o.eval_repeats); };

  auto save = [&](double last_loss) {
    nlohmann::json training = {{"mode", o.full ? "full" : "lora"},
                               {"data", o.data_dir},
                               {"pairs", n},
                               {"captions", unique_captions(folder, 24)},
                               {"steps", step},
                               {"batch", o.batch},
                               {"lr", o.lr},
                               {"seed", o.seed},
                               {"base", o.base},
                               {"last_loss", last_loss}};
    if (!o.val_dir.empty()) training["val"] = o.val_dir;
    if (reg_loader) {
      training["reg"] = o.reg_dir;
      training["reg_pairs"] = reg_n;
      training["prior_weight"] = o.prior_weight;
    }
    if (o.full) {
      // a full checkpoint, loadable by `loradiff sample --model`; the base's weights hash is kept
      diffusion::save_model(o.out, model, lm.vocab,
                            {{"fine_tuned_from", base_hash}, {"training", training.dump()}});
      return;
    }
    Adapter a = adapter_from_model(model, adapter_name);
    a.targets = lc.targets;
    a.rank = o.rank;
    a.base_config = cfg.to_json().dump();
    a.base_weights_hash = base_hash;
    a.extra["training"] = training.dump();
    if (model.text->new_tokens) {
      a.new_words = {o.new_token};
      a.new_rows = model.text->new_tokens->weight.value().clone();
    }
    save_adapter(o.out, a);
  };

  // The resume state, then the adapter: each file is written atomically, so a kill at any
  // moment leaves a complete pair (or the previous state with a newer adapter).
  auto save_state = [&](double last_loss) {
    diffusion::check_finite_parameters(trainable, step, "training",
                                       "; the last good adapter and state are kept");
    const nlohmann::json rng = nn::rng_state(gen, model);
    nn::StateDict all;
    for (auto& [name, p] : trainable) all.emplace("param." + name, p.value());
    for (auto& kv : nn::with_prefix(opt.state_dict(), "optim.")) all.insert(kv);
    nn::Metadata meta{{"format", "loradiff-lora-train-state"},
                      {"written_by", "loradiff lora train"},
                      {"setup", setup_now.dump()},
                      {"step", std::to_string(step)},
                      {"rng", rng.dump()},
                      {"loader", loader.state().to_json()}};
    if (reg_loader) meta["reg_loader"] = reg_loader->state().to_json();
    nn::save_safetensors(state_path, all, meta);
    save(last_loss);
    tlog.save();
  };

  // Ctrl-C before the first step of a new run (these evaluations included): nothing worth
  // saving yet, so ld::Interrupted goes up and no adapter is written.
  res.heldout_before = NAN;
  if (primary && val.size() > 0 && step == 0) {
    res.heldout_before = heldout();
    tlog.add({0, NAN, NAN, NAN, res.heldout_before, 0});
    log << "held-out loss before training: " << res.heldout_before << "\n";
  }
  for (const auto& row : tlog.rows())  // a resumed run reports the loss its log starts with
    if (row.step == 0 && std::isfinite(row.heldout_loss)) res.heldout_before = row.heldout_loss;
  if (primary && o.sample_every > 0 && step == 0) sample_grid();
  if (step == 0) throw_if_interrupted();

  if (step >= o.steps)
    log << "the run is already at step " << step << " (--steps " << o.steps << "): nothing to train\n";
  // One step: loss (1) [+ prior] -> backward -> clip -> AdamW, shared with every trainer (train_step.h).
  const diffusion::TrainStep ts{.model = model,
                                .schedule = sched,
                                .opt = opt,
                                .params = params,
                                .clip = o.clip,
                                .p_uncond = cfg.p_uncond,
                                .gen = gen,
                                .ema = nullptr,
                                .what = "training",
                                .kept = "",
                                .comm = &comm};
  nn::ProgressBar bar(o.progress && primary ? &std::cerr : nullptr, o.steps, o.full ? "full" : "lora");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<double> step_ms;
  double last_loss = NAN;
  while (step < o.steps) {
    const auto s0 = std::chrono::steady_clock::now();
    opt.lr = static_cast<float>(lr_at.at(step));
    const data::Batch b = loader.next();
    std::optional<data::Batch> rb;  // prior preservation (C5): a batch the base already draws
    if (reg_loader) rb = reg_loader->next();
    const diffusion::StepResult sr =
        diffusion::train_step(ts, b, step, rb ? &*rb : nullptr, static_cast<float>(o.prior_weight));
    const double lv = sr.loss, gnorm = sr.grad_norm;
    step_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s0).count());
    ++step;
    if (step == std::max<int64_t>(res.resumed_from, 0) + 1) res.first_loss = lv;
    last_loss = lv;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (primary && o.log_every > 0 && (step % o.log_every == 0 || step == o.steps))
      tlog.add({step, lv, opt.lr, gnorm, NAN, secs});
    // Ctrl-C during a held-out evaluation or a sample grid abandons it; the steps done are saved.
    double h = NAN;
    if (primary && val.size() > 0 && ((o.eval_every > 0 && step % o.eval_every == 0) || step == o.steps) &&
        run_unless_interrupted([&] { h = heldout(); }))
      tlog.add({step, NAN, NAN, NAN, h, secs});
    bar.update(step, lv);
    if (primary && o.sample_every > 0 && step % o.sample_every == 0) run_unless_interrupted(sample_grid);
    // In a parallel run the processes stop at the step where any of them was asked to (sr.stop).
    const bool stop =
        parallel ? sr.stop : interrupt_requested() || (o.stop_requested && o.stop_requested->load());
    if (primary && o.save_every > 0 && step % o.save_every == 0 && step < o.steps && !stop)
      save_state(last_loss);
    if (stop) {
      res.interrupted = true;
      break;
    }
  }
  bar.finish();
  if (primary) {
    save_state(last_loss);
    tlog.plot((fs::path(log_dir) / "loss.png").string());
  }
  if (parallel) log << comm.summary() << "\n";
  res.steps = step;
  res.last_loss = last_loss;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.median_step_ms = median(step_ms);
  res.heldout_after = NAN;
  for (const auto& row : tlog.rows())
    if (std::isfinite(row.heldout_loss)) res.heldout_after = row.heldout_loss;
  return res;
}

}  // namespace ld::lora
