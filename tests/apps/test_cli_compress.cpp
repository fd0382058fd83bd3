// `loradiff compress` and `compress-plot` end to end on the tiny config in a temporary folder
// (a generated MNIST, a base checkpoint): input compression with calibration, benchmark and
// fine-tuning -> JSON report -> the checkpoint samples with `loradiff sample`; SVD by energy
// without calibration; --method none fine-tunes a compressed checkpoint; the errors (rank too
// large for a layer, unknown layer pattern, conflicting or missing rank options).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "data/mnist.h"
#include "data/vocab.h"
#include "diffusion/model_io.h"
#include "nn/low_rank_layout.h"
#include "tensor/file_io.h"
#include "tests/apps/cli_run.h"
#include "tests/temp_dir.h"

namespace fs = std::filesystem;
using namespace ld;

namespace {

using Result = test::CliResult;
Result run(const std::string& args) { return test::run_cli(args); }

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

using ld::test::TempDir;

// Bars at a label-dependent column: an MNIST-shaped data set made in milliseconds.
data::Digits bar_digits(int64_t n) {
  data::Digits d;
  std::vector<uint8_t> img(784);
  for (int64_t i = 0; i < n; ++i) {
    std::fill(img.begin(), img.end(), 0);
    const int col = 4 + 2 * static_cast<int>(i % 10);
    for (int r = 5; r < 23; ++r)
      for (int c = col; c < col + 3; ++c) img[r * 28 + c] = 255;
    d.append(img.data(), static_cast<uint8_t>(i % 10));
  }
  return d;
}

}  // namespace

