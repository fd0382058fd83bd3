// lora/compression_run.h: `loradiff compress` from start to end (article claims C1-C3):
//
//   1. load a trained checkpoint; held-out loss (1) on test digits (fixed t and noise)
//   2. calibration (lora/calibration.h): the selected layers' input moments on --calib-samples
//      training digits at random t (needed by --method input; with svd it gives output errors)
//   3. compress_model (lora/compress.h): each layer -> U V of the chosen rank; per-layer and
//      total parameters before / after, weight and output errors; held-out loss again
//   4. optional --bench-reps: the dense and the compressed model measured alternately
//      (replaced layers forward+backward and forward, a training step, a DDIM step)  (C2)
//   5. optional --finetune-steps: loss (1) with AdamW (every weight, or only the low-rank
//      layers' U, V, b), caption dropout, clipping; held-out loss after                (C3)
//   6. save: a checkpoint that `loradiff sample` / `eval` load like any other (the low-rank
//      layout travels in its metadata, nn/low_rank_layout.h); a JSON report
// --method none skips 2-4: it fine-tunes a checkpoint as it is (a compressed one, or the dense
// base for a baseline with the same number of extra steps); without --finetune-steps it only
// reports (held-out loss, parameters) and --out may be left out.
#pragma once
#include <atomic>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lora/low_rank_init.h"

namespace ld::lora {

struct CompressRunOptions {
  std::string model;  // input checkpoint
  std::string out;    // output checkpoint
  std::string data_dir = "data/mnist";
  std::string json_out;        // "" = no JSON file
  std::string method = "svd";  // svd | input | none
  RankRule rule;
  std::vector<std::string> layers;  // empty = default_compress_targets()
  int64_t calib_samples = 512, calib_batch = 64;
  int64_t heldout_samples = 512;        // 0 = no held-out loss
  std::string caption_mode = "varied";  // captions of the training digits (calibration, fine-tuning)
  uint64_t seed = 0;
  // fine-tuning
  int64_t finetune_steps = 0, batch = 64, warmup = 0;
  double lr = 1e-4, weight_decay = 0.01, clip = 1.0, ema = 0;  // ema 0 = off
  bool finetune_low_rank_only = false;
  bool no_centring = false;  // input method: plain second moment everywhere (CompressOptions::centre)
  // benchmark
  int64_t bench_reps = 0, bench_batch = 64, bench_sample_steps = 5;
  bool progress = true;
  // Ctrl-C (tensor/interrupt.h) or this flag: stop fine-tuning, save, report. Ctrl-C before
  // fine-tuning (held-out loss, calibration, compression, benchmark) throws ld::Interrupted
  // and nothing is written.
  std::atomic<bool>* stop_requested = nullptr;
};

// Runs the steps above, writes --out (and --json), logs to `log`; returns the JSON report.
nlohmann::json run_compression(const CompressRunOptions& options, std::ostream& log);

}  // namespace ld::lora
