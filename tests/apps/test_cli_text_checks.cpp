// Text, configs and the environment checked by the `loradiff` binary, end to end on the tiny
// config (docs/reliability.md, "Numbers, text and configs"): a prompt with an unknown or Cyrillic
// word samples with a warning naming it; invalid UTF-8 and control characters in a prompt are
// refused before sampling; a LoRA folder whose caption the model cannot read at all is refused
// naming the caption file, a folder with some unknown words trains with ONE summary warning; a
// 32x32 config against 28x28 MNIST is refused naming both; options that have no effect warn;
// LORADIFF_NUM_THREADS=1000000 or =abc warns and works.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "data/mnist.h"
#include "data/png.h"
#include "data/vocab.h"
#include "diffusion/model_io.h"
#include "tensor/file_io.h"
#include "tests/apps/cli_run.h"
#include "tests/temp_dir.h"

namespace fs = std::filesystem;
using namespace ld;

namespace {

using Result = test::CliResult;
// `env` (VAR=value ...) and `args` go through the shell; every run is bounded by a timeout.
Result run(const std::string& args, const std::string& env = "") { return test::run_cli(args, env, 120); }

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

int count_lines_with(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = 0; (at = text.find(part, at)) != std::string::npos; at += part.size()) ++n;
  return n;
}

struct Fixture {
  test::TempDir dir{"text-checks"};
  std::string model = dir / "model.safetensors";
  Fixture() {
    const data::Vocabulary& vocab = data::Vocabulary::builtin();
    diffusion::save_model(model, *diffusion::build_model(diffusion::load_config("mnist-t2i-tiny"), vocab, 0),
                          vocab);
  }
  // an image + caption folder with these captions
  std::string folder(const std::string& name, const std::vector<std::string>& captions) const {
    const fs::path d = dir.path / name;
    fs::create_directories(d);
    for (size_t i = 0; i < captions.size(); ++i) {
      data::GrayImage img{28, 28, std::vector<uint8_t>(784, 0)};
      for (int y = 6; y < 22; ++y) img.pixels[y * 28 + 10 + int(i % 8)] = 255;
      const std::string stem = (d / "p").string() + std::to_string(i);
      data::write_png(stem + ".png", img);
      write_file_atomic(stem + ".txt", captions[i]);
    }
    return d.string();
  }
  std::string sample_args(const std::string& prompt) const {
    return "sample --model " + model + " --prompt " + prompt + " --n 1 --steps 1 --out " + (dir / "s.png");
  }
};

const char* kCyrillicSeven = "\xD1\x81\xD0\xB5\xD0\xBC\xD1\x8C";  // "семь"

}  // namespace

TEST_CASE("prompts: unknown and Cyrillic words sample with a warning naming them") {
  Fixture fx;
  Result r = run(fx.sample_args("'a purple seven'"));
  INFO(r.output);
  CHECK(r.rc == 0);
  CHECK(
      has(r.output, "loradiff: warning: caption 'a purple seven': unknown words mapped to <unk>: 'purple'"));
  r = run(fx.sample_args(std::string("'a handwritten digit ") + kCyrillicSeven + "'"));
  INFO(r.output);
  CHECK(r.rc == 0);
  CHECK(has(r.output, std::string("unknown words mapped to <unk>: '") + kCyrillicSeven + "'"));
  // an emoji is not a word but is not dropped silently either
  r = run(fx.sample_args("'a seven \xF0\x9F\x99\x82'"));
  CHECK(r.rc == 0);
  CHECK(has(r.output, "characters ignored: '\xF0\x9F\x99\x82'"));
  // the prompt is stored as written (iTXt)
  r = run(fx.sample_args(std::string("'") + kCyrillicSeven + "'"));
  REQUIRE(r.rc == 0);
  CHECK(data::read_png_parameters(fx.dir / "s.png")->prompt == kCyrillicSeven);
}

