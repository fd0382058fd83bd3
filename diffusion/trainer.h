// diffusion/trainer.h: training the text-to-image model with loss (1) (`loradiff train`).
//
// Data: MNIST IDX files or a folder of captioned images (diffusion/train_data.h).
// Each step: a batch of (x_0, caption) from the loader, loss (1) at random t with
// caption dropout (diffusion/loss.h), backward, global-norm gradient clipping,
// AdamW with linear warm-up, then an EMA update of the weights (sampling uses the
// EMA weights). Every so often: held-out loss on the test split, a sample grid (one
// row per digit prompt), a checkpoint.
//
// Files in the run folder:
//   model.safetensors        EMA weights + config + vocab: what `loradiff sample` loads
//   train_state.safetensors  raw weights ("model."), EMA ("ema."), AdamW moments ("optim.")
//                            and, in its metadata, the step, every generator's state and
//                            the data loader's position: all a resumed run needs to end
//                            bit-identical to an uninterrupted one
//   loss.csv, loss.png       the loss log and its curve
//   samples/step_NNNNNN.png  sample grids
// Both checkpoint files are written atomically (temporary file + rename).
#pragma once
#include <atomic>
#include <iosfwd>
#include <string>
#include <vector>

namespace ld::diffusion {

struct TrainOptions {
  std::string config = "mnist-t2i";
  std::string prediction_type;  // --prediction-type: replaces the config's (prediction.h); "" = keep it
  std::string data_dir = "data/mnist";
  std::string out_dir;
  int64_t steps = 20000;
  int64_t batch = 64;
  double lr = 2e-4, weight_decay = 0.01;
  int64_t warmup = 500;
  double clip = 1.0;  // global gradient norm; 0 = off
  double ema_decay = 0.999;
  std::vector<int> exclude_digits;
  uint64_t seed = 0;
  std::string caption_mode = "varied";  // "simple": only "a handwritten digit <word>"; "ru", "ru-simple"
  // --data may also be a folder of images + same-name .txt captions (diffusion/train_data.h):
  std::string val_dir;       // --val: its held-out folder
  double val_fraction = -1;  // --val-fraction: part of it held out; -1 = kDefaultValFraction (0.05)
  std::string vocab;  // --vocab: builtin, auto or a word-list file; "" = builtin (MNIST), auto (folder)
  int64_t vocab_min_count = 1, vocab_size = 4096, vocab_spare = 8;  // --vocab auto (data/vocab_build.h)
  int64_t max_train_samples = 0;                                    // 0 = all (tests use a few)
  int64_t log_every = 10, checkpoint_every = 500, sample_every = 1000, eval_every = 500;
  int64_t eval_batches = 4;   // held-out batches per evaluation
  int64_t sample_steps = 50;  // DDIM steps for the sample grids
  int64_t sample_cols = 8;
  bool resume = false;
  // Start afresh in an --out folder that holds another run's files (its state, loss log and curve are
  // removed first; model.safetensors is replaced at the first checkpoint).
  bool overwrite = false;
  bool progress = true;  // draw a progress bar on stderr
  // Ctrl-C (tensor/interrupt.h) or this flag: the loop writes a checkpoint after the current
  // step and stops (a held-out evaluation or sample grid in progress is abandoned).
  std::atomic<bool>* stop_requested = nullptr;
};

struct TrainResult {
  int64_t start_step = 0, end_step = 0;
  double last_loss = 0, seconds = 0;
  bool interrupted = false;
};

// Throws ld::Error (naming the file/option) on bad input, and on a NaN/Inf loss or
// gradient: then the last good checkpoint is kept and the message says which step.
TrainResult train(const TrainOptions& options, std::ostream& log);

}  // namespace ld::diffusion
