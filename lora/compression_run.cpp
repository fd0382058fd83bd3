// lora/compression_run.cpp: the `loradiff compress` pipeline (see compression_run.h): calibrate,
// compress (claims C1, C3), measure (C2), fine-tune with loss (1) (C3), save, report.
#include "lora/compression_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <iomanip>
#include <iostream>
#include <ostream>

#include "autograd/ops.h"
#include "data/captions.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/mnist.h"
#include "data/tokenizer.h"
#include "diffusion/loss.h"
#include "diffusion/model_io.h"
#include "diffusion/resources.h"
#include "diffusion/sampler.h"
#include "diffusion/train_data.h"
#include "diffusion/train_step.h"
#include "dist/communicator.h"
#include "lora/compress.h"
#include "nn/adam.h"
#include "nn/data_parallel.h"
#include "nn/ema.h"
#include "nn/low_rank_conv2d.h"
#include "nn/low_rank_layout.h"
#include "nn/low_rank_linear.h"
#include "nn/lr_schedule.h"
#include "nn/progress.h"
#include "tensor/file_io.h"
#include "tensor/index.h"
#include "tensor/interrupt.h"

namespace ld::lora {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void validate(const CompressRunOptions& o) {
  if (o.model.empty()) fail("--model: the checkpoint to compress is required");
  const bool report_only = o.method == "none" && o.finetune_steps == 0;
  if (o.out.empty() && !report_only)
    fail("--out: the output checkpoint is required (e.g. compressed.safetensors)");
  if (o.method == "none") {
    if (o.rule.rank != 0 || o.rule.energy != 0 || o.rule.param_share != 0 || !o.layers.empty())
      fail("--method none compresses nothing; --rank, --energy, --params and --layers belong to svd / input");
  } else {
    parse_compress_method(o.method);
    o.rule.validate();
  }
  if (o.calib_samples < 0) fail("--calib-samples: ", o.calib_samples, " must be >= 0");
  if (o.method == "input" && o.calib_samples == 0)
    fail("--method input needs calibration data: --calib-samples must be >= 1 (e.g. 512)");
  if (o.calib_batch < 1) fail("--calib-batch: ", o.calib_batch, " must be >= 1");
  if (o.heldout_samples < 0) fail("--heldout-samples: ", o.heldout_samples, " must be >= 0");
  if (o.finetune_steps < 0) fail("--finetune-steps: ", o.finetune_steps, " must be >= 0");
  if (o.batch < 1) fail("--batch: ", o.batch, " must be >= 1");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) fail("--lr: ", o.lr, " must be a positive number");
  if (o.weight_decay < 0 || !std::isfinite(o.weight_decay))
    fail("--weight-decay: ", o.weight_decay, " must be >= 0");
  if (o.warmup < 0) fail("--warmup: ", o.warmup, " must be >= 0");
  if (o.clip < 0 || !std::isfinite(o.clip)) fail("--clip: ", o.clip, " must be >= 0 (0 = off)");
  if (o.ema < 0 || o.ema >= 1) fail("--ema: ", o.ema, " must be in [0, 1) (0 = off)");
  if (o.finetune_low_rank_only && o.finetune_steps == 0)
    fail("--finetune-low-rank-only needs --finetune-steps N (> 0)");
  if (o.bench_reps < 0) fail("--bench-reps: ", o.bench_reps, " must be >= 0 (0 = no benchmark)");
  if (o.bench_batch < 1) fail("--bench-batch: ", o.bench_batch, " must be >= 1");
  if (o.bench_sample_steps < 1) fail("--bench-sample-steps: ", o.bench_sample_steps, " must be >= 1");
  if (o.bench_reps > 0 && o.method == "none")
    fail("--bench-reps compares dense and compressed layers; not with --method none");
}

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// Loss (1) on the first n test digits (simple captions) with fixed t and noise (train_step.h's
// fixed_noise_loss): the same numbers for the same weights, so models compare pairwise.
double heldout_loss(diffusion::TextToImageModel& model, const diffusion::NoiseSchedule& s,
                    const data::CaptionedImages& test, const data::Vocabulary& vocab, int64_t n,
                    int64_t batch) {
  n = std::min(n, test.size());
  if (n == 0) return NAN;
  data::LoaderOptions lo;
  lo.batch_size = std::min(batch, n);
  lo.shuffle = false;
  lo.drop_last = false;
  data::DataLoader loader(test, vocab, lo);
  return diffusion::fixed_noise_loss(model, s, loader, (n + lo.batch_size - 1) / lo.batch_size, n);
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Medians of a and b timed alternately (a, b, a, b, ...) after one warm-up each, so a change in
// the (shared) machine's load affects both alike.
std::pair<double, double> paired_median_ms(const std::function<void()>& a, const std::function<void()>& b,
                                           int64_t reps) {
  a();
  b();
  std::vector<double> ta, tb;
  for (int64_t i = 0; i < reps; ++i) {
    throw_if_interrupted();
    for (auto [f, out] : {std::pair{&a, &ta}, std::pair{&b, &tb}}) {
      const auto t0 = Clock::now();
      (*f)();
      out->push_back(1e3 * seconds_since(t0));
    }
  }
  return {median(ta), median(tb)};
}

nlohmann::json timing_json(std::pair<double, double> t) {
  return {{"dense_ms", t.first}, {"low_rank_ms", t.second}, {"speedup", t.first / t.second}};
}

// Claim C2, measured: the replaced layers alone (on inputs shaped like the calibration inputs,
// batch bench_batch), a training step (forward, loss (1), backward, AdamW at lr 0 so the weights
// stay), and a DDIM step with guidance (two UNet passes), dense vs compressed, alternately.
nlohmann::json bench_models(diffusion::TextToImageModel& dense, diffusion::TextToImageModel& low,
                            const CompressionReport& rep, const InputMomentsMap& moments,
                            const data::Batch& batch, const data::Vocabulary& vocab,
                            const CompressRunOptions& o, std::ostream& log) {
  nlohmann::json out = {{"batch", o.bench_batch}, {"reps", o.bench_reps}};
  Generator gen(99);
  // --- the replaced layers
  double fb_dense = 0, fb_low = 0, f_dense = 0, f_low = 0;
  int64_t timed = 0;
  nlohmann::json per_layer = nlohmann::json::array();
  for (const auto& l : rep.layers) {
    auto it = moments.find(l.name);
    if (l.rank == 0 || it == moments.end() || it->second.input_shape.empty()) continue;
    Shape shape = it->second.input_shape;
    shape[0] = o.bench_batch;
    const Tensor x = rand_normal(shape, gen);
    nn::Module& d = *dense.get_module(l.name);
    nn::Module& c = *low.get_module(l.name);
    // the returned closures hold the module by pointer: they outlive this lambda's parameter
    auto fwd_bwd = [&x](nn::Module& m) {
      return [&x, pm = &m] {
        ag::Var xv(x, true);
        ag::sum(pm->forward(xv)).backward();
        pm->zero_grad();
      };
    };
    auto fwd = [&x](nn::Module& m) {
      return [&x, pm = &m] {
        ag::NoGrad ng;
        pm->forward(ag::Var(x));
      };
    };
    const auto tfb = paired_median_ms(fwd_bwd(d), fwd_bwd(c), o.bench_reps);
    const auto tf = paired_median_ms(fwd(d), fwd(c), o.bench_reps);
    fb_dense += tfb.first;
    fb_low += tfb.second;
    f_dense += tf.first;
    f_low += tf.second;
    ++timed;
    per_layer.push_back({{"name", l.name},
                         {"input", shape_str(shape)},
                         {"forward_backward", timing_json(tfb)},
                         {"forward", timing_json(tf)}});
  }
  if (timed > 0) {
    out["layers_forward_backward"] = timing_json({fb_dense, fb_low});
    out["layers_forward"] = timing_json({f_dense, f_low});
    out["layers"] = per_layer;
    log << std::fixed << std::setprecision(2) << "bench: " << timed << " replaced layers at batch "
        << o.bench_batch << ", forward+backward " << fb_dense << " ms dense -> " << fb_low
        << " ms low-rank (x" << fb_dense / fb_low << "), forward " << f_dense << " -> " << f_low << " ms (x"
        << f_dense / f_low << ")\n";
  } else {
    log << "bench: no layer inputs were recorded (--calib-samples 0), so the layers are not timed alone\n";
  }
  // --- a training step of the whole model
  const diffusion::ModelConfig& cfg = low.config;
  const diffusion::NoiseSchedule s =
      diffusion::NoiseSchedule::make(cfg.beta_schedule, cfg.timesteps, cfg.beta_start, cfg.beta_end);
  Tensor images = batch.images, tokens = batch.tokens;
  while (images.size(0) < o.bench_batch) {  // repeat a small batch up to bench_batch
    images = concat({images, batch.images}, 0);
    tokens = concat({tokens, batch.tokens}, 0);
  }
  images = images.narrow(0, 0, o.bench_batch).contiguous();
  tokens = tokens.narrow(0, 0, o.bench_batch).contiguous();
  auto step = [&](diffusion::TextToImageModel& m, nn::AdamW& opt) {
    return [&, pm = &m, po = &opt] {
      Generator g(5);
      pm->train();
      po->zero_grad();
      diffusion::diffusion_loss(*pm, s, images, tokens, cfg.p_uncond, g).backward();
      po->step();
      po->zero_grad();
    };
  };
  dense.requires_grad(true);
  low.requires_grad(true);
  nn::AdamOptions ao = nn::adamw_defaults();
  nn::AdamW opt_dense(dense.named_parameters(), 0.0f, ao), opt_low(low.named_parameters(), 0.0f, ao);
  const auto ts = paired_median_ms(step(dense, opt_dense), step(low, opt_low), o.bench_reps);
  out["train_step"] = timing_json(ts);
  // --- sampling: DDIM with guidance 3, per step
  std::vector<std::string> captions;
  for (int64_t i = 0; i < o.bench_batch; ++i)
    captions.push_back(str_cat("a handwritten digit ", data::digit_word(i % 10)));
  const Tensor ids = data::tokenize_batch(vocab, captions).ids;
  diffusion::SampleOptions so;
  so.steps = o.bench_sample_steps;
  auto sample = [&](diffusion::TextToImageModel& m) {
    return [&, pm = &m] { diffusion::sample(*pm, s, ids, so); };
  };
  auto tsm = paired_median_ms(sample(dense), sample(low), o.bench_reps);
  tsm.first /= static_cast<double>(o.bench_sample_steps);
  tsm.second /= static_cast<double>(o.bench_sample_steps);
  out["ddim_step"] = timing_json(tsm);
  log << "bench: training step " << ts.first << " ms dense -> " << ts.second << " ms compressed (x"
      << ts.first / ts.second << "); DDIM step with guidance " << tsm.first << " -> " << tsm.second
      << " ms (x" << tsm.first / tsm.second << "); medians of " << o.bench_reps << ", measured alternately\n"
      << std::defaultfloat << std::setprecision(6);
  return out;
}

struct FinetuneResult {
  int64_t steps = 0, trainable_params = 0;
  double first_loss = NAN, last_loss = NAN, median_step_ms = NAN, seconds = 0;
  bool interrupted = false;
};

// Loss (1) with caption dropout, AdamW with linear warm-up, global-norm clipping (and EMA):
// the training loop of diffusion/trainer.cpp, on the compressed model (claim C3).
FinetuneResult finetune(diffusion::TextToImageModel& model, const data::CaptionedImages& train,
                        const data::Vocabulary& vocab, const CompressRunOptions& o, std::ostream& log) {
  FinetuneResult r;
  if (o.finetune_low_rank_only) {
    model.requires_grad(false);
    for (const auto& [name, m] : model.named_modules())
      if (std::dynamic_pointer_cast<nn::LowRankLinear>(m) || std::dynamic_pointer_cast<nn::LowRankConv2d>(m))
        m->requires_grad(true);
  } else {
    model.requires_grad(true);
  }
  nn::NamedParameters trainable;
  std::vector<ag::Var> params;
  for (auto& [name, p] : model.named_parameters())
    if (p.requires_grad()) {
      trainable.push_back({name, p});
      params.push_back(p);
      r.trainable_params += p.value().numel();
    }
  if (trainable.empty()) fail("--finetune-low-rank-only: the model has no low-rank layer to train");
  log << "fine-tuning " << o.finetune_steps << " steps, batch " << o.batch << ", lr " << o.lr << ", "
      << r.trainable_params << " trainable parameters ("
      << (o.finetune_low_rank_only ? "low-rank layers only" : "every weight") << ")"
      << (o.ema > 0 ? str_cat(", EMA ", o.ema) : std::string()) << "\n";
  const diffusion::ModelConfig& cfg = model.config;
  const diffusion::NoiseSchedule s =
      diffusion::NoiseSchedule::make(cfg.beta_schedule, cfg.timesteps, cfg.beta_start, cfg.beta_end);
  data::LoaderOptions lo;
  lo.batch_size = std::min(o.batch, train.size());
  lo.seed = o.seed + 1;
  // data-parallel (mpirun -np N, docs/distributed.md): this process's shard of every batch
  dist::Communicator& comm = dist::Communicator::world();
  lo.rank = comm.rank();
  lo.ranks = comm.size();
  comm.check_batch(lo.batch_size);
  data::DataLoader loader(train, vocab, lo);
  nn::broadcast_parameters(params, comm);  // every process starts from process 0's weights
  nn::AdamOptions ao = nn::adamw_defaults();
  ao.weight_decay = o.weight_decay;
  nn::AdamW opt(trainable, static_cast<float>(o.lr), ao);
  nn::LrSchedule lr_at;
  lr_at.base_lr = o.lr;
  lr_at.warmup_steps = o.warmup;
  std::unique_ptr<nn::Ema> ema;
  if (o.ema > 0) ema = std::make_unique<nn::Ema>(model, o.ema);
  Generator gen(o.seed * 0x9E3779B97F4A7C15ull + 7);
  model.train();
  // One step: loss (1) -> backward -> clip -> AdamW -> EMA, shared with every trainer (train_step.h).
  const diffusion::TrainStep ts{.model = model,
                                .schedule = s,
                                .opt = opt,
                                .params = params,
                                .clip = o.clip,
                                .p_uncond = cfg.p_uncond,
                                .gen = gen,
                                .ema = ema.get(),
                                .what = "fine-tuning",
                                .kept = "",
                                .comm = &comm};
  nn::ProgressBar bar(o.progress && comm.primary() ? &std::cerr : nullptr, o.finetune_steps, "fine-tune");
  std::vector<double> step_ms, losses;
  const auto t0 = Clock::now();
  while (r.steps < o.finetune_steps) {
    const auto s0 = Clock::now();
    opt.lr = static_cast<float>(lr_at.at(r.steps));
    const diffusion::StepResult sr = diffusion::train_step(ts, loader.next(), r.steps);
    const double lv = sr.loss;
    step_ms.push_back(1e3 * seconds_since(s0));
    losses.push_back(lv);
    ++r.steps;
    bar.update(r.steps, lv);
    // in a parallel run the processes stop at the step where any of them was asked to (sr.stop)
    if (comm.size() > 1 ? sr.stop : interrupt_requested() || (o.stop_requested && o.stop_requested->load())) {
      r.interrupted = true;
      break;
    }
  }
  bar.finish();
  opt.zero_grad();
  if (ema) ema->copy_to(model);
  model.eval();
  r.seconds = seconds_since(t0);
  r.median_step_ms = median(step_ms);
  // the mean of the first / last (up to) 20 losses: one step's loss is very noisy (random t)
  const size_t k = std::clamp<size_t>(losses.size() / 2, 1, 20);
  double first = 0, last = 0;
  for (size_t i = 0; i < k; ++i) {
    first += losses[i];
    last += losses[losses.size() - 1 - i];
  }
  r.first_loss = first / static_cast<double>(k);
  r.last_loss = last / static_cast<double>(k);
  return r;
}

int64_t low_rank_parameters(const nn::Module& model) {
  int64_t n = 0;
  for (const auto& [name, rank] : nn::low_rank_layout(model)) n += model.get_module(name)->num_parameters();
  return n;
}

}  // namespace

