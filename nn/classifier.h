// nn/classifier.h: the MNIST digit classifier, a small CNN. It is the judge of the
// generated images later on (`loradiff eval`): logits() says which digit an image
// shows (prompt accuracy), features() gives the penultimate-layer embedding on
// which the Frechet distance between real and generated images is computed.
//
//   x (B, 1, 28, 28) in [-1, 1]
//   conv1 3x3 1 -> c1, ReLU                 28x28
//   conv2 3x3 stride 2 c1 -> c1, ReLU       14x14
//   conv3 3x3 c1 -> c2, ReLU                14x14
//   conv4 3x3 stride 2 c2 -> c2, ReLU       7x7
//   flatten, fc1 (c2*49 -> hidden), ReLU    = features (B, hidden)
//   dropout, fc2 (hidden -> 10)             = logits (B, 10)
#pragma once
#include <string>

#include "nn/conv2d.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/safetensors.h"

namespace ld::nn {

struct ClassifierConfig {
  int64_t c1 = 24, c2 = 48, hidden = 128;
  double dropout = 0.3;
  std::string to_json() const;
  static ClassifierConfig from_json(const std::string& text);  // fails naming the bad field
};

class MnistClassifier : public Module {
 public:
  MnistClassifier(const ClassifierConfig& config, Generator& gen);
  std::string type_name() const override { return "MnistClassifier"; }
  Var features(const Var& images);  // (B, hidden), after the ReLU of fc1
  Var logits(const Var& images);    // (B, 10)
  Var forward(const Var& images) override { return logits(images); }

  const ClassifierConfig config;
  std::shared_ptr<Conv2d> conv1, conv2, conv3, conv4;
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<Dropout> dropout;
};

// The file: the state dict plus metadata {format: loradiff-classifier, config: JSON, and `extra`}.
void save_classifier(const std::string& path, const MnistClassifier& model, const Metadata& extra = {});
// Builds the network the file's config describes, loads it strictly, sets eval mode.
std::shared_ptr<MnistClassifier> load_classifier(const std::string& path, Metadata* metadata = nullptr);

// Evaluation-mode helpers, batched, without a graph: images (N, 1, 28, 28) in [-1, 1].
Tensor classifier_features(MnistClassifier& model, const Tensor& images,
                           int64_t batch_size = 256);  // (N, hidden)
Tensor classifier_logits(MnistClassifier& model, const Tensor& images, int64_t batch_size = 256);   // (N, 10)
Tensor classifier_predict(MnistClassifier& model, const Tensor& images, int64_t batch_size = 256);  // I32 (N)
// Fraction of images whose predicted digit equals labels (I32 (N)).
double classifier_accuracy(MnistClassifier& model, const Tensor& images, const Tensor& labels,
                           int64_t batch_size = 256);

}  // namespace ld::nn
