// `loradiff classifier train|eval` end to end on a tiny generated MNIST folder:
// the command trains, prints its progress and accuracy, saves a classifier file that
// nn::load_classifier reads, and `classifier eval` reports the same test accuracy.
#include <doctest/doctest.h>

#include "tests/apps/cli_run.h"
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "data/mnist.h"
#include "nn/classifier.h"

namespace fs = std::filesystem;

namespace {

using Result = ld::test::CliResult;
inline Result run(const std::string& args) { return ld::test::run_cli(args); }

// Digit k: a bar, horizontal (k < 5) at row 4 + 5k or vertical at column 4 + 5(k - 5), jittered by i.
ld::data::Digits bars(int n, int salt) {
  ld::data::Digits d;
  for (int i = 0; i < n; ++i) {
    const int k = (i * 7 + salt) % 10, jitter = (i / 10 + salt) % 3 - 1, line = 4 + 5 * (k % 5) + jitter;
    std::vector<uint8_t> img(784, 0);
    for (int t = 6; t < 22; ++t)
      for (int w = 0; w < 2; ++w) img[k < 5 ? (line + w) * 28 + t : t * 28 + line + w] = 255;
    d.append(img.data(), static_cast<uint8_t>(k));
  }
  return d;
}

}  // namespace

TEST_CASE("classifier train then eval on a tiny generated MNIST folder") {
  const fs::path dir =
      fs::temp_directory_path() / ("loradiff-test-cli-classifier-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "mnist");
  ld::data::save_mnist((dir / "mnist").string(), ld::data::Split::Train, bars(320, 0));
  ld::data::save_mnist((dir / "mnist").string(), ld::data::Split::Test, bars(100, 1));
  const std::string model = (dir / "runs" / "classifier.safetensors").string();

  Result r = run("classifier train --data " + (dir / "mnist").string() + " --out " + model +
                 " --steps 60 --batch-size 32 --c1 4 --c2 8 --hidden 16 --seed 1");
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(r.output.find("60/60") != std::string::npos);  // the progress bar reached the end
  CHECK(r.output.find("it/s") != std::string::npos);
  CHECK(r.output.find("ETA") != std::string::npos);
  const size_t at = r.output.find("test accuracy ");
  REQUIRE(at != std::string::npos);
  const double acc = std::stod(r.output.substr(at + 14));
  CHECK(acc > 50.0);  // percent; chance is 10

  ld::nn::Metadata meta;
  auto m = ld::nn::load_classifier(model, &meta);
  CHECK(m->config.hidden == 16);
  CHECK(std::stod(meta.at("test_accuracy")) * 100 == doctest::Approx(acc).epsilon(1e-3));

  Result e = run("classifier eval --model " + model + " --data " + (dir / "mnist").string());
  INFO(e.output);
  CHECK(e.rc == 0);
  CHECK(e.output.find("test accuracy") != std::string::npos);

  Result bad = run("classifier eval --model " + (dir / "nope.safetensors").string());
  CHECK(bad.rc == 1);
  CHECK(bad.output.find("nope.safetensors") != std::string::npos);
  fs::remove_all(dir);
}
