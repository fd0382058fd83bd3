// `loradiff` end to end for the generation-time LoRA features on the tiny config: `--lora
// FILE:W:blocks:range` in sample, `lora train --new-token` (a new word in the adapter), `lora convert` to
// kohya / PEFT and back (the same pixels), `lora merge --out-lora` (exact and --rank), `lora info` on each
// layout.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "data/png.h"
#include "data/vocab.h"
#include "diffusion/model_io.h"
#include "lora/adapter_file.h"
#include "lora/attach.h"
#include "tensor/elementwise.h"
#include "tensor/file_io.h"
#include "tests/apps/cli_run.h"
#include "tests/temp_dir.h"

namespace fs = std::filesystem;
using namespace ld;

namespace {

using Result = ld::test::CliResult;
Result run(const std::string& args) { return ld::test::run_cli(args); }
bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
using ld::test::TempDir;

std::vector<uint8_t> pixels(const std::string& path) {
  return data::decode_png(read_file(path), path).pixels;
}

// n bars captioned `caption`.
void write_folder(const fs::path& dir, int n, const std::string& caption) {
  fs::create_directories(dir);
  for (int i = 0; i < n; ++i) {
    data::GrayImage img{28, 28, std::vector<uint8_t>(784, 0)};
    for (int y = 4; y < 24; ++y)
      for (int x = 12 + i % 3; x < 16 + i % 3; ++x) img.pixels[y * 28 + x] = 255;
    const std::string stem = (dir / ("img_" + std::to_string(i))).string();
    data::write_png(stem + ".png", img);
    write_file_atomic(stem + ".txt", caption + "\n");
  }
}

// The tiny base and a random adapter (UNet and text attention) for it.
void write_base_and_adapter(const TempDir& tmp) {
  const auto& vocab = data::Vocabulary::builtin();
  auto model = diffusion::build_model(diffusion::load_config("mnist-t2i-tiny"), vocab, 3);
  diffusion::save_model(tmp / "base.safetensors", *model, vocab);
  lora::LoRAConfig c;
  c.rank = 2;
  c.targets = lora::default_targets();
  for (const auto& t : lora::text_encoder_targets()) c.targets.push_back(t);
  lora::attach_lora(*model, c, "x");
  Generator gen(4);
  for (auto& [_, l] : lora::lora_layers(*model))
    l->adapter(0).B().set_value(mul_scalar(rand_normal(l->adapter(0).B().shape(), gen), 0.3f));
  lora::Adapter a = lora::adapter_from_model(*model, "x");
  a.targets = c.targets;
  a.base_config = model->config.to_json().dump();
  lora::remove_lora(*model);
  a.base_weights_hash = diffusion::weights_hash(model->state_dict());
  lora::save_adapter(tmp / "a.safetensors", a);
}

std::string sample_args(const TempDir& tmp, const std::string& out, const std::string& extra,
                        const std::string& prompt = "a handwritten digit seven") {
  return "sample --model " + (tmp / "base.safetensors") + " --prompt \"" + prompt +
         "\" --n 2 --steps 3 --out " + (tmp / out) + " " + extra;
}

}  // namespace