nlohmann::json run_compression(const CompressRunOptions& o, std::ostream& log) {
  validate(o);
  const auto t_start = Clock::now();
  diffusion::LoadedModel lm = diffusion::load_model(o.model);
  diffusion::TextToImageModel& model = *lm.model;
  const diffusion::ModelConfig& cfg = model.config;
  const std::string input_hash = diffusion::weights_hash(model.state_dict());
  const diffusion::NoiseSchedule sched =
      diffusion::NoiseSchedule::make(cfg.beta_schedule, cfg.timesteps, cfg.beta_start, cfg.beta_end);
  log << "model: " << o.model << " (config " << cfg.name << ", weights " << input_hash << ", "
      << model.num_parameters() << " parameters, " << nn::low_rank_layout(model).size()
      << " low-rank layers)\n";

  nlohmann::json j = {{"model", o.model},
                      {"config", cfg.name},
                      {"input_weights", input_hash},
                      {"out", o.out},
                      {"method", o.method},
                      {"seed", o.seed},
                      {"unet_params_before", model.unet->num_parameters()},
                      {"model_params_before", model.num_parameters()}};
  if (o.method != "none") j["rule"] = o.rule.str();

  for (const auto& [option, batch] :
       {std::pair<const char*, int64_t>{"--batch", o.finetune_steps > 0 ? o.batch : 0},
        {"--calib-batch", o.calib_samples > 0 ? o.calib_batch : 0},
        {"--bench-batch", o.bench_reps > 0 ? o.bench_batch : 0}})
    if (batch > 0)
      diffusion::check_train_memory(cfg, batch, 0, option);  // before calibrating or loading data
  // --- data: training digits (calibration, fine-tuning), test digits (held-out loss)
  const bool need_train =
      (o.method != "none" && o.calib_samples > 0) || o.finetune_steps > 0 || o.bench_reps > 0;
  data::CaptionedImages train, test;
  const bool mnist = diffusion::is_mnist_folder(o.data_dir);  // also a missing or empty folder
  if (!mnist && (need_train || o.heldout_samples > 0)) {
    // an image + caption folder (as `train --data` reads it, e.g. colour shapes), fitted to the
    // model; it has no test split, so the held-out loss is measured on the same images
    data::FolderOptions fo;
    fo.size = cfg.image_size;
    fo.channels = cfg.image_channels == 3 ? 3 : 1;
    const data::CaptionedImages all = data::captioned_folder(data::read_image_folder(o.data_dir, fo));
    if (need_train) train = all;
    if (o.heldout_samples > 0) test = all;
    log << "data: " << all.size() << " image/caption pairs from " << o.data_dir
        << " (calibration, fine-tuning and the held-out loss all use them)\n";
  }
  if (mnist && need_train)
    train = data::captioned_mnist(data::load_mnist(o.data_dir, data::Split::Train),
                                  data::parse_caption_mode(o.caption_mode));
  if (mnist && o.heldout_samples > 0)
    test = data::captioned_mnist(data::load_mnist(o.data_dir, data::Split::Test), data::CaptionMode::Simple);
  for (const data::CaptionedImages* d : {&train, &test})  // MNIST is not resized to the model
    if (d->size() > 0)
      diffusion::check_image_shape(cfg, d->images.size(2), d->images.size(3), d->images.size(1),
                                   "'" + o.data_dir + "' (--data)", "the model --model '" + o.model + "'");
  const int64_t heldout_n = std::min(o.heldout_samples, test.size());
  auto heldout = [&] { return heldout_loss(model, sched, test, lm.vocab, heldout_n, 64); };
  nlohmann::json hj = {{"samples", heldout_n}};
  const double h_input = heldout();
  hj["input"] = number_or_null(h_input);
  if (heldout_n > 0)
    log << "held-out loss (1) of the input model: " << h_input << " (" << heldout_n
        << " test digits, fixed t and noise)\n";

  // --- calibration and compression
  CompressionReport rep;
  InputMomentsMap moments;
  if (o.method != "none") {
    CompressOptions co;
    co.method = parse_compress_method(o.method);
    co.rule = o.rule;
    co.layers = o.layers;
    co.centre = !o.no_centring;
    const std::vector<std::string> targets = check_compress_options(model, co);  // fail before calibrating
    j["layer_patterns"] = co.layers.empty() ? default_compress_targets() : co.layers;
    if (co.method == CompressMethod::Input) j["centring"] = co.centre;
    log << "layers: " << targets.size() << " selected\n";
    if (o.calib_samples > 0) {
      CalibrationOptions cal;
      cal.samples = o.calib_samples;
      cal.batch = o.calib_batch;
      cal.seed = o.seed;
      CalibrationResult cr = calibrate_inputs(model, train, lm.vocab, targets, cal);
      moments = std::move(cr.moments);
      j["calibration"] = {{"samples", cr.samples}, {"loss", cr.loss}, {"seconds", cr.seconds}};
      log << "calibration: inputs of " << targets.size() << " layers on " << cr.samples
          << " training digits at random t (loss (1) " << cr.loss << ") in " << std::setprecision(3)
          << cr.seconds << " s\n"
          << std::setprecision(6);
    }
    const auto tc = Clock::now();
    rep = compress_model(model, co, moments.empty() ? nullptr : &moments);
    j["compression"] = rep.to_json();
    j["compression"]["seconds"] = seconds_since(tc);
    log << rep.table();
    const double h = heldout();
    hj["compressed"] = number_or_null(h);
    if (heldout_n > 0) log << "held-out loss (1) after compression: " << h << "\n";
    if (o.bench_reps > 0 && dist::Communicator::world().primary()) {
      diffusion::LoadedModel dense = diffusion::load_model(o.model);
      data::LoaderOptions lo;
      lo.batch_size = std::min<int64_t>(o.bench_batch, train.size());
      data::DataLoader loader(train, lm.vocab, lo);
      j["bench"] = bench_models(*dense.model, model, rep, moments, loader.next(), lm.vocab, o, log);
    }
  }

  // --- fine-tuning with the low-rank layers
  if (o.finetune_steps > 0) {
    FinetuneResult fr = finetune(model, train, lm.vocab, o, log);
    j["finetune"] = {{"steps", fr.steps},
                     {"batch", o.batch},
                     {"lr", o.lr},
                     {"warmup", o.warmup},
                     {"weight_decay", o.weight_decay},
                     {"ema", o.ema},
                     {"trainable", o.finetune_low_rank_only ? "low-rank" : "all"},
                     {"trainable_params", fr.trainable_params},
                     {"first_loss", fr.first_loss},
                     {"last_loss", fr.last_loss},
                     {"median_step_ms", fr.median_step_ms},
                     {"seconds", fr.seconds},
                     {"interrupted", fr.interrupted}};
    log << (fr.interrupted ? "interrupted" : "fine-tuned") << ": " << fr.steps
        << " steps, loss (mean of the first / last " << std::clamp<int64_t>(fr.steps / 2, 1, 20) << ") "
        << fr.first_loss << " -> " << fr.last_loss << ", " << std::setprecision(4) << fr.median_step_ms
        << " ms/step (median), " << fr.seconds << " s\n"
        << std::setprecision(6);
    // Ctrl-C while fine-tuning: the steps done are saved at once, without this evaluation
    double h = NAN;
    if (run_unless_interrupted([&] { h = heldout(); })) {
      if (heldout_n > 0) log << "held-out loss (1) after fine-tuning: " << h << "\n";
    } else if (heldout_n > 0) {
      log << "held-out loss (1) after fine-tuning: skipped (interrupted)\n";
    }
    hj["finetuned"] = number_or_null(h);
  }
  j["heldout_loss"] = hj;

  j["low_rank_layers"] = nn::low_rank_layout(model).size();
  j["low_rank_params"] = low_rank_parameters(model);
  j["unet_params_after"] = model.unet->num_parameters();
  j["model_params_after"] = model.num_parameters();
  if (o.out.empty()) {  // --method none without fine-tuning: a report of the model as it is
    j["seconds"] = seconds_since(t_start);
    if (!o.json_out.empty() && dist::Communicator::world().primary())
      write_file_atomic(o.json_out, j.dump(2) + "\n");
    return j;
  }

  // --- save: loads like any checkpoint (the layout is in the metadata, nn/low_rank_layout.h)
  model.eval();
  nlohmann::json summary = {{"method", o.method}, {"from", o.model}, {"finetune_steps", o.finetune_steps}};
  if (o.method != "none") {
    summary["rule"] = o.rule.str();
    summary["params_before"] = rep.params_before;
    summary["params_after"] = rep.params_after;
  }
  if (!dist::Communicator::world().primary()) return j;  // process 0 alone writes
  diffusion::save_model(o.out, model, lm.vocab,
                        {{"compressed_from", input_hash}, {"compression", summary.dump()}});
  j["out_weights"] = diffusion::weights_hash(model.state_dict());
  j["seconds"] = seconds_since(t_start);
  log << "wrote " << o.out << " (" << j["low_rank_layers"] << " low-rank layers, " << j["model_params_after"]
      << " parameters; loads with `loradiff sample` / `loradiff eval`)\n";
  if (!o.json_out.empty() && dist::Communicator::world().primary())
    write_file_atomic(o.json_out, j.dump(2) + "\n");
  return j;
}

}  // namespace ld::lora