TEST_CASE("prompts: invalid UTF-8 and control characters are refused before sampling, naming --prompt") {
  Fixture fx;
  Result r = run(fx.sample_args("\"$(printf 'a seven\\377')\""));
  INFO(r.output);
  CHECK(r.rc == 1);
  CHECK(has(r.output, "loradiff: error: --prompt: not valid UTF-8 at byte 7 (byte 0xFF)"));
  CHECK_FALSE(has(r.output, "sampled"));
  r = run(fx.sample_args("\"$(printf 'two\\nlines')\""));
  CHECK(r.rc == 1);
  CHECK(has(r.output, "loradiff: error: --prompt: control character \\n at byte 3"));
  CHECK_FALSE(fs::exists(fx.dir / "s.png"));
}

TEST_CASE("LoRA captions: unreadable ones are refused naming the file; unknown words warn once per run") {
  Fixture fx;
  const std::string base =
      "lora train --base " + fx.model + " --steps 1 --batch 2 --no-progress --save-every 0";
  // only symbols: no words at all
  std::string d = fx.folder("symbols", {"a handwritten digit seven", "\xE2\x98\x85\xE2\x98\x85\xE2\x98\x85"});
  Result r = run(base + " --data " + d + " --out " + (fx.dir / "a.safetensors"));
  INFO(r.output);
  CHECK(r.rc == 1);
  CHECK(has(r.output, "p1.txt': caption '\xE2\x98\x85\xE2\x98\x85\xE2\x98\x85' has no words"));
  // only Cyrillic: words, but none the vocabulary knows
  d = fx.folder("cyrillic", {"a handwritten digit seven", kCyrillicSeven});
  r = run(base + " --data " + d + " --out " + (fx.dir / "b.safetensors"));
  CHECK(r.rc == 1);
  CHECK(has(r.output, "p1.txt': caption '" + std::string(kCyrillicSeven) +
                          "' has no word the model's vocabulary knows"));
  // invalid UTF-8
  d = fx.folder("latin1", {"a handwritten digit seven", "a s\xE9ven"});
  r = run(base + " --data " + d + " --out " + (fx.dir / "c.safetensors"));
  CHECK(r.rc == 1);
  CHECK(has(r.output, "p1.txt': not valid UTF-8 at byte 3 (byte 0xE9)"));
  // some unknown words: trains, with ONE warning line for the whole folder
  d = fx.folder("unknown", {"a purple seven", "a purple seven", "a tall seven", "a seven \xE2\x98\x85"});
  r = run(base + " --data " + d + " --out " + (fx.dir / "d.safetensors"));
  INFO(r.output);
  CHECK(r.rc == 0);
  CHECK(count_lines_with(r.output, "warning:") == 1);
  CHECK(has(r.output,
            "3 of 4 captions have words the vocabulary lacks (mapped to <unk>): 'purple' (2x), 'tall' (1x)"));
  CHECK(has(r.output, "characters ignored: '\xE2\x98\x85' (1x)"));
}

