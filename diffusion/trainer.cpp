// diffusion/trainer.cpp: `loradiff train`, the text-to-image model trained with loss (1) (Eq. (1), Eq. (2)):
// run folder, data, resume, and the loop around the shared step of diffusion/train_step.h.
#include "diffusion/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include "autograd/ops.h"
#include "data/captions.h"
#include "data/loader.h"
#include "data/mnist.h"
#include "data/png.h"
#include "data/sha256.h"
#include "data/tokenizer.h"
#include "diffusion/model_io.h"
#include "diffusion/prediction.h"
#include "diffusion/resources.h"
#include "diffusion/sampler.h"
#include "diffusion/train_data.h"
#include "diffusion/train_step.h"
#include "diffusion/training_log.h"
#include "nn/adam.h"
#include "nn/checkpoint.h"
#include "nn/data_parallel.h"
#include "nn/ema.h"
#include "nn/lr_schedule.h"
#include "nn/progress.h"
#include "nn/rng_state.h"
#include "nn/train_state.h"
#include "tensor/excerpt.h"
#include "tensor/file_io.h"
#include "tensor/interrupt.h"
#include "tensor/path_guard.h"

namespace ld::diffusion {

namespace fs = std::filesystem;

namespace {

void validate(const TrainOptions& o) {
  if (o.out_dir.empty()) fail("--out: a run folder is required (e.g. runs/mnist)");
  if (o.steps < 1) fail("--steps: ", o.steps, " must be >= 1");
  if (o.batch < 1) fail("--batch: ", o.batch, " must be >= 1");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) fail("--lr: ", o.lr, " must be a positive number");
  if (o.weight_decay < 0 || !std::isfinite(o.weight_decay)) fail("--weight-decay: must be >= 0");
  if (o.warmup < 0) fail("--warmup: ", o.warmup, " must be >= 0");
  if (o.clip < 0 || !std::isfinite(o.clip)) fail("--clip: ", o.clip, " must be >= 0 (0 = off)");
  if (!(o.ema_decay >= 0 && o.ema_decay < 1)) fail("--ema: ", o.ema_decay, " must be in [0, 1)");
  for (int d : o.exclude_digits)
    if (d < 0 || d > 9) fail("--exclude-digits: ", d, " is not a digit 0-9");
  if (!o.prediction_type.empty() && !is_prediction_type(o.prediction_type))
    fail("--prediction-type: '", o.prediction_type, "' is not known (expected epsilon or v_prediction)");
  for (int64_t every : {o.log_every, o.checkpoint_every, o.sample_every, o.eval_every})
    if (every < 0) fail("--*-every options must be >= 0 (0 = never)");
}

// What a resumed run must share with the state it continues (everything that decides its batches,
// noise and averaging), by the option that sets it. --steps, --lr, --warmup, --clip, --weight-decay and
// the --*-every cadences may change on resume (docs/reliability.md).
nlohmann::json run_setup(const TrainOptions& o, const TrainData& td) {
  nlohmann::json s = {{"--batch", o.batch},
                      {"--seed", o.seed},
                      {"--captions", o.caption_mode},
                      {"--ema", o.ema_decay},
                      {"--exclude-digits", o.exclude_digits},
                      {"--data", td.data_hash}};  // the training data themselves, not the folder's name
  // only when not data/vocab.txt, so runs saved before --vocab existed still resume
  if (!td.builtin_vocab) s["--vocab"] = data::sha256_hex(td.vocab.text()).substr(0, 16);
  return s;
}

// The --out folder before anything is written: which run's files it holds, and whether this command
// may write there (docs/reliability.md, "Outputs never destroy inputs or other runs").
void claim_run_folder(const TrainOptions& o, const std::string& state_path, const std::string& model_path) {
  const FileKind state = sniff_file_kind(state_path);
  if (o.resume) {
    if (!fs::is_directory(o.out_dir))
      fail("--resume: the run folder '", o.out_dir, "' does not exist; start a new run without --resume");
    if (state == FileKind::Missing)
      fail("--resume: '", o.out_dir,
           "' holds no train state (train_state.safetensors); start a new run "
           "without --resume");
  }
  if (state != FileKind::Missing && state != FileKind::TrainState && !o.overwrite)
    fail("--out '", o.out_dir, "' holds ", file_kind_name(state),
         " (train_state.safetensors), not a `train` run; choose another folder (or --overwrite to replace "
         "it)");
  if (state == FileKind::TrainState && !o.resume && !o.overwrite)
    fail(
        "--out: '", o.out_dir,
        "' already holds a training run (train_state.safetensors); pass --resume to continue it, --overwrite "
        "to start afresh, or choose another folder");
  if (state == FileKind::Missing && !o.overwrite && sniff_file_kind(model_path) != FileKind::Missing)
    fail("--out '", o.out_dir,
         "' holds a model.safetensors without a train state (another run's result?); "
         "choose another folder (or --overwrite to replace it)");
}

// Held-out loss (1) on fixed batches of the test split (train_step.h's fixed_noise_loss).
double heldout_loss(TextToImageModel& model, const NoiseSchedule& s, const data::CaptionedImages& test,
                    const data::Vocabulary& vocab, const TrainOptions& o) {
  if (test.size() == 0 || o.eval_batches == 0) return NAN;
  data::LoaderOptions lo;
  lo.batch_size = std::min<int64_t>(o.batch, test.size());
  lo.seed = 1234;
  lo.exclude_digits = o.exclude_digits;
  lo.drop_last = false;
  data::DataLoader loader(test, vocab, lo);
  return fixed_noise_loss(model, s, loader, std::min<int64_t>(o.eval_batches, loader.batches_per_epoch()));
}

}  // namespace