TEST_CASE("compress (input, svd, none), sample the result, plot; errors") {
  TempDir tmp("test-cli-compress");
  fs::create_directories(tmp.path / "mnist");
  data::save_mnist(tmp / "mnist", data::Split::Train, bar_digits(40));
  data::save_mnist(tmp / "mnist", data::Split::Test, bar_digits(10));
  const std::string base = tmp / "base.safetensors";
  diffusion::save_model(
      base, *diffusion::build_model(diffusion::load_config("mnist-t2i-tiny"), data::Vocabulary::builtin(), 3),
      data::Vocabulary::builtin());
  const std::string common = " --data " + (tmp / "mnist") + " --no-progress";

  // --- input compression, half the parameters of the default layers, benchmark, fine-tuning
  Result r = run(
      "compress --model " + base + " --method input --params 0.5 --calib-samples 16 --calib-batch 8" +
      " --heldout-samples 8 --finetune-steps 2 --batch 8 --bench-reps 1 --bench-batch 4" +
      " --bench-sample-steps 1 --out " + (tmp / "c.safetensors") + " --json " + (tmp / "c.json") + common);
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "calibration: inputs of 50 layers on 16 training digits"));
  CHECK(has(r.output, "unet.mid.attn.ff.fc1"));
  CHECK(has(r.output, "total: 50 of 50 layers low-rank (input, params 0.5): 59264 -> 29120 parameters"));
  CHECK(has(r.output, "held-out loss (1) after compression"));
  CHECK(has(r.output, "bench: 50 replaced layers at batch 4"));
  CHECK(has(r.output, "fine-tuned: 2 steps"));
  CHECK(has(r.output, "held-out loss (1) after fine-tuning"));
  const auto j = nlohmann::json::parse(read_file(tmp / "c.json"));
  CHECK(j["method"] == "input");
  CHECK(j["compression"]["layers_replaced"] == 50);
  CHECK(j["compression"]["params_before"] == 59264);
  CHECK(j["compression"]["params_after"] == 29120);
  CHECK(j["compression"]["layers"].size() == 50);
  CHECK(j["compression"]["mean_output_error"].is_number());
  CHECK(j["heldout_loss"]["input"].is_number());
  CHECK(j["heldout_loss"]["compressed"].is_number());
  CHECK(j["heldout_loss"]["finetuned"].is_number());
  CHECK(j["finetune"]["steps"] == 2);
  CHECK(j["bench"]["train_step"]["dense_ms"].is_number());
  CHECK(j["bench"]["layers_forward_backward"]["low_rank_ms"].is_number());
  CHECK(j["low_rank_layers"] == 50);
  CHECK(j["model_params_after"] == j["model_params_before"].get<int64_t>() - (59264 - 29120));
  // centring is the default: the report says where each layer's mean shift went
  CHECK(j["centring"] == true);
  CHECK(has(r.output, "centred (mean shift -> softmax)"));
  CHECK(has(r.output, "centred (mean shift -> to_out bias)"));
  CHECK(has(r.output, "centred (mean shift -> own bias)"));
  for (const auto& l : j["compression"]["layers"])
    if (l["name"] == "unet.mid.attn.cross_attn.to_k") CHECK(l["centring"] == "softmax");

  // --- --no-centring: the plain second moment in every layer
  r = run("compress --model " + base + " --method input --no-centring --params 0.5 --calib-samples 16" +
          " --calib-batch 8 --heldout-samples 0 --out " + (tmp / "p.safetensors") + " --json " +
          (tmp / "p.json") + common);
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK_FALSE(has(r.output, "centred"));
  const auto jp = nlohmann::json::parse(read_file(tmp / "p.json"));
  CHECK(jp["centring"] == false);
  for (const auto& l : jp["compression"]["layers"]) CHECK(l["centring"] == "");
  CHECK(jp["compression"]["mean_output_error"].get<double>() >=
        j["compression"]["mean_output_error"].get<double>());

  // --- it loads and samples like any checkpoint
  diffusion::LoadedModel lm = diffusion::load_model(tmp / "c.safetensors");
  CHECK(nn::low_rank_layout(*lm.model).size() == 50);
  r = run("sample --model " + (tmp / "c.safetensors") +
          " --prompt \"a handwritten digit seven\" --n 2 --steps 2 --out " + (tmp / "c.png"));
  INFO(r.output);
  CHECK(r.rc == 0);
  CHECK(fs::exists(tmp.path / "c.png"));
  // LoRA attaches to dense layers only: the compressed layers are named as such
  REQUIRE(
      run("data export-mnist --digit 3 --n 4 --data " + (tmp / "mnist") + " --out " + (tmp / "threes")).rc ==
      0);
  r = run("lora train --base " + (tmp / "c.safetensors") + " --data " + (tmp / "threes") + " --out " +
          (tmp / "l.safetensors") + " --batch 2 --steps 1 --no-progress");
  CHECK(r.rc != 0);
  CHECK(r.output.find("a LowRankLinear of a model compressed by `loradiff compress`") != std::string::npos);

  // --- plain SVD by energy, no calibration (so no output errors), extended layer set
  r = run("compress --model " + base + " --method svd --energy 0.6 --calib-samples 0 --heldout-samples 0" +
          " --layers extended --out " + (tmp / "s.safetensors") + common);
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "unet.down1.attn.proj_in"));
  CHECK(has(r.output, "Conv2d 1x1"));
  CHECK(has(r.output, "unet.mid.res1.time_proj"));
  CHECK_FALSE(has(r.output, "calibration:"));
  CHECK(has(r.output, "(svd, energy 0.6)"));

  // --- --method none fine-tunes the compressed checkpoint as it is
  r = run("compress --model " + (tmp / "c.safetensors") + " --method none --finetune-steps 1 --batch 4" +
          " --heldout-samples 4 --finetune-low-rank-only --out " + (tmp / "c2.safetensors") + common);
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "50 low-rank layers"));
  CHECK(has(r.output, "low-rank layers only"));
  CHECK(nn::low_rank_layout(*diffusion::load_model(tmp / "c2.safetensors").model).size() == 50);

  // --- --method none without fine-tuning: a report of the model as it is, nothing written
  r = run("compress --model " + base + " --method none --heldout-samples 4 --json " + (tmp / "d.json") +
          common);
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "held-out loss (1) of the input model"));
  CHECK(nlohmann::json::parse(read_file(tmp / "d.json"))["heldout_loss"]["input"].is_number());

  // --- plot: one series per "series" value
  write_file_atomic(tmp / "r.jsonl",
                    "{\"series\": \"svd\", \"params\": 100, \"accuracy\": 0.5}\n"
                    "{\"series\": \"svd\", \"params\": 200, \"accuracy\": 0.7}\n"
                    "{\"series\": \"input\", \"params\": 100, \"accuracy\": 0.6}\n"
                    "{\"series\": \"input\", \"params\": 150}\n");
  r = run("compress-plot --results " + (tmp / "r.jsonl") + " --x params --y accuracy --out " +
          (tmp / "p.png"));
  INFO(r.output);
  CHECK(r.rc == 0);
  CHECK(has(r.output, "3 points in 2 series"));
  CHECK(fs::exists(tmp.path / "p.png"));
  // --order: the key that orders each line (x by default); a point without it is refused, naming the line
  r = run("compress-plot --results " + (tmp / "r.jsonl") + " --x params --y accuracy --order params --out " +
          (tmp / "p2.png"));
  CHECK(r.rc == 0);
  CHECK(read_file(tmp / "p2.png") == read_file(tmp / "p.png"));
  r = run("compress-plot --results " + (tmp / "r.jsonl") +
          " --x params --y accuracy --order guidance --out " + (tmp / "p3.png"));
  CHECK(r.rc == 1);
  CHECK(has(r.output, "line 1: no number under the --order key 'guidance'"));
  CHECK(!fs::exists(tmp.path / "p3.png"));

  // --- errors: nothing is written
  const std::string out = " --out " + (tmp / "bad.safetensors") + common;
  r = run("compress --model " + base + " --rank 8" + out);
  CHECK(r.rc == 1);
  CHECK(has(r.output,
            "--rank 8: layer unet.down1.attn.self_attn.to_q (16 -> 16, 256 weights) allows at most rank 7"));
  CHECK_FALSE(has(r.output, "calibration:"));  // checked before any work
  r = run("compress --model " + base + " --rank 2 --layers to_q,ff.fc9" + out);
  CHECK(r.rc == 1);
  CHECK(has(r.output, "--layers: pattern 'ff.fc9' matches no dense (Linear or Conv2d) layer"));
  r = run("compress --model " + base + " --rank 2 --energy 0.5" + out);
  CHECK(r.rc != 0);
  CHECK(has(r.output, "excludes"));
  r = run("compress --model " + base + out);
  CHECK(r.rc == 1);
  CHECK(has(r.output, "choose exactly one of --rank r, --energy e, --params f"));
  r = run("compress --model " + base + " --method input --rank 2 --calib-samples 0" + out);
  CHECK(r.rc == 1);
  CHECK(has(r.output, "--method input needs calibration data"));
  r = run("compress --model " + base + " --method svd --rank 2" + common);
  CHECK(r.rc == 1);
  CHECK(has(r.output, "--out: the output checkpoint is required"));
  CHECK_FALSE(fs::exists(tmp.path / "bad.safetensors"));
}