TEST_CASE("a config whose image size differs from the data is refused naming both") {
  Fixture fx;
  // a tiny MNIST (28x28) and a 32x32 config
  data::Digits digits;
  std::vector<uint8_t> img(784, 0);
  for (int i = 0; i < 20; ++i) digits.append(img.data(), static_cast<uint8_t>(i % 10));
  fs::create_directories(fx.dir.path / "mnist");
  data::save_mnist(fx.dir / "mnist", data::Split::Train, digits);
  data::save_mnist(fx.dir / "mnist", data::Split::Test, digits);
  auto cfg = diffusion::load_config("mnist-t2i-tiny").to_json();
  cfg["image_size"] = 32;
  write_file_atomic(fx.dir / "my32.json", cfg.dump());
  const Result r = run("train --config " + (fx.dir / "my32.json") + " --data " + (fx.dir / "mnist") +
                       " --out " + (fx.dir / "run") + " --steps 1 --batch 2");
  INFO(r.output);
  CHECK(r.rc == 1);
  CHECK(has(r.output, "--config '" + (fx.dir / "my32.json") + "' has image_size 32 but the data '" +
                          (fx.dir / "mnist") + "' (--data) is 28x28"));
  CHECK_FALSE(fs::exists(fx.dir / "run"));  // refused before the run folder is made
  // a checkpoint of that config: compress (and eval) check it against the MNIST they read
  const data::Vocabulary& vocab = data::Vocabulary::builtin();
  diffusion::ModelConfig c32 = diffusion::load_config("mnist-t2i-tiny");
  c32.image_size = 32;
  diffusion::save_model(fx.dir / "m32.safetensors", *diffusion::build_model(c32, vocab, 0), vocab);
  Result c = run("compress --model " + (fx.dir / "m32.safetensors") + " --data " + (fx.dir / "mnist") +
                 " --rank 2 --heldout-samples 4 --out " + (fx.dir / "c.safetensors"));
  INFO(c.output);
  CHECK(c.rc == 1);
  CHECK(has(c.output,
            "the model --model '" + (fx.dir / "m32.safetensors") + "' has image_size 32 but the data"));
  // a base with 2 image channels cannot train on a folder of gray images (1 and 3 can: RGB reads them as
  // three equal planes)
  diffusion::ModelConfig rgb = diffusion::load_config("mnist-t2i-tiny");
  rgb.image_channels = 2;
  diffusion::save_model(fx.dir / "rgb.safetensors", *diffusion::build_model(rgb, vocab, 0), vocab);
  c = run("lora train --base " + (fx.dir / "rgb.safetensors") + " --data " +
          fx.folder("gray", {"a seven", "a nine"}) + " --out " + (fx.dir / "a.safetensors") +
          " --batch 2 --steps 1");
  CHECK(c.rc == 1);
  CHECK(has(c.output, "has image_channels 2 but the data"));
}

TEST_CASE("options that have no effect with the others warn") {
  Fixture fx;
  Result r = run("sample --model " + (fx.dir / "missing") +
                 " --prompt x --out x.png --sampler ddpm --eta 0.5 --steps 9");
  CHECK(has(r.output, "loradiff: warning: --eta is ignored with --sampler ddpm"));
  CHECK(has(r.output, "loradiff: warning: --steps is ignored with --sampler ddpm"));
  r = run("train --out " + (fx.dir / "run") + " --data " + (fx.dir / "missing") + " --steps 5 --warmup 10");
  CHECK(has(r.output,
            "loradiff: warning: --warmup 10 is longer than --steps 5: the learning rate rises linearly "
            "and reaches only 50% of --lr"));
  r = run("lora train --base x --data y --out z.safetensors --prior-weight 2");
  CHECK(has(r.output, "loradiff: warning: --prior-weight is ignored without --reg"));
}

TEST_CASE("LORADIFF_NUM_THREADS=1000000 or abc: a warning, and the command still works") {
  for (const char* v : {"1000000", "1099511627776", "abc", "-5"}) {
    const Result r = run("gradcheck --filter matmul", std::string("LORADIFF_NUM_THREADS=") + v);
    INFO(v, "\n", r.output);
    CHECK(r.rc == 0);
    CHECK(has(r.output, "loradiff: warning: LORADIFF_NUM_THREADS"));
    CHECK(has(r.output, "\"failed\":0"));
  }
}

TEST_CASE("requests beyond the available memory are refused before any work, with both sizes") {
  Fixture fx;
  const std::string one_gb = "LORADIFF_MEMORY_AVAILABLE=1000000000";  // as if 1 GB were free
  Result r = run("bench train --batch 4096", one_gb);
  INFO(r.output);
  CHECK(r.rc == 1);
  CHECK(has(r.output, "loradiff: error: --batch 4096 needs about 70 GB of memory"));
  CHECK(has(r.output, "but only 1 GB are available (MemAvailable in /proc/meminfo)"));
  r = run("sample --model " + fx.model + " --prompt seven --n 200000 --out " + (fx.dir / "s.png"), one_gb);
  CHECK(r.rc == 1);
  CHECK(has(r.output, "loradiff: error: --n 200000 images x 1 prompt(s) needs about 3.3 GB of memory"));
  CHECK_FALSE(has(r.output, "sampled"));
}
