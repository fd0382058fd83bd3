// nn/classifier_train.h: training the MNIST classifier (the project's first trained model).
//
// Minibatch training of cross-entropy(logits, label) with AdamW, a linear warm-up and
// cosine decay of the learning rate. Each epoch visits the training images in a new
// random order (Philox, seeded); each image is shifted by up to max_shift pixels in x
// and y (background filled with -1), a cheap augmentation that helps a small data set.
#pragma once
#include <ostream>

#include "nn/classifier.h"

namespace ld::nn {

struct ClassifierTrainOptions {
  int64_t epochs = 15;
  int64_t steps = 0;  // > 0: train this many steps instead of `epochs` epochs
  int64_t batch_size = 64;
  double lr = 3e-3;
  double weight_decay = 1e-4;
  int64_t warmup_steps = 100;
  int64_t max_shift = 2;
  uint64_t seed = 0;
};

struct ClassifierTrainStats {
  int64_t steps = 0;
  double seconds = 0;
  double final_loss = 0;  // mean training loss over the last 50 steps
};

// images F32 (N, 1, 28, 28) in [-1, 1], labels I32 (N) in 0..9. Progress goes to `progress`
// (a ProgressBar line), nothing when null. Leaves the model in eval mode. Throws ld::Interrupted
// at the next step once Ctrl-C was pressed (tensor/interrupt.h).
ClassifierTrainStats train_classifier(MnistClassifier& model, const Tensor& images, const Tensor& labels,
                                      const ClassifierTrainOptions& options,
                                      std::ostream* progress = nullptr);

// Batch of images `idx` from `images`, each shifted by (dy, dx) drawn from [-max_shift, max_shift].
Tensor shifted_batch(const Tensor& images, const std::vector<int64_t>& idx, int64_t max_shift,
                     Generator& gen);

}  // namespace ld::nn
