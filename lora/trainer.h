// lora/trainer.h: training a LoRA adapter on a small folder of captioned images
// (`loradiff lora train`; article claim C6: 16-24 image + caption pairs, Fig. 4).
//
// The objective is the base model's own, Eq. (1) with the caption y of Eq. (2):
//   L = E_{x_0, eps, t} || eps - eps_theta(x_t, t, y) ||^2,
// but only the adapters' A and B are trainable (W0 frozen, Eq. (LoRA)). Each step: a batch of
// (image, caption) from the folder, loss (1) at random t with the config's caption dropout
// (so guidance still works), backward, global-norm clipping, AdamW with linear warm-up.
//
// --full fine-tunes every weight of the base model instead, on the same data and loop: the
// comparison of claims C2 (cost per step, trainable parameters, optimizer state) and C4
// (held-out loss over steps, overfitting).
//
// Files:
//   --out                   the adapter (LoRA) or a full checkpoint (--full), written atomically
//   <log_dir>/loss.csv      step, training loss, lr, gradient norm, held-out loss, seconds
//   <log_dir>/loss.png      the curves
//   <log_dir>/samples/step_NNNNNNN.png  a grid of the folder's captions every sample_every steps
//                                        (and at step 0: the base model alone)
//   <log_dir>/train_state.safetensors   every save_every steps and at the end: the trainable
//                                        weights, AdamW moments, step, generators and the data
//                                        order, so `--resume` continues bit-identically (the
//                                        adapter at --out is rewritten at the same moments)
// Prior preservation (--reg DIR, as DreamBooth and kohya's reg_data_dir): DIR holds pairs of
// what the base already draws well (e.g. the other digits with their captions). Each step adds
// their loss (1), weighted by prior_weight, to the new concept's:
//   L = L(new pairs) + prior_weight * L(regularisation pairs),
// so the adapter learns the new concept without drifting on the rest (claim C5).
//
// The held-out loss (--val DIR) uses fixed t and noise (the same in every evaluation and every
// run), so LoRA and full fine-tuning curves are comparable point by point.
#pragma once
#include <atomic>
#include <iosfwd>
#include <string>
#include <vector>

namespace ld::diffusion {
class TextToImageModel;
}
namespace ld::data {
class Vocabulary;
}

namespace ld::lora {

struct LoRATrainOptions {
  std::string base;      // base checkpoint (model.safetensors of `loradiff train`)
  std::string data_dir;  // image + caption folder
  std::string out;       // adapter file (or checkpoint with full)
  std::string val_dir;   // optional held-out folder
  std::string reg_dir;   // optional regularisation folder (prior preservation), see below
  float prior_weight = 1;
  std::string log_dir;  // "" = <out without extension>-log
  int64_t rank = 4;
  float alpha = 4;
  float dropout = 0;
  std::vector<std::string> targets;  // empty = lora::default_targets()
  bool text_encoder = false;         // also adapt the text encoder's attention projections
  // Textual inversion inside the adapter: add this word to the vocabulary and one row to the token
  // embedding (TextEncoder::add_token_rows), initialised from init_token's row (default <unk>, so the
  // word starts as the base reads an unknown word); that row trains with the adapter (no other row does)
  // and is stored in the adapter file with the word.
  std::string new_token, init_token;
  bool full = false;  // fine-tune every base weight instead (no adapter)
  int64_t steps = 500, batch = 8;
  double lr = 1e-4, weight_decay = 0.01;
  int64_t warmup = 0;
  double clip = 1.0;  // global gradient norm; 0 = off
  uint64_t seed = 0;
  int64_t log_every = 10, eval_every = 50, sample_every = 0;
  int64_t eval_repeats = 4;  // passes over the held-out folder per evaluation (different t each)
  int64_t sample_steps = 50, sample_cols = 4;
  int64_t save_every = 100;  // steps between train-state (and --out) saves; 0 = only at the end
  bool resume = false;       // continue from <log_dir>/train_state.safetensors
  bool overwrite = false;    // replace another run's state in the log folder / another kind of file at --out
  bool progress = true;
  // Ctrl-C (tensor/interrupt.h) or this flag: save after the current step and stop; before the
  // first step of a new run, ld::Interrupted is thrown and nothing is written
  std::atomic<bool>* stop_requested = nullptr;
};

struct LoRATrainResult {
  int64_t steps = 0;
  double first_loss = 0, last_loss = 0, seconds = 0;
  double median_step_ms = 0;           // forward + backward + update, without evaluation and sampling
  int64_t trainable_params = 0;        // adapter parameters, or every parameter with full
  int64_t unet_params = 0;             // the base UNet's parameters
  int64_t optimizer_state_floats = 0;  // AdamW moments: 2 per trainable parameter
  double heldout_before = 0, heldout_after = 0;  // NaN without --val
  int64_t layers = 0;                            // adapted layers (0 with full)
  bool interrupted = false;
  int64_t resumed_from = -1;  // the step a --resume run continued from; -1 = a fresh run
  std::string log_dir;
};

LoRATrainResult train_lora(const LoRATrainOptions& options, std::ostream& log);

// --new-token WORD [--init-token EXISTING]: WORD (one new word) appended to `vocab` and one row, a copy
// of EXISTING's (default <unk>), added to the model's token embedding (TextEncoder::add_token_rows).
void add_new_token(diffusion::TextToImageModel& model, data::Vocabulary& vocab, const std::string& word,
                   const std::string& init_token);

}  // namespace ld::lora