TEST_CASE("sample --lora with block weights and step ranges") {
  TempDir tmp("test-cli-lora-blocks");
  write_base_and_adapter(tmp);
  const std::string a = tmp / "a.safetensors";
  REQUIRE(run(sample_args(tmp, "plain.png", "--lora " + a + ":0.7")).rc == 0);
  REQUIRE(run(sample_args(tmp, "base.png", "")).rc == 0);
  Result r = run(sample_args(tmp, "blocks.png", "--lora " + a + ":0.7:down=0.7,mid=0.7,up=0.7,te=0.7"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(pixels(tmp / "blocks.png") == pixels(tmp / "plain.png"));
  REQUIRE(run(sample_args(tmp, "zero.png", "--lora " + a + ":0.7:down=0,mid=0,up=0,te=0")).rc == 0);
  CHECK(pixels(tmp / "zero.png") == pixels(tmp / "base.png"));
  REQUIRE(run(sample_args(tmp, "range.png", "--lora " + a + ":0.7:start=0,end=1")).rc == 0);
  CHECK(pixels(tmp / "range.png") == pixels(tmp / "plain.png"));
  REQUIRE(run(sample_args(tmp, "late.png", "--lora " + a + ":0.7:up=1.5:start=0.3")).rc == 0);
  CHECK(pixels(tmp / "late.png") != pixels(tmp / "plain.png"));
}

TEST_CASE("lora convert kohya / peft and back; info and sample read every layout") {
  TempDir tmp("test-cli-lora-convert");
  write_base_and_adapter(tmp);
  const std::string a = tmp / "a.safetensors";
  Result r = run("lora convert " + a + " --to kohya --out " + (tmp / "k.safetensors"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "(loradiff) to"));
  r = run("lora convert " + (tmp / "k.safetensors") + " --to loradiff --out " + (tmp / "back.safetensors"));
  REQUIRE(r.rc == 0);
  CHECK(read_file(tmp / "back.safetensors") == read_file(a));  // bit-exact round trip, the very same file
  r = run("lora convert " + a + " --to peft --out " + (tmp / "peft"));
  REQUIRE(r.rc == 0);
  CHECK(fs::exists(tmp.path / "peft" / "adapter_model.safetensors"));
  CHECK(fs::exists(tmp.path / "peft" / "adapter_config.json"));
  r = run("lora convert " + (tmp / "peft") + " --to loradiff --out " + (tmp / "back2.safetensors"));
  REQUIRE(r.rc == 0);
  CHECK(read_file(tmp / "back2.safetensors") == read_file(a));
  r = run("lora info " + (tmp / "k.safetensors"));
  CHECK(has(r.output, "kohya layout, 44 layers, rank 2"));
  r = run("lora info " + (tmp / "peft"));
  CHECK(has(r.output, "peft layout, 44 layers"));
  REQUIRE(run(sample_args(tmp, "ours.png", "--lora " + a + ":0.7")).rc == 0);
  REQUIRE(run(sample_args(tmp, "kohya.png", "--lora " + (tmp / "k.safetensors") + ":0.7")).rc == 0);
  REQUIRE(run(sample_args(tmp, "peft.png", "--lora " + (tmp / "peft") + ":0.7")).rc == 0);
  CHECK(pixels(tmp / "kohya.png") == pixels(tmp / "ours.png"));
  CHECK(pixels(tmp / "peft.png") == pixels(tmp / "ours.png"));
  // an existing output of another kind is refused
  r = run("lora convert " + a + " --to kohya --out " + (tmp / "base.safetensors"));
  CHECK(r.rc != 0);
  CHECK(has(r.output, "loradiff model checkpoint"));
}

TEST_CASE("lora merge --out-lora: exact and rank-r") {
  TempDir tmp("test-cli-lora-merge-adapters");
  write_base_and_adapter(tmp);
  const std::string a = tmp / "a.safetensors";
  Result r = run("lora merge --out-lora " + (tmp / "aa.safetensors") + " " + a + ":0.5 " + a + ":0.25:te=0");
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "rank 4, alpha 4, exact"));
  // the exact merge samples bit for bit like the two adapters applied together
  REQUIRE(run(sample_args(tmp, "together.png", "--lora " + a + ":0.5 --lora " + a + ":0.25:te=0")).rc == 0);
  REQUIRE(run(sample_args(tmp, "merged.png", "--lora " + (tmp / "aa.safetensors"))).rc == 0);
  REQUIRE(run(sample_args(tmp, "base.png", "")).rc == 0);
  CHECK(pixels(tmp / "together.png") == pixels(tmp / "merged.png"));
  CHECK(pixels(tmp / "together.png") != pixels(tmp / "base.png"));
  r = run("lora merge --out-lora " + (tmp / "r1.safetensors") + " --rank 1 " + a + ":0.5 " + a + ":0.25");
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "rank-1 SVD"));
  CHECK(has(r.output, "SVD tail"));
  r = run("lora info " + (tmp / "aa.safetensors"));
  CHECK(has(r.output, "merged_adapters"));
}

