// tests/repo/test_pretrained_models.cpp: the checkpoints committed in models/ (models/README.md)
// are the files their SHA-256 list names, and they work: each text-to-image model loads, samples
// the prompted digits (Eq. (2)'s reverse process, DDIM, classifier-free guidance) and the committed
// classifier reads most of them as the prompted digit. A short check, not the measurement: the
// measured prompt accuracies (1,000 images, 50 steps) are in models/README.md and docs/results.md.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "data/sha256.h"
#include "data/tokenizer.h"
#include "diffusion/model_io.h"
#include "diffusion/sampler.h"
#include "nn/classifier.h"

namespace fs = std::filesystem;
using namespace ld;

namespace {

const fs::path kModels = fs::path(LORADIFF_SOURCE_DIR) / "models";

std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "cannot read ", p.string());
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// models/SHA256SUMS in `sha256sum` format: "<64 hex>  <file name>" per line.
std::map<std::string, std::string> listed_hashes() {
  std::map<std::string, std::string> out;
  std::istringstream in(read_bytes(kModels / "SHA256SUMS"));
  std::string hash, name;
  while (in >> hash >> name) out[name] = hash;
  return out;
}

const char* const kWords[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};

// Samples "a handwritten digit <d>" for d = 0 .. n_digits-1 (`per_digit` images each, DDIM `steps`)
// and returns how many the classifier reads as d.
int64_t digits_read_back(const std::string& model_file, int n_digits, int per_digit, int steps) {
  diffusion::LoadedModel lm = diffusion::load_model((kModels / model_file).string());
  auto classifier = nn::load_classifier((kModels / "classifier.safetensors").string());
  std::vector<std::string> captions;
  for (int d = 0; d < n_digits; ++d)
    for (int i = 0; i < per_digit; ++i) captions.push_back(std::string("a handwritten digit ") + kWords[d]);
  const data::TokenBatch tb = data::tokenize_batch(lm.vocab, captions);
  CHECK(tb.warnings.empty());
  const diffusion::ModelConfig& c = lm.model->config;
  const auto s = diffusion::NoiseSchedule::make(c.beta_schedule, c.timesteps, c.beta_start, c.beta_end);
  diffusion::SampleOptions so;
  so.steps = steps;
  so.guidance = 3.0f;
  so.seed = 1;
  const Tensor images = diffusion::sample(*lm.model, s, tb.ids, so);
  const int64_t n = static_cast<int64_t>(captions.size());
  REQUIRE(images.shape() == std::vector<int64_t>{n, 1, 28, 28});
  const Tensor predicted = nn::classifier_predict(*classifier, images);
  int64_t right = 0;
  for (int64_t i = 0; i < n; ++i) right += predicted.i32()[i] == i / per_digit;
  MESSAGE(model_file, ": ", right, " of ", n, " digits read back");
  return right;
}

}  // namespace

TEST_CASE("every committed checkpoint is listed in models/SHA256SUMS with its hash") {
  const auto hashes = listed_hashes();
  REQUIRE(hashes.size() == 3);
  for (const char* name : {"mnist-t2i.safetensors", "mnist-t2i-small-no9.safetensors", "classifier.safetensors"})
    CHECK_MESSAGE(hashes.count(name) == 1, name, " is not in models/SHA256SUMS");
  for (const auto& [name, hash] : hashes) {
    CAPTURE(name);
    CHECK(data::sha256_hex(read_bytes(kModels / name)) == hash);
  }
  for (const auto& e : fs::directory_iterator(kModels))
    if (e.path().extension() == ".safetensors")
      CHECK_MESSAGE(hashes.count(e.path().filename().string()) == 1, e.path().filename().string(),
                    " is committed but not listed in models/SHA256SUMS");
}

TEST_CASE("the reference mnist-t2i draws the prompted digits") {
  CHECK(digits_read_back("mnist-t2i.safetensors", 10, 1, 20) >= 9);  // chance: 1 of 10
}

TEST_CASE("the base without nines draws the digits it was trained on") {
  diffusion::LoadedModel lm = diffusion::load_model((kModels / "mnist-t2i-small-no9.safetensors").string());
  CHECK(lm.model->config.channels == std::vector<int64_t>{16, 32, 64});  // the mnist-t2i-small layout
  // its measured prompt accuracy on digits 0-8 is in models/README.md; 18 images at 50 steps here
  CHECK(digits_read_back("mnist-t2i-small-no9.safetensors", 9, 2, 50) >= 12);  // chance: 2 of 18
}
