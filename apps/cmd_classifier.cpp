// `loradiff classifier train|eval`: the MNIST classifier (nn/classifier.h), the
// judge that `loradiff eval` later uses on generated digits.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "apps/commands.h"
#include "data/mnist.h"
#include "nn/classifier_train.h"
#include "nn/progress.h"
#include "tensor/error.h"
#include "tensor/path_guard.h"
#include "tensor/interrupt.h"

namespace ld::app {

namespace {

struct ClassifierArgs {
  std::string data = "data/mnist", out = "runs/classifier.safetensors", model = "runs/classifier.safetensors";
  std::string split = "test";
  bool overwrite = false;
  nn::ClassifierTrainOptions train;
  nn::ClassifierConfig config;
};

// Digits -> images F32 (N, 1, 28, 28) in [-1, 1] (reference-model.md) and labels I32 (N).
std::pair<Tensor, Tensor> to_tensors(const data::Digits& d) {
  Tensor images = Tensor::empty({d.count(), 1, d.rows, d.cols});
  float* p = images.f32();
  for (size_t i = 0; i < d.pixels.size(); ++i) p[i] = static_cast<float>(d.pixels[i]) / 127.5f - 1.0f;
  std::vector<int32_t> labels(d.labels.begin(), d.labels.end());
  return {images, Tensor::from_ints(labels, {d.count()})};
}

int train(const ClassifierArgs& a) {
  // Checked before the epochs of training, not when the result is saved. The default --out's folder
  // (runs/) is created when missing.
  check_outputs_distinct({{"--data", a.data}}, {{"--out", a.out}});
  if (!a.out.empty()) {
    const auto parent = std::filesystem::path(a.out).parent_path();
    if (!parent.empty() && !std::filesystem::exists(parent)) std::filesystem::create_directories(parent);
  }
  check_output_file({"--out", a.out}, FileKind::Classifier, a.overwrite);
  const auto [train_x, train_y] = to_tensors(data::load_mnist(a.data, data::Split::Train));
  const auto [test_x, test_y] = to_tensors(data::load_mnist(a.data, data::Split::Test));
  Generator gen(a.train.seed);
  nn::MnistClassifier model(a.config, gen);
  std::cout << "classifier: " << model.num_parameters() << " parameters, " << train_x.size(0)
            << " training and " << test_x.size(0) << " test digits from " << a.data << "\n";
  nn::ClassifierTrainStats stats = nn::train_classifier(model, train_x, train_y, a.train, &std::cerr);
  const double test_acc = nn::classifier_accuracy(model, test_x, test_y);
  const double train_acc = nn::classifier_accuracy(model, train_x, train_y);
  if (!a.out.empty()) {
    const auto parent = std::filesystem::path(a.out).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    nn::save_classifier(a.out, model,
                        {{"test_accuracy", str_cat(test_acc)},
                         {"train_accuracy", str_cat(train_acc)},
                         {"steps", str_cat(stats.steps)},
                         {"seed", str_cat(a.train.seed)},
                         {"data", a.data}});
  }
  std::cout << "trained " << stats.steps << " steps in " << nn::ProgressBar::format_duration(stats.seconds)
            << " (" << stats.seconds << " s), final loss " << stats.final_loss << "\n"
            << "train accuracy " << train_acc * 100 << " %, test accuracy " << test_acc * 100 << " % ("
            << test_x.size(0) << " digits)\n";
  if (!a.out.empty()) std::cout << "saved " << a.out << "\n";
  return 0;
}

int evaluate(const ClassifierArgs& a) {
  nn::Metadata meta;
  auto model = nn::load_classifier(a.model, &meta);
  const auto [x, y] = to_tensors(data::load_mnist(a.data, data::parse_split(a.split)));
  const double acc = nn::classifier_accuracy(*model, x, y);
  std::cout << a.split << " accuracy " << acc * 100 << " % (" << x.size(0) << " digits) with " << a.model
            << "\n";
  return 0;
}

}  // namespace

void register_classifier(CLI::App& app, Runner& run) {
  auto* cmd = app.add_subcommand("classifier", "the MNIST digit classifier (the judge of generated digits)");
  cmd->require_subcommand(1);
  auto a = std::make_shared<ClassifierArgs>();

  auto* tr = cmd->add_subcommand("train", "train the classifier on the train split, report test accuracy");
  tr->add_option("--data", a->data, "MNIST folder (loradiff data fetch-mnist)")->capture_default_str();
  tr->add_option("--out", a->out, "where to save it (safetensors)")->capture_default_str();
  tr->add_option("--epochs", a->train.epochs, "passes over the training digits")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  tr->add_option("--steps", a->train.steps, "train this many steps instead (0: use --epochs)")
      ->check(CLI::Range(0, 10000000));
  tr->add_option("--batch-size", a->train.batch_size, "digits per step")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  tr->add_option("--lr", a->train.lr, "peak learning rate (AdamW, warm-up then cosine)")
      ->capture_default_str()
      ->check([](const std::string& text) {  // CLI::PositiveNumber lets NaN through
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        return *end == '\0' && v > 0 && std::isfinite(v) ? std::string()
                                                         : "'" + text + "' must be a positive number";
      });
  tr->add_option("--max-shift", a->train.max_shift, "random shift augmentation, pixels")
      ->capture_default_str()
      ->check(CLI::Range(0, 8));
  tr->add_option("--seed", a->train.seed, "initialisation, order and augmentation")->capture_default_str();
  tr->add_option("--c1", a->config.c1, "channels of conv1, conv2")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  tr->add_option("--c2", a->config.c2, "channels of conv3, conv4")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  tr->add_option("--hidden", a->config.hidden, "size of the feature layer")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  tr->add_flag("--overwrite", a->overwrite, "replace --out even when it holds another kind of file");
  tr->callback([&run, a] {
    run = [a] {
      install_interrupt_handler();  // Ctrl-C: stop between steps, write nothing
      return train(*a);
    };
  });

  auto* ev = cmd->add_subcommand("eval", "accuracy of a saved classifier on one split");
  ev->add_option("--model", a->model, "classifier file")->capture_default_str();
  ev->add_option("--data", a->data, "MNIST folder")->capture_default_str();
  ev->add_option("--split", a->split, "train or test")->capture_default_str();
  ev->callback([&run, a] { run = [a] { return evaluate(*a); }; });
}

}  // namespace ld::app
