// Colour (3-channel) models through every command that makes or changes a checkpoint or adapter:
// `train` a tiny shapes base, `lora train` (adapter and --full), `lora merge` (into the base and
// --out-lora), `lora extract`, `lora resize`, `compress` (svd without data; input + fine-tuning on the
// shapes folder). Each output loads and samples an RGB PNG.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "data/png.h"
#include "diffusion/model_io.h"
#include "tensor/file_io.h"
#include "tests/apps/cli_fixture.h"
#include "tests/apps/cli_run.h"
#include "tests/temp_dir.h"

namespace fs = std::filesystem;
using namespace ld;

namespace {

using Result = ld::test::CliResult;
Result run(const std::string& args) { return ld::test::run_cli(args); }
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// `sample` of the model (with `extra` options, e.g. --lora) writes a one-image grid whose IHDR colour
// type is RGB (2) or RGBA (6).
void check_samples_rgb(const ld::test::TempDir& tmp, const std::string& model, const std::string& extra,
                       const std::string& name) {
  const std::string out = tmp / (name + ".png");
  const Result r = run("sample --model " + model + " " + extra +
                       " --prompt \"a small red circle at the top left\" --n 1 --steps 2 --out " + out);
  INFO(name, "\n", r.output);
  REQUIRE(r.rc == 0);
  const std::string png = read_file(out);
  REQUIRE(png.size() > 26);
  const int colour_type = static_cast<uint8_t>(png[25]);
  CHECK((colour_type == 2 || colour_type == 6));
  const data::RgbImage img = data::decode_png_rgb(png, name);
  CHECK(img.width == 64);  // a grid of one 32x32 image, drawn at twice the size
  CHECK(img.height == 64);
}

}  // namespace

TEST_CASE("a colour model through train, lora train/merge/extract/resize and compress") {
  ld::test::TempDir tmp("cli-colour");
  Result r = run("data make-shapes --n 24 --seed 1 --out " + (tmp / "data"));
  REQUIRE(r.rc == 0);
  r = run("train --data " + (tmp / "data") +
          " --config shapes-t2i-tiny --vocab shapes --steps 2 --batch 4 --sample-every 0 --eval-every 0 "
          "--no-progress --out " +
          (tmp / "run"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  const std::string base = tmp / "run/model.safetensors";
  CHECK(diffusion::load_model(base).model->config.image_channels == 3);
  check_samples_rgb(tmp, base, "", "base");

  // two adapters
  const std::string a = tmp / "a.safetensors", b = tmp / "b.safetensors";
  for (const auto& [file, seed] : {std::pair{a, 1}, std::pair{b, 2}}) {
    r = run("lora train --base " + base + " --data " + (tmp / "data") + " --out " + file +
            " --rank 2 --steps 1 --batch 2 --seed " + std::to_string(seed) + " --no-progress");
    INFO(r.output);
    REQUIRE(r.rc == 0);
  }
  check_samples_rgb(tmp, base, "--lora " + a + ":0.8", "lora");

  // merge into the base: a checkpoint that is still colour
  r = run("lora merge --base " + base + " --lora " + a + ":1 --out " + (tmp / "merged.safetensors"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(diffusion::load_model(tmp / "merged.safetensors").model->config.image_channels == 3);
  check_samples_rgb(tmp, tmp / "merged.safetensors", "", "merged");

  // two adapters into one adapter, then a smaller one
  r = run("lora merge --out-lora " + (tmp / "ab.safetensors") + " " + a + ":0.5 " + b + ":0.5");
  INFO(r.output);
  REQUIRE(r.rc == 0);
  check_samples_rgb(tmp, base, "--lora " + (tmp / "ab.safetensors"), "ab");
  r = run("lora resize --in " + (tmp / "ab.safetensors") + " --rank 1 --out " + (tmp / "ab1.safetensors"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  check_samples_rgb(tmp, base, "--lora " + (tmp / "ab1.safetensors"), "ab1");

  // extract: the difference of a fully fine-tuned colour model and its base
  r = run("lora train --full --base " + base + " --data " + (tmp / "data") + " --out " +
          (tmp / "full.safetensors") + " --steps 1 --batch 2 --no-progress");
  INFO(r.output);
  REQUIRE(r.rc == 0);
  r = run("lora extract --base " + base + " --tuned " + (tmp / "full.safetensors") + " --rank 2 --out " +
          (tmp / "ex.safetensors"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "wrote "));
  check_samples_rgb(tmp, base, "--lora " + (tmp / "ex.safetensors"), "extracted");

  // compress: svd needs no data; input compression + fine-tuning read the shapes folder
  r = run("compress --model " + base + " --out " + (tmp / "svd.safetensors") +
          " --method svd --rank 2 --calib-samples 0 --heldout-samples 0 --no-progress");
  INFO(r.output);
  REQUIRE(r.rc == 0);
  check_samples_rgb(tmp, tmp / "svd.safetensors", "", "svd");
  r = run("compress --model " + base + " --out " + (tmp / "input.safetensors") + " --data " + (tmp / "data") +
          " --method input --rank 2 --calib-samples 8 --calib-batch 4 --heldout-samples 8 --finetune-steps 1 "
          "--batch 4 --no-progress");
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "data: 24 image/caption pairs from "));
  CHECK(has(r.output, "held-out loss (1) after fine-tuning"));
  check_samples_rgb(tmp, tmp / "input.safetensors", "", "input");

  // MNIST digits (gray, 28x28) do not fit a colour model: refused in one line naming both, nothing written
  ld::test::write_bar_mnist(tmp.path);
  r = run("compress --model " + base + " --out " + (tmp / "x.safetensors") + " --data " + (tmp / "mnist") +
          " --method input --rank 2 --calib-samples 8 --no-progress");
  INFO(r.output);
  CHECK(r.rc != 0);
  CHECK(has(r.output, "--data"));
  CHECK(has(r.output, base));
  CHECK_FALSE(fs::exists(tmp.path / "x.safetensors"));
}
