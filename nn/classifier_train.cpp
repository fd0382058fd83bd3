// nn/classifier_train.cpp: see classifier_train.h.
#include "nn/classifier_train.h"

#include <deque>
#include <numeric>

#include "autograd/ops.h"
#include "nn/adam.h"
#include "nn/lr_schedule.h"
#include "nn/progress.h"
#include "tensor/interrupt.h"

namespace ld::nn {

Tensor shifted_batch(const Tensor& images, const std::vector<int64_t>& idx, int64_t max_shift,
                     Generator& gen) {
  const int64_t H = images.size(2), W = images.size(3), B = static_cast<int64_t>(idx.size());
  Tensor src = images.contiguous();
  Tensor out = Tensor::full({B, 1, H, W}, -1.0f);
  float* o = out.f32();
  const float* s = src.f32();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t dy = max_shift > 0 ? gen.next_int(2 * max_shift + 1) - max_shift : 0;
    const int64_t dx = max_shift > 0 ? gen.next_int(2 * max_shift + 1) - max_shift : 0;
    const float* img = s + idx[b] * H * W;
    float* dst = o + b * H * W;
    for (int64_t y = 0; y < H; ++y) {
      const int64_t sy = y - dy;
      if (sy < 0 || sy >= H) continue;
      for (int64_t x = 0; x < W; ++x) {
        const int64_t sx = x - dx;
        if (sx >= 0 && sx < W) dst[y * W + x] = img[sy * W + sx];
      }
    }
  }
  return out;
}

ClassifierTrainStats train_classifier(MnistClassifier& model, const Tensor& images, const Tensor& labels,
                                      const ClassifierTrainOptions& opt, std::ostream* progress) {
  check_dtype("train_classifier", labels, DType::I32, "labels");
  if (images.dim() != 4 || images.size(1) != 1 || labels.dim() != 1 || labels.size(0) != images.size(0))
    fail("train_classifier: images ", shape_str(images.shape()), " and labels ", shape_str(labels.shape()),
         " must be (N, 1, 28, 28) and (N)");
  const int64_t N = images.size(0);
  if (opt.batch_size <= 0 || opt.batch_size > N)
    fail("train_classifier: batch size ", opt.batch_size, " must be in [1, ", N, "]");
  const int64_t per_epoch = N / opt.batch_size;
  const int64_t total = opt.steps > 0 ? opt.steps : opt.epochs * per_epoch;
  if (total <= 0) fail("train_classifier: nothing to do (epochs ", opt.epochs, ", steps ", opt.steps, ")");

  AdamOptions adam;
  adam.weight_decay = opt.weight_decay;
  AdamW optimizer(model.named_parameters(), static_cast<float>(opt.lr), adam);
  LrSchedule schedule;
  schedule.kind = LrSchedule::Kind::Cosine;
  schedule.base_lr = opt.lr;
  schedule.warmup_steps = std::min(opt.warmup_steps, total - 1);
  schedule.total_steps = total;
  schedule.min_lr = opt.lr * 0.02;

  Generator gen(opt.seed);
  const std::vector<int32_t> all_labels = labels.to_ints();
  std::vector<int64_t> order;
  std::deque<double> recent;
  ProgressBar bar(progress, total, "classifier");
  model.train();
  for (int64_t step = 0; step < total; ++step) {
    throw_if_interrupted();  // Ctrl-C: `classifier train` saves nothing of a partial training
    const int64_t pos = step % per_epoch;
    if (pos == 0) order = rand_permutation(N, gen);
    std::vector<int64_t> idx(order.begin() + pos * opt.batch_size,
                             order.begin() + (pos + 1) * opt.batch_size);
    std::vector<int32_t> y(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) y[i] = all_labels[idx[i]];
    Tensor x = shifted_batch(images, idx, opt.max_shift, gen);

    optimizer.zero_grad();
    Var loss =
        ag::cross_entropy(model.logits(Var(x)), Tensor::from_ints(y, {static_cast<int64_t>(y.size())}));
    loss.backward();
    optimizer.lr = static_cast<float>(schedule.at(step));
    optimizer.step();

    recent.push_back(loss.value().item());
    if (recent.size() > 50) recent.pop_front();
    const double mean =
        std::accumulate(recent.begin(), recent.end(), 0.0) / static_cast<double>(recent.size());
    bar.update(step + 1, mean, str_cat("epoch ", step / per_epoch + 1));
  }
  bar.finish();
  model.eval();
  ClassifierTrainStats stats;
  stats.steps = total;
  stats.seconds = bar.elapsed_seconds();
  stats.final_loss = std::accumulate(recent.begin(), recent.end(), 0.0) / static_cast<double>(recent.size());
  return stats;
}

}  // namespace ld::nn
