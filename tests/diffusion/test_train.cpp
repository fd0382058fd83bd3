// `train` end to end on a tiny generated MNIST: the loss falls, checkpoints load,
// an interrupted and resumed run ends bit-identical to an uninterrupted one, and
// bad options fail clearly without touching an existing run.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "data/mnist.h"
#include "diffusion/model_io.h"
#include "diffusion/trainer.h"
#include "diffusion/training_log.h"
#include "nn/safetensors.h"
#include "tests/temp_dir.h"

using namespace ld;
using namespace ld::diffusion;
namespace fs = std::filesystem;

// Bars at a label-dependent position: enough structure for the loss to fall.
static data::Digits synthetic_digits(int64_t n, uint64_t seed) {
  data::Digits d;
  Generator g(seed);
  std::vector<uint8_t> img(784);
  for (int64_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 10);
    std::fill(img.begin(), img.end(), 0);
    const int col = 4 + 2 * label + static_cast<int>(g.next_int(3));
    for (int r = 5; r < 23; ++r)
      for (int c = col; c < col + 3; ++c) img[r * 28 + c] = 255;
    d.append(img.data(), static_cast<uint8_t>(label));
  }
  return d;
}

static void write_mnist(const fs::path& dir, int64_t n_train, int64_t n_test, uint64_t seed) {
  fs::create_directories(dir);
  data::save_mnist(dir.string(), data::Split::Train, synthetic_digits(n_train, seed));
  data::save_mnist(dir.string(), data::Split::Test, synthetic_digits(n_test, seed + 1));
}

using ld::test::TempDir;

static TrainOptions tiny_options(const fs::path& data, const fs::path& out) {
  TrainOptions o;
  o.config = "mnist-t2i-tiny";
  o.data_dir = data.string();
  o.out_dir = out.string();
  o.batch = 8;
  o.lr = 2e-3;
  o.warmup = 2;
  o.steps = 6;
  o.log_every = 1;
  o.checkpoint_every = 3;
  o.sample_every = 0;
  o.eval_every = 3;
  o.eval_batches = 1;
  o.progress = false;
  return o;
}

TEST_CASE("train, interrupt, resume: bit-identical to an uninterrupted run") {
  TempDir tmp("train");
  write_mnist(tmp.path / "mnist", 40, 10, 1);
  std::ostringstream log;

  TrainOptions full = tiny_options(tmp.path / "mnist", tmp.path / "full");
  TrainResult r = train(full, log);
  CHECK(r.end_step == 6);
  CHECK(fs::exists(tmp.path / "full" / "model.safetensors"));
  CHECK(fs::exists(tmp.path / "full" / "loss.csv"));
  CHECK(fs::exists(tmp.path / "full" / "loss.png"));

  TrainOptions part = tiny_options(tmp.path / "mnist", tmp.path / "part");
  part.steps = 3;  // "interrupted" after the step-3 checkpoint
  train(part, log);
  part.steps = 6;
  // without --resume an existing run is refused, and left as it was
  CHECK_THROWS_WITH_AS(train(part, log), doctest::Contains("pass --resume"), Error);
  part.resume = true;
  TrainResult r2 = train(part, log);
  CHECK(r2.start_step == 3);
  CHECK(r2.end_step == 6);

  auto a = nn::load_safetensors((tmp.path / "full" / "train_state.safetensors").string());
  auto b = nn::load_safetensors((tmp.path / "part" / "train_state.safetensors").string());
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (auto& [name, t] : a.tensors) {
    INFO(name);
    CHECK(t.to_vector() == b.tensors.at(name).to_vector());  // weights, EMA, AdamW moments: bit for bit
  }
  CHECK(a.metadata.at("rng") == b.metadata.at("rng"));
  CHECK(a.metadata.at("loader") == b.metadata.at("loader"));

  // the sampling checkpoint is self-contained
  LoadedModel lm = load_model((tmp.path / "full" / "model.safetensors").string());
  CHECK(lm.model->config.name == "mnist-t2i-tiny");
  CHECK(lm.metadata.at("step") == "6");
}

