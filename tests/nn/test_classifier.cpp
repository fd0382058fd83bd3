// Tests of nn/classifier and nn/classifier_train: shapes, save / load, and an end-to-end
// run that trains on generated "digits" (ten bar patterns) and must beat chance by far.
#include <doctest/doctest.h>

#include <filesystem>

#include "nn/checkpoint.h"
#include "nn/classifier_train.h"

using namespace ld;
using namespace ld::nn;

namespace {

// Class k < 5: a horizontal bar at row 3 + 5k; k >= 5: a vertical bar at column 3 + 5(k-5).
// Each image is jittered by up to 2 pixels and carries noise; background -1, ink +1.
void synthetic_digits(int64_t n, uint64_t seed, Tensor& images, Tensor& labels) {
  Generator gen(seed);
  images = Tensor::full({n, 1, 28, 28}, -1.0f);
  std::vector<int32_t> y(n);
  float* p = images.f32();
  for (int64_t i = 0; i < n; ++i) {
    const int k = static_cast<int>(gen.next_int(10));
    y[i] = k;
    const int64_t jitter = gen.next_int(5) - 2, along = gen.next_int(5) - 2;
    const int64_t line = 3 + 5 * (k % 5) + jitter;
    for (int64_t t = 6 + along; t < 22 + along; ++t)
      for (int64_t w = 0; w < 2; ++w) {
        const int64_t r = k < 5 ? line + w : t, c = k < 5 ? t : line + w;
        p[i * 784 + r * 28 + c] = 1.0f;
      }
    for (int64_t j = 0; j < 784; ++j) p[i * 784 + j] += 0.3f * (gen.next_uniform() - 0.5f);
  }
  labels = Tensor::from_ints(y, {n});
}

ClassifierConfig small_config() {
  ClassifierConfig c;
  c.c1 = 4, c.c2 = 8, c.hidden = 32, c.dropout = 0.1;
  return c;
}

}  // namespace

TEST_CASE("features and logits shapes; parameter names") {
  Generator gen(1);
  MnistClassifier m(small_config(), gen);
  Tensor x = rand_normal({3, 1, 28, 28}, gen);
  CHECK(classifier_features(m, x).shape() == Shape{3, 32});
  CHECK(classifier_logits(m, x, 2).shape() == Shape{3, 10});  // two batches, joined
  CHECK(classifier_predict(m, x).dtype() == DType::I32);
  std::vector<std::string> names;
  for (auto& [n, _] : m.named_parameters()) names.push_back(n);
  CHECK(names.front() == "conv1.weight");
  CHECK(names.back() == "fc2.bias");
  CHECK(m.parameter("fc1.weight").shape() == Shape{32, 8 * 49});
  CHECK_THROWS_WITH_AS(m.logits(Var(Tensor::zeros({1, 1, 14, 14}))), doctest::Contains("(B, 1, 28, 28)"),
                       Error);
}

TEST_CASE("trained on generated digits, the classifier beats chance by far; saved and loaded it agrees") {
  Tensor train_x, train_y, test_x, test_y;
  synthetic_digits(640, 1, train_x, train_y);
  synthetic_digits(200, 2, test_x, test_y);
  Generator gen(3);
  MnistClassifier m(small_config(), gen);
  const double before = classifier_accuracy(m, test_x, test_y);
  ClassifierTrainOptions opt;
  opt.steps = 120;
  opt.batch_size = 32;
  opt.lr = 3e-3;
  opt.warmup_steps = 10;
  opt.max_shift = 1;
  ClassifierTrainStats stats = train_classifier(m, train_x, train_y, opt);
  CHECK(stats.steps == 120);
  const double after = classifier_accuracy(m, test_x, test_y);
  MESSAGE("accuracy before ", before, ", after ", after, ", loss ", stats.final_loss);
  CHECK(after > 0.8);  // chance is 0.1
  CHECK(stats.final_loss < 1.0);
  CHECK_FALSE(m.is_training());

  const auto path = std::filesystem::temp_directory_path() /
                    ("loradiff_classifier_" + std::to_string(::getpid()) + ".safetensors");
  save_classifier(path.string(), m, {{"test_accuracy", std::to_string(after)}});
  Metadata meta;
  auto loaded = load_classifier(path.string(), &meta);
  CHECK(meta.at("format") == "loradiff-classifier");
  CHECK(meta.count("test_accuracy"));
  CHECK(loaded->config.hidden == 32);
  CHECK(classifier_logits(*loaded, test_x).to_vector() == classifier_logits(m, test_x).to_vector());
  CHECK(classifier_features(*loaded, test_x).to_vector() == classifier_features(m, test_x).to_vector());

  // a checkpoint that is not a classifier is refused with the reason
  save_checkpoint(path.string(), m, {{"format", "loradiff"}});
  CHECK_THROWS_WITH_AS(load_classifier(path.string()), doctest::Contains("not a loradiff classifier"), Error);
  std::filesystem::remove(path);
}

TEST_CASE("training is reproducible from the seed") {
  Tensor x, y;
  synthetic_digits(128, 4, x, y);
  ClassifierTrainOptions opt;
  opt.steps = 5;
  opt.batch_size = 16;
  std::vector<float> w[2];
  for (int run = 0; run < 2; ++run) {
    Generator gen(5);
    MnistClassifier m(small_config(), gen);
    train_classifier(m, x, y, opt);
    w[run] = m.parameter("fc2.weight").value().to_vector();
  }
  CHECK(w[0] == w[1]);
}

TEST_CASE("shifted_batch moves the image and fills with background") {
  Tensor img = Tensor::full({1, 1, 28, 28}, -1.0f);
  img.f32()[10 * 28 + 10] = 1.0f;
  Generator gen(6);
  Tensor b = shifted_batch(img, {0, 0, 0, 0}, 2, gen);
  for (int64_t i = 0; i < 4; ++i) {
    int ink = 0;
    for (int64_t j = 0; j < 784; ++j) ink += b.f32()[i * 784 + j] > 0;
    CHECK(ink == 1);
  }
  CHECK(shifted_batch(img, {0}, 0, gen).to_vector() == img.to_vector());
}
