// diffusion/train_step.h: one training step of the text-to-image model, the same for every trainer
// (`loradiff train`, `lora train`, `compress` fine-tuning); the trainers differ only in which weights
// train (the whole model, the LoRA adapters, the low-rank layers) and which data they read.
//
//   L    = loss (1) on a batch: || eps - eps_theta(x_t, t, y) ||^2, t and eps drawn, the caption
//          replaced by the empty one with probability p_uncond          (diffusion/loss.h)
//        [ + prior_weight * loss (1) on a batch the base model already draws (prior preservation, C5) ]
//   g    = dL/dtheta for the trainable parameters                        (autograd: L.backward())
//   g   *= min(1, clip / ||g||)                                          (global-norm clipping)
//   theta = AdamW(theta, g) at the scheduled learning rate               (nn/adam.h)
//   ema  = decay * ema + (1 - decay) * theta                             (sampling weights, optional)
//
// Data-parallel (docs/distributed.md, nn/data_parallel.h): with `comm` holding N > 1 processes, the
// batch holds this process's shard (n_r of B samples, data/loader.h), the shard's loss is scaled by
// n_r / B, and after backward the gradients (and the loss, and whether any process was asked to
// stop) are summed over the processes, so every process clips and steps with the whole batch's
// gradient. One process (comm null or of size 1) is the plain step above.
//
// A loss or gradient norm that is not finite stops training here, before the update touches the
// weights, naming the step: the last checkpoint written stays the last good one.
#pragma once
#include <string>
#include <vector>

#include "autograd/var.h"
#include "data/loader.h"
#include "diffusion/model.h"
#include "diffusion/schedule.h"
#include "dist/communicator.h"
#include "nn/ema.h"
#include "nn/optimizer.h"
#include "tensor/random.h"

namespace ld::diffusion {

// What stays the same from step to step.
struct TrainStep {
  TextToImageModel& model;
  const NoiseSchedule& schedule;
  nn::Optimizer& opt;             // its lr is set by the caller before each step (warm-up)
  std::vector<ag::Var> params;    // the trainable parameters (clipped together)
  double clip = 1.0;              // global gradient norm; 0 = off
  float p_uncond = 0.1f;          // caption dropout of loss (1)
  Generator& gen;                 // t, eps and caption dropout
  nn::Ema* ema = nullptr;         // updated after each step when given
  std::string what = "training";  // "training" or "fine-tuning", in error messages
  std::string kept;  // appended to stop messages, e.g. "; the last good checkpoint is kept in 'runs/a'"
  dist::Communicator* comm = nullptr;  // the processes of a data-parallel run; null = this one alone
};

struct StepResult {
  double loss = 0, grad_norm = 0;  // of the whole batch (every process has the same)
  // Data-parallel runs: some process was asked to stop (Ctrl-C, SIGTERM) before this step's
  // all-reduce; every process learns it at the same step, so all stop together.
  bool stop = false;
};

// One step at 0-based step number `step` (messages say step + 1). `prior` (may be null) adds
// prior_weight * loss (1) on that batch.
StepResult train_step(const TrainStep& ts, const data::Batch& batch, int64_t step,
                      const data::Batch* prior = nullptr, float prior_weight = 0.0f);

// Before a checkpoint: every parameter finite, or training stops naming the step and the parameter (an
// update that overflowed right before a checkpoint must not replace the last good one).
void check_finite_parameters(const nn::NamedParameters& params, int64_t step, const std::string& what,
                             const std::string& kept);

// The held-out loss: loss (1) with fixed t and noise (Generator 4321, the same numbers for the same
// weights, so curves of different runs compare point by point), no caption dropout, eval mode, no
// gradients; over `batches` batches of `loader` (the first `max_images` images at most; -1 = all),
// averaged over images. Ctrl-C abandons it (ld::Interrupted).
double fixed_noise_loss(TextToImageModel& model, const NoiseSchedule& schedule, data::DataLoader& loader,
                        int64_t batches, int64_t max_images = -1);

}  // namespace ld::diffusion
