// diffusion/train_step.cpp: the shared training step of diffusion/train_step.h.
#include "diffusion/train_step.h"

#include <cmath>

#include "autograd/ops.h"
#include "diffusion/loss.h"
#include "nn/clip_grad.h"
#include "nn/data_parallel.h"
#include "tensor/elementwise.h"
#include "tensor/interrupt.h"

namespace ld::diffusion {

namespace {
void stop_unless_finite(const TrainStep& ts, double value, const char* what_value, int64_t step) {
  if (std::isfinite(value)) return;
  fail(ts.what, " stopped at step ", step + 1, ": ", what_value, " is ", value, " (try a lower --lr)",
       ts.kept);
}
// The shard's loss (1) times n_r / B, its part of the whole batch's mean.
ag::Var shard_loss(const TrainStep& ts, const data::Batch& b) {
  ag::Var l = diffusion_loss(ts.model, ts.schedule, b.images, b.tokens, ts.p_uncond, ts.gen, b.shard);
  if (b.shard.whole()) return l;
  return ag::scale(l, static_cast<float>(b.shard.count) / static_cast<float>(b.shard.total));
}

}  // namespace

StepResult train_step(const TrainStep& ts, const data::Batch& batch, int64_t step, const data::Batch* prior,
                      float prior_weight) {
  const bool parallel = ts.comm && ts.comm->size() > 1;
  ts.opt.zero_grad();
  ag::Var loss = shard_loss(ts, batch);  // (1)
  if (prior)                             // L = L(new) + prior_weight * L(prior)
    loss = ag::add(loss, ag::scale(shard_loss(ts, *prior), prior_weight));
  StepResult r;
  r.loss = loss.value().item();
  if (!parallel) stop_unless_finite(ts, r.loss, "the loss", step);
  loss.backward();
  if (parallel) {  // g = sum over processes; the loss and the stop requests travel along
    std::vector<float> extra{static_cast<float>(r.loss), interrupt_requested() ? 1.0f : 0.0f};
    nn::allreduce_gradients(ts.params, *ts.comm, extra);
    r.loss = extra[0];
    r.stop = extra[1] > 0;
    stop_unless_finite(ts, r.loss, "the loss", step);  // the same decision on every process
  }
  r.grad_norm = nn::clip_grad_norm(ts.params, ts.clip > 0 ? ts.clip : INFINITY);
  stop_unless_finite(ts, r.grad_norm, "the gradient norm", step);
  ts.opt.step();
  if (ts.ema) ts.ema->update(ts.model);
  return r;
}

void check_finite_parameters(const nn::NamedParameters& params, int64_t step, const std::string& what,
                             const std::string& kept) {
  for (const auto& [name, p] : params)
    if (has_non_finite(p.value()))
      fail(what, " stopped at step ", step, ": parameter '", name,
           "' is not finite after the update (try a lower --lr)", kept);
}

double fixed_noise_loss(TextToImageModel& model, const NoiseSchedule& schedule, data::DataLoader& loader,
                        int64_t batches, int64_t max_images) {
  ag::NoGrad ng;
  const bool was_training = model.is_training();
  model.eval();
  Generator g(4321);
  double total = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < batches && (max_images < 0 || n < max_images); ++i) {
    throw_if_interrupted();
    data::Batch b = loader.next();
    int64_t B = b.images.size(0);
    if (max_images >= 0 && n + B > max_images) {  // only the first max_images images
      B = max_images - n;
      b.images = b.images.narrow(0, 0, B).contiguous();
      b.tokens = b.tokens.narrow(0, 0, B).contiguous();
    }
    total +=
        diffusion_loss(model, schedule, b.images, b.tokens, 0.0f, g).value().item() * static_cast<double>(B);
    n += B;
  }
  model.train(was_training);
  return n ? total / static_cast<double>(n) : NAN;
}

}  // namespace ld::diffusion