TrainResult train(const TrainOptions& o, std::ostream& log_primary) {
  validate(o);
  // Data-parallel (mpirun -np N, docs/distributed.md): every process runs this function on its shard
  // of each batch; process 0 alone writes files and prints.
  dist::Communicator& comm = dist::Communicator::world();
  const bool primary = comm.primary(), parallel = comm.size() > 1;
  std::ostringstream discarded;
  std::ostream& log = primary ? log_primary : discarded;
  comm.check_batch(o.batch);
  // A bad config or data folder is reported before anything is created on disk.
  ModelConfig cfg = load_config(o.config);
  if (!o.prediction_type.empty()) cfg.prediction_type = o.prediction_type;  // stored with the config
  // The training data (MNIST or a captioned folder), its vocabulary and sample prompts, read once,
  // before anything is written: their shape is checked against the config, their count against --batch.
  TrainData td = load_train_data(o, cfg, primary && o.eval_every > 0 && o.eval_batches > 0);
  const std::string state_path = (fs::path(o.out_dir) / "train_state.safetensors").string();
  const std::string model_path = (fs::path(o.out_dir) / "model.safetensors").string();
  const std::string csv_path = (fs::path(o.out_dir) / "loss.csv").string();
  check_outputs_distinct({{"--data", o.data_dir},
                          {"--val", o.val_dir},
                          {"--config", fs::is_regular_file(o.config) ? o.config : ""}},
                         {{"--out", o.out_dir}});
  check_output_folder({"--out", o.out_dir});
  claim_run_folder(o, state_path, model_path);
  // sizes and memory, before anything is written (MNIST: as for the whole set, as before folders)
  check_train_request(o, cfg, td.mnist && o.max_train_samples <= 0 ? 60000 : td.train.size());
  int64_t kept = 0;
  for (int32_t l : td.train.labels)
    kept += std::find(o.exclude_digits.begin(), o.exclude_digits.end(), l) == o.exclude_digits.end();
  if (kept < o.batch)
    fail("--batch: ", o.batch, " is larger than the ", kept,
         td.mnist ? " training digits" : " training images", " in '", o.data_dir, "'",
         o.exclude_digits.empty() ? "" : " left after --exclude-digits");
  for (const std::string& note : td.notes) log << note << "\n";
  std::error_code ec;
  std::optional<FolderLock> lock;  // one loradiff run per folder (process 0 of a parallel run holds it)
  if (primary) {
    fs::create_directories(fs::path(o.out_dir) / "samples", ec);
    if (ec) fail("--out: cannot create folder '", o.out_dir, "': ", ec.message());
    // A read-only folder fails now, not at the first checkpoint after minutes of training.
    const std::string probe = (fs::path(o.out_dir) / ".write-test").string();
    try {
      write_file_atomic(probe, "");
    } catch (const Error& e) {
      fail("--out: the run folder is not writable: ", e.what());
    }
    fs::remove(probe, ec);
    lock.emplace(o.out_dir, "--out");
    for (const std::string& dir : {o.out_dir, (fs::path(o.out_dir) / "samples").string()})
      for (const std::string& f : remove_stale_temp_files(dir))
        log << "removed " << f
            << " (left by a run killed while writing it; the file it was replacing is intact)\n";
    if (o.overwrite && !o.resume)
      for (const std::string& f : {state_path, csv_path, (fs::path(o.out_dir) / "loss.png").string()})
        if (fs::remove(f, ec)) log << "--overwrite: removed " << f << "\n";
  }
  // Process 0 decides (after its --overwrite removals) whether the run resumes; the broadcast also
  // makes the others wait until the folder is ready.
  float resume_flag = fs::exists(state_path) ? 1.0f : 0.0f;
  comm.broadcast(&resume_flag, 1, "the start of the run");
  const bool have_state = resume_flag > 0;

  // --- data loader over the training set (read above); the held-out set for the held-out loss
  const data::Vocabulary& vocab = td.vocab;
  data::LoaderOptions lo;
  lo.batch_size = o.batch;
  lo.seed = o.seed;
  lo.exclude_digits = o.exclude_digits;
  lo.rank = comm.rank();
  lo.ranks = comm.size();
  data::DataLoader loader(std::move(td.train), vocab, lo);
  const nlohmann::json setup = run_setup(o, td);
  const data::CaptionedImages& test_set = td.heldout;

  // --- model, optimizer, EMA, the loss's generator
  auto model = build_model(cfg, vocab, o.seed);
  cfg = model->config;
  model->train();
  nn::AdamOptions ao = nn::adamw_defaults();
  ao.weight_decay = o.weight_decay;
  nn::AdamW opt(model->named_parameters(), static_cast<float>(o.lr), ao);
  nn::Ema ema(*model, o.ema_decay);
  Generator gen(o.seed * 0x9E3779B97F4A7C15ull + 1);
  const NoiseSchedule sched =
      NoiseSchedule::make(cfg.beta_schedule, cfg.timesteps, cfg.beta_start, cfg.beta_end);
  nn::LrSchedule lr_at;
  lr_at.base_lr = o.lr;
  lr_at.warmup_steps = o.warmup;
  TrainingLog tlog(csv_path);

  const std::string kept_msg = "; the last good checkpoint is kept in '" + o.out_dir + "'";
  int64_t step = 0;
  if (have_state) {
    const nn::ResumeState st(state_path, "loradiff-train-state", "start a new run in another --out folder");
    if (auto option = st.setup_mismatch(setup))
      fail("--resume: the run in '", o.out_dir, "' was made with ", *option, " ",
           *option == "--data"    ? "giving other training data"
           : *option == "--vocab" ? "another vocabulary"
                                  : st.saved_setup_value(*option).dump(),
           ", this command has ",
           *option == "--data"    ? "'" + o.data_dir + "'"
           : *option == "--vocab" ? "another (--vocab, --vocab-min-count, --vocab-size, --vocab-spare)"
                                  : setup.at(*option).dump(),
           "; resume with the same options (only --steps, --lr, --warmup, --clip, --weight-decay and the "
           "--*-every "
           "cadences may change)");
    if (!same_config(st.json("config"), cfg))
      fail("--resume: the run in '", o.out_dir, "' was trained with config ", excerpt(st.text("config")),
           ", not --config ", o.config,
           o.prediction_type.empty() ? "" : " with --prediction-type " + o.prediction_type);
    model->load_state_dict(st.take("model."), true);
    ema.load_state_dict(st.take("ema."));
    opt.load_state_dict(st.take("optim."));
    nn::restore_rng_state(st.json("rng"), gen, *model);
    const data::LoaderState ls = data::LoaderState::from_json(st.text("loader"));
    if (ls.num_samples != loader.num_samples())
      fail("--resume: the run was trained on ", ls.num_samples, " digits but '", o.data_dir, "' now gives ",
           loader.num_samples(), "; use the same --data and --exclude-digits");
    loader.restore(ls);
    step = st.step();
    ema.set_updates(step);  // one EMA update per step: the warm-up goes on where it stopped
    if (primary) tlog.truncate_after(step);
    log << "resuming " << o.out_dir << " at step " << step << "\n";
  }
  if (parallel) {  // every process starts from process 0's weights
    nn::broadcast_parameters(model->parameters(), comm);
    log << "data-parallel: " << comm.size() << " processes, " << o.batch << " samples per step split "
        << shard_of(o.batch, 0, comm.size()).count << ".."
        << shard_of(o.batch, comm.size() - 1, comm.size()).count << " per process\n";
  }

  auto save_state = [&]() {
    check_finite_parameters(model->named_parameters(), step, "training", kept_msg);
    const nlohmann::json rng = nn::rng_state(gen, *model);
    nn::StateDict all = nn::with_prefix(model->state_dict(), "model.");
    for (auto& kv : nn::with_prefix(ema.state_dict(), "ema.")) all.insert(kv);
    for (auto& kv : nn::with_prefix(opt.state_dict(), "optim.")) all.insert(kv);
    nn::Metadata m{{"format", "loradiff-train-state"},
                   {"written_by", "loradiff train"},
                   {"setup", setup.dump()},
                   {"config", cfg.to_json().dump()},
                   {"vocab", nlohmann::json(vocab.words()).dump()},
                   {"step", std::to_string(step)},
                   {"rng", rng.dump()},
                   {"loader", loader.state().to_json()}};
    nn::save_safetensors(state_path, all, m);
    // the sampling checkpoint: EMA weights
    auto ema_model = build_model(cfg, vocab, 0);
    ema.copy_to(*ema_model);
    save_model(
        model_path, *ema_model, vocab,
        {{"step", std::to_string(step)}, {"weights", "ema"}, {"ema_decay", std::to_string(o.ema_decay)}});
    tlog.save();
  };

  auto sample_grid = [&]() {
    auto ema_model = build_model(cfg, vocab, 0);
    ema.copy_to(*ema_model);
    std::vector<std::string> prompts;
    for (auto& p : td.sample_prompts)  // MNIST: one row per digit; a folder: held-out captions
      for (int64_t c = 0; c < o.sample_cols; ++c) prompts.push_back(p);
    SampleOptions so;
    so.steps = o.sample_steps;
    so.seed = 0;
    Tensor imgs = sample(*ema_model, sched, data::tokenize_batch(vocab, prompts).ids, so);
    std::ostringstream name;
    name << "step_" << std::setw(7) << std::setfill('0') << step << ".png";
    data::GenerationParams gp;
    gp.prompt = td.sample_label;
    gp.steps = so.steps;
    gp.guidance = so.guidance;
    gp.seed = so.seed;
    gp.model_hash = weights_hash(ema_model->state_dict());
    data::write_png_grid((fs::path(o.out_dir) / "samples" / name.str()).string(), imgs,
                         static_cast<int64_t>(td.sample_prompts.size()), o.sample_cols, 2, gp);
  };

  // One step: loss (1) -> backward -> clip -> AdamW -> EMA, shared with every trainer (train_step.h).
  const TrainStep ts{.model = *model,
                     .schedule = sched,
                     .opt = opt,
                     .params = model->parameters(),
                     .clip = o.clip,
                     .p_uncond = cfg.p_uncond,
                     .gen = gen,
                     .ema = &ema,
                     .what = "training",
                     .kept = kept_msg,
                     .comm = &comm};
  TrainResult result;
  result.start_step = step;
  nn::ProgressBar bar(o.progress && primary ? &std::cerr : nullptr, o.steps - step, "train");
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t first = step;
  double last_loss = NAN;
  while (step < o.steps) {
    opt.lr = static_cast<float>(lr_at.at(step));
    const StepResult sr = train_step(ts, loader.next(), step);
    const double lv = sr.loss, gnorm = sr.grad_norm;
    ++step;
    last_loss = lv;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (primary && o.log_every > 0 && (step % o.log_every == 0 || step == o.steps))
      tlog.add({step, lv, opt.lr, gnorm, NAN, secs});
    // Ctrl-C during a held-out evaluation or a sample grid abandons it; the steps done are
    // checkpointed below.
    double h = NAN;
    if (primary && o.eval_every > 0 && step % o.eval_every == 0 &&
        run_unless_interrupted([&] { h = heldout_loss(*model, sched, test_set, vocab, o); }))
      tlog.add({step, NAN, NAN, NAN, h, secs});
    std::ostringstream extra;
    extra << "lr " << std::setprecision(3) << opt.lr;
    bar.update(step - first, lv, extra.str());
    if (primary && o.sample_every > 0 && step % o.sample_every == 0) run_unless_interrupted(sample_grid);
    // In a parallel run the processes stop at the step where any of them was asked to (sr.stop).
    const bool stop =
        parallel ? sr.stop : interrupt_requested() || (o.stop_requested && o.stop_requested->load());
    if (primary && ((o.checkpoint_every > 0 && step % o.checkpoint_every == 0) || step == o.steps || stop)) {
      save_state();
      tlog.plot((fs::path(o.out_dir) / "loss.png").string());
    }
    if (stop) {
      result.interrupted = true;
      break;
    }
  }
  bar.finish();
  if (parallel) log << comm.summary() << "\n";
  result.end_step = step;
  result.last_loss = last_loss;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace ld::diffusion