TEST_CASE("lora train --new-token: the word trains with the adapter and comes with it") {
  TempDir tmp("test-cli-lora-new-token");
  write_base_and_adapter(tmp);
  write_folder(tmp.path / "sks", 4, "a handwritten digit sks");
  Result r = run("lora train --base " + (tmp / "base.safetensors") + " --data " + (tmp / "sks") + " --out " +
                 (tmp / "sks.safetensors") +
                 " --new-token sks --init-token nine --steps 3 --batch 2 --lr 1e-2 "
                 "--no-progress");
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(!has(r.output, "unknown"));  // the folder's captions are all known words now
  const lora::Adapter ad = lora::read_adapter(tmp / "sks.safetensors");
  REQUIRE(ad.new_words == std::vector<std::string>{"sks"});
  // the row trained away from "nine"'s
  auto base = diffusion::load_model(tmp / "base.safetensors");
  const Tensor nine =
      base.model->text->tok_emb->weight.value().narrow(0, base.vocab.id("nine"), 1).contiguous();
  CHECK(ad.new_rows.contiguous().to_vector() != nine.to_vector());
  // with the adapter the word is known; the base alone warns as for any unknown word
  r = run(
      sample_args(tmp, "with.png", "--lora " + (tmp / "sks.safetensors") + ":1", "a handwritten digit sks"));
  REQUIRE(r.rc == 0);
  CHECK(!has(r.output, "'sks'"));
  r = run(sample_args(tmp, "base.png", "", "a handwritten digit sks"));
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "'sks'"));
  r = run(
      sample_args(tmp, "zero.png", "--lora " + (tmp / "sks.safetensors") + ":0", "a handwritten digit sks"));
  REQUIRE(r.rc == 0);
  CHECK(pixels(tmp / "zero.png") == pixels(tmp / "base.png"));
  CHECK(has(run("lora info " + (tmp / "sks.safetensors")).output, "new words: [\"sks\"]"));
  // converting it to kohya is refused (no place for the word there)
  r = run("lora convert " + (tmp / "sks.safetensors") + " --to kohya --out " + (tmp / "k.safetensors"));
  CHECK(r.rc != 0);
  CHECK(has(r.output, "adds words"));
  // --resume keeps the word: 2 + 2 resumed steps give the adapter of 4 straight ones, bit for bit
  const std::string train = "lora train --base " + (tmp / "base.safetensors") + " --data " + (tmp / "sks") +
                            " --batch 2 --save-every 1 --no-progress --new-token sks";
  REQUIRE(run(train + " --out " + (tmp / "r.safetensors") + " --steps 2").rc == 0);
  r = run(train + " --out " + (tmp / "r.safetensors") + " --steps 4 --resume");
  REQUIRE(r.rc == 0);
  REQUIRE(run(train + " --out " + (tmp / "s.safetensors") + " --steps 4").rc == 0);
  CHECK(lora::read_adapter(tmp / "r.safetensors").new_rows.to_vector() ==
        lora::read_adapter(tmp / "s.safetensors").new_rows.to_vector());
  r = run("lora train --base " + (tmp / "base.safetensors") + " --data " + (tmp / "sks") +
          " --batch 2 --out " + (tmp / "r.safetensors") +
          " --steps 6 --resume --no-progress --new-token zzz");
  CHECK(r.rc != 0);
  CHECK(has(r.output, "new_token"));
  r = run("lora train --base " + (tmp / "base.safetensors") + " --data " + (tmp / "sks") +
          " --batch 2 --out " + (tmp / "r.safetensors") + " --steps 6 --resume --no-progress");
  CHECK(r.rc != 0);
  CHECK(has(r.output, "--new-token"));
  // merged into a checkpoint, the word becomes part of the model's vocabulary
  r = run("lora merge --base " + (tmp / "base.safetensors") + " --lora " + (tmp / "sks.safetensors") +
          " --out " + (tmp / "merged.safetensors"));
  REQUIRE(r.rc == 0);
  CHECK(diffusion::load_model(tmp / "merged.safetensors").vocab.contains("sks"));
}
