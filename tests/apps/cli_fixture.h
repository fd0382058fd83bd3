// tests/apps/cli_fixture.h: the tiny inputs the CLI tests feed the binary, made with loradiff's own
// writers: an MNIST folder of bars, tiny-config checkpoints with an adapter, a classifier, and an image +
// caption folder. One builder, so every CLI test means the same thing by "{model}" or "{images}".
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "data/image.h"
#include "data/mnist.h"
#include "data/png.h"
#include "diffusion/model_io.h"
#include "lora/adapter_file.h"
#include "lora/attach.h"
#include "nn/classifier.h"
#include "tensor/file_io.h"
#include "tensor/random.h"

namespace ld::test {

// <dir>/mnist: 40 digits in each split, a vertical bar at a label-dependent column.
inline void write_bar_mnist(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir / "mnist");
  data::Digits digits;
  std::vector<uint8_t> img(784);
  for (int i = 0; i < 40; ++i) {
    std::fill(img.begin(), img.end(), 0);
    for (int r = 5; r < 23; ++r) img[r * 28 + 4 + 2 * (i % 10)] = 255;
    digits.append(img.data(), static_cast<uint8_t>(i % 10));
  }
  data::save_mnist((dir / "mnist").string(), data::Split::Train, digits);
  data::save_mnist((dir / "mnist").string(), data::Split::Test, digits);
}

// <dir>/images: 4 image + caption pairs, "a handwritten digit seven".
inline void write_seven_folder(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir / "images");
  for (int i = 0; i < 4; ++i) {
    const std::string stem = (dir / "images" / ("seven" + std::to_string(i))).string();
    data::write_png(stem + ".png",
                    data::GrayImage{28, 28, std::vector<uint8_t>(784, static_cast<uint8_t>(40 * i))});
    write_file_atomic(stem + ".txt", "a handwritten digit seven");
  }
}

// <dir>/model.safetensors and model2.safetensors (mnist-t2i-tiny, seeds 0 and 1), adapter.safetensors
// (rank 2, for the first) and classifier.safetensors.
inline void write_tiny_models(const std::filesystem::path& dir) {
  const data::Vocabulary& vocab = data::Vocabulary::builtin();
  auto model = diffusion::build_model(diffusion::load_config("mnist-t2i-tiny"), vocab, 0);
  diffusion::save_model((dir / "model.safetensors").string(), *model, vocab);
  diffusion::save_model((dir / "model2.safetensors").string(),
                        *diffusion::build_model(diffusion::load_config("mnist-t2i-tiny"), vocab, 1), vocab);
  const std::string base_hash = diffusion::weights_hash(model->state_dict());
  lora::LoRAConfig lc;
  lc.rank = 2;
  lora::attach_lora(*model, lc, "lora");
  lora::Adapter adapter = lora::adapter_from_model(*model, "lora");
  adapter.targets = lc.targets;
  adapter.base_config = model->config.to_json().dump();
  adapter.base_weights_hash = base_hash;
  lora::save_adapter((dir / "adapter.safetensors").string(), adapter);
  Generator gen(0);
  nn::save_classifier((dir / "classifier.safetensors").string(),
                      nn::MnistClassifier(nn::ClassifierConfig{}, gen));
}

}  // namespace ld::test