TEST_CASE("a training state written before a config field existed (prediction_type) still resumes") {
  TempDir tmp("train-old-state");
  write_mnist(tmp.path / "mnist", 40, 10, 1);
  std::ostringstream log;
  TrainOptions o = tiny_options(tmp.path / "mnist", tmp.path / "run");
  o.steps = 3;
  train(o, log);
  // rewrite the state's config as the binaries before v-prediction wrote it: without the field
  const std::string state = (tmp.path / "run" / "train_state.safetensors").string();
  nn::SafeTensors st = nn::load_safetensors(state);
  nlohmann::json cfg = nlohmann::json::parse(st.metadata.at("config"));
  REQUIRE(cfg.contains("prediction_type"));
  cfg.erase("prediction_type");
  st.metadata["config"] = cfg.dump();
  nn::save_safetensors(state, st.tensors, st.metadata);
  o.steps = 6;
  o.resume = true;
  CHECK(train(o, log).end_step == 6);
  // a real difference is still refused
  o.steps = 8;
  cfg["prediction_type"] = "v_prediction";
  st = nn::load_safetensors(state);
  st.metadata["config"] = cfg.dump();
  nn::save_safetensors(state, st.tensors, st.metadata);
  CHECK_THROWS_WITH_AS(train(o, log), doctest::Contains("was trained with config"), Error);
  CHECK(same_config(nlohmann::json::parse("[1]"), load_config("mnist-t2i-tiny")) == false);
}

TEST_CASE("--prediction-type replaces the config's target, is kept in the checkpoint and checked on resume") {
  TempDir tmp("train-v");
  write_mnist(tmp.path / "mnist", 40, 10, 1);
  std::ostringstream log;
  TrainOptions o = tiny_options(tmp.path / "mnist", tmp.path / "run");
  o.steps = 3;
  o.prediction_type = "v_prediction";
  train(o, log);
  CHECK(load_model((tmp.path / "run" / "model.safetensors").string()).model->config.prediction_type ==
        "v_prediction");
  o.steps = 4;
  o.resume = true;
  o.prediction_type = "";  // the config's epsilon: another target than the run's
  CHECK_THROWS_WITH_AS(train(o, log), doctest::Contains("was trained with config"), Error);
  o.prediction_type = "v_prediction";
  CHECK(train(o, log).end_step == 4);
  o.prediction_type = "sample";
  CHECK_THROWS_WITH_AS(train(o, log), doctest::Contains("--prediction-type: 'sample' is not known"), Error);
}

TEST_CASE("the training loss falls on the tiny data") {
  TempDir tmp("train-falls");
  write_mnist(tmp.path / "mnist", 40, 10, 3);
  std::ostringstream log;
  TrainOptions o = tiny_options(tmp.path / "mnist", tmp.path / "run");
  o.steps = 40;
  o.checkpoint_every = 40;
  o.eval_every = 40;
  train(o, log);
  TrainingLog tl((tmp.path / "run" / "loss.csv").string());
  double first = 0, last = 0;
  int nf = 0, nl = 0;
  for (auto& row : tl.rows()) {
    if (!std::isfinite(row.loss)) continue;
    if (row.step <= 8) first += row.loss, ++nf;
    if (row.step > 32) last += row.loss, ++nl;
  }
  REQUIRE(nf > 0);
  REQUIRE(nl > 0);
  CHECK(last / nl < 0.85 * (first / nf));
}

TEST_CASE("bad options and a NaN loss fail clearly") {
  TempDir tmp("train-bad");
  write_mnist(tmp.path / "mnist", 20, 10, 5);
  std::ostringstream log;
  TrainOptions o = tiny_options(tmp.path / "mnist", tmp.path / "run");
  o.steps = -1;
  CHECK_THROWS_WITH_AS(train(o, log), doctest::Contains("--steps"), Error);
  o = tiny_options(tmp.path / "mnist", tmp.path / "run");
  o.batch = 100;
  CHECK_THROWS_WITH_AS(train(o, log), doctest::Contains("--batch"), Error);
  o = tiny_options(tmp.path / "nowhere", tmp.path / "run2");
  CHECK_THROWS_AS(train(o, log), Error);
  o = tiny_options(tmp.path / "mnist", tmp.path / "run3");
  o.config = "no-such-config";
  CHECK_THROWS_WITH_AS(train(o, log), doctest::Contains("--config"), Error);
  // an absurd learning rate: training stops with the step number, the last checkpoint stays
  o = tiny_options(tmp.path / "mnist", tmp.path / "nan");
  o.steps = 3;
  train(o, log);
  const std::string before =
      nn::load_safetensors((tmp.path / "nan" / "train_state.safetensors").string()).metadata.at("step");
  o.steps = 200;
  o.lr = 1e12;
  o.clip = 0;
  o.resume = true;
  o.checkpoint_every = 1000;
  CHECK_THROWS_WITH_AS(train(o, log), doctest::Contains("training stopped at step"), Error);
  CHECK(nn::load_safetensors((tmp.path / "nan" / "train_state.safetensors").string()).metadata.at("step") ==
        before);
}
