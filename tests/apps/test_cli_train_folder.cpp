// `loradiff train --data FOLDER`: a base model trained from a folder of images with same-name .txt
// captions (diffusion/train_data.h), its own vocabulary (--vocab auto, Cyrillic captions), a
// held-out split (--val-fraction, --val), bit-exact resume, sampling with a Cyrillic prompt, Russian
// MNIST captions (--captions ru), and clear errors naming the file for bad folders, vocabularies
// and configs. Tiny data written by the test; mnist-t2i-tiny; a few steps each.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "data/png.h"
#include "nn/safetensors.h"
#include "tensor/file_io.h"
#include "tests/apps/cli_fixture.h"
#include "tests/apps/cli_run.h"
#include "tests/temp_dir.h"

namespace fs = std::filesystem;
using namespace ld;

namespace {

using ld::test::run_cli;

// A w x h grey PNG with a bright vertical bar at column `col` (of 28) on black.
void write_bar_png(const std::string& path, int col, int64_t w = 28, int64_t h = 28) {
  data::GrayImage img{w, h, std::vector<uint8_t>(static_cast<size_t>(w * h), 0)};
  const int64_t x = col * w / 28;
  for (int64_t y = h / 5; y < h - h / 5; ++y)
    for (int64_t dx = 0; dx < std::max<int64_t>(1, w / 14); ++dx)
      img.pixels[y * w + std::min(w - 1, x + dx)] = 255;
  data::write_png(path, img);
}

// A 24-bit colour BMP (another image mode than grey PNG): a red bar on black.
void write_colour_bmp(const std::string& path, int64_t w, int64_t h) {
  const int64_t row = (3 * w + 3) / 4 * 4;
  std::string b(54 + row * h, '\0');
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  b[0] = 'B', b[1] = 'M';
  put32(2, static_cast<uint32_t>(b.size()));
  put32(10, 54);
  put32(14, 40);
  put32(18, static_cast<uint32_t>(w));
  put32(22, static_cast<uint32_t>(h));
  b[26] = 1, b[28] = 24;
  for (int64_t y = 2; y < h - 2; ++y) b[54 + y * row + 3 * (w / 2) + 2] = static_cast<char>(255);  // red
  write_file_atomic(path, b);
}

// <dir>/<name>: n bars with captions, English and Cyrillic, 28x28 grey.
std::string write_caption_folder(const fs::path& dir, const std::string& name, int n) {
  const fs::path f = dir / name;
  fs::create_directories(f);
  const char* caps[4] = {"a bar on the left", "Полоса справа", "ПОЛОСА в центре", "a thin bar, справа"};
  for (int i = 0; i < n; ++i) {
    const std::string stem = (f / ("img" + std::to_string(10 + i))).string();
    write_bar_png(stem + ".png", 4 + 5 * (i % 4));
    write_file_atomic(stem + ".txt", caps[i % 4]);
  }
  return f.string();
}

// `extra` may override the config and batch.
std::string train_args(const std::string& data, const std::string& out, const std::string& extra = "") {
  std::string a = "train --data " + data + " --out " + out + " --sample-steps 2 --no-progress";
  if (extra.find("--config") == std::string::npos) a += " --config mnist-t2i-tiny";
  if (extra.find("--batch") == std::string::npos) a += " --batch 4";
  return a + " " + extra;
}

}  // namespace

TEST_CASE(
    "train --data FOLDER: auto vocabulary with Cyrillic words, held-out split, samples from its captions") {
  ld::test::TempDir tmp("train-folder");
  const std::string data = write_caption_folder(tmp.path, "bars", 12);
  const std::string run = tmp / "run";
  auto tr = run_cli(train_args(data, run) +
                    " --steps 4 --checkpoint-every 2 --sample-every 4 --eval-every 2 --eval-batches 1");
  INFO(tr.output);
  REQUIRE(tr.rc == 0);
  // 0.05 of 12 rounds to 1 held-out image (at least one): 11 training captions
  CHECK(tr.output.find("vocabulary: 10 words from 11 captions (0 dropped below --vocab-min-count 1, 0 beyond "
                       "--vocab-size 4096; 3 reserved + 8 spare = 21 entries)") != std::string::npos);
  CHECK(tr.output.find("steps 0 -> 4") != std::string::npos);
  // the checkpoint holds its vocabulary, lower-cased Cyrillic included
  const nn::SafeTensors st = nn::load_safetensors(run + "/model.safetensors");
  const auto words = nlohmann::json::parse(st.metadata.at("vocab")).get<std::vector<std::string>>();
  CHECK(std::find(words.begin(), words.end(), "полоса") != words.end());
  CHECK(std::find(words.begin(), words.end(), "<spare_7>") != words.end());
  // the sample grid's rows are captions of the data, not digit prompts
  const auto params = data::read_png_parameters(run + "/samples/step_0000004.png");
  REQUIRE(params.has_value());
  CHECK(params->prompt.find("digit") == std::string::npos);
  CHECK(params->prompt.find("(one row each)") != std::string::npos);
  const std::string csv = read_file(run + "/loss.csv");
  CHECK(csv.find("nan") == std::string::npos);

  // sampling with a Cyrillic prompt in capitals: every word known, no warning
  auto s = run_cli("sample --model " + run +
                   "/model.safetensors --prompt \"ПОЛОСА Справа\" --n 2 --steps 2 --out " + (tmp / "s.png"));
  INFO(s.output);
  CHECK(s.rc == 0);
  CHECK(s.output.find("<unk>") == std::string::npos);
  auto u = run_cli("sample --model " + run +
                   "/model.safetensors --prompt \"полоса жираф\" --n 1 --steps 2 --out " + (tmp / "u.png"));
  CHECK(u.rc == 0);
  CHECK(u.output.find("'жираф'") != std::string::npos);

  // lora train --new-token still appends its own row to a base with an auto vocabulary
  auto l = run_cli("lora train --base " + run + "/model.safetensors --data " + data + " --out " +
                   (tmp / "a.safetensors") + " --rank 2 --steps 1 --batch 2 --new-token sks --no-progress");
  INFO(l.output);
  CHECK(l.rc == 0);
}

TEST_CASE("train --data FOLDER resumes bit for bit: 4 steps == 2 steps + --resume to 4") {
  ld::test::TempDir tmp("train-folder-resume");
  const std::string data = write_caption_folder(tmp.path, "bars", 10);
  const std::string quiet = " --checkpoint-every 0 --sample-every 0 --eval-every 0";
  auto full = run_cli(train_args(data, tmp / "full") + " --steps 4" + quiet);
  INFO(full.output);
  REQUIRE(full.rc == 0);
  auto half = run_cli(train_args(data, tmp / "part") + " --steps 2" + quiet);
  REQUIRE(half.rc == 0);
  auto rest = run_cli(train_args(data, tmp / "part") + " --steps 4 --resume" + quiet);
  INFO(rest.output);
  REQUIRE(rest.rc == 0);
  CHECK(rest.output.find("resuming") != std::string::npos);
  const nn::SafeTensors a = nn::load_safetensors(tmp / "full/train_state.safetensors");
  const nn::SafeTensors b = nn::load_safetensors(tmp / "part/train_state.safetensors");
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    const Tensor x = t.contiguous(), y = b.tensors.at(name).contiguous();
    REQUIRE(x.numel() == y.numel());
    REQUIRE(x.dtype() == y.dtype());
    const void* px =
        x.dtype() == DType::F32 ? static_cast<const void*>(x.f32()) : static_cast<const void*>(x.i32());
    const void* py =
        y.dtype() == DType::F32 ? static_cast<const void*>(y.f32()) : static_cast<const void*>(y.i32());
    CHECK_MESSAGE(std::memcmp(px, py, static_cast<size_t>(x.numel()) * 4) == 0, name);
  }
  // another vocabulary (same data) is refused on resume
  auto other = run_cli(train_args(data, tmp / "part") + " --steps 5 --resume --vocab-spare 2" + quiet);
  CHECK(other.rc != 0);
  CHECK(other.output.find("another vocabulary") != std::string::npos);
}

TEST_CASE("train --data FOLDER: --val, mixed sizes and modes, unknown held-out words") {
  ld::test::TempDir tmp("train-folder-val");
  const std::string data = write_caption_folder(tmp.path, "bars", 8);
  // mixed sizes and modes: resized and converted to grey as `lora train` does, and said so
  write_bar_png(data + "/wide.png", 10, 40, 30);
  write_file_atomic(data + "/wide.txt", "a bar on the left");
  write_colour_bmp(data + "/colour.bmp", 20, 20);
  write_file_atomic(data + "/colour.txt", "полоса в центре");
  const fs::path val = tmp.path / "val";
  fs::create_directories(val);
  write_bar_png((val / "v1.png").string(), 12);
  write_file_atomic((val / "v1.txt").string(), "красный треугольник справа");
  auto tr = run_cli(train_args(data, tmp / "run") + " --val " + val.string() +
                    " --steps 2 --eval-every 1 --eval-batches 1 --sample-every 2 --checkpoint-every 0");
  INFO(tr.output);
  REQUIRE(tr.rc == 0);
  CHECK(tr.output.find("vocabulary: 10 words from 10 captions") != std::string::npos);  // all 10 train
  CHECK(tr.output.find("2 of 10 images are not 28x28 (widths 20..40, heights 20..30)") != std::string::npos);
  CHECK(
      tr.output.find("held-out captions (--val '" + val.string() +
                     "'): 1 of 1 captions have words the vocabulary lacks (mapped to <unk>): 'красный' (1x), "
                     "'треугольник' (1x)") != std::string::npos);
  const auto params = data::read_png_parameters(tmp / "run/samples/step_0000002.png");
  REQUIRE(params.has_value());
  CHECK(params->prompt.rfind("красный треугольник справа | ", 0) == 0);  // the held-out caption first
  // --vocab FILE: a given list; a caption left without a known word is refused naming its file
  write_file_atomic(tmp / "words.txt", "bar\nполоса\n");
  auto vf = run_cli(train_args(data, tmp / "run2") + " --vocab " + (tmp / "words.txt") +
                    " --steps 1 --eval-every 0 --val-fraction 0");
  INFO(vf.output);
  CHECK(vf.rc == 0);
  CHECK(vf.output.find("mapped to <unk>") != std::string::npos);
  write_file_atomic(tmp / "few.txt", "left\n");
  auto vn = run_cli(train_args(data, tmp / "run3") + " --vocab " + (tmp / "few.txt") +
                    " --steps 1 --val-fraction 0");
  CHECK(vn.rc != 0);
  INFO(vn.output);
  CHECK(vn.output.find("colour.txt': caption 'полоса в центре' has no word the model's vocabulary knows") !=
        std::string::npos);
}

TEST_CASE("train --data FOLDER: bad folders, vocabularies, options and configs are refused naming the file") {
  ld::test::TempDir tmp("train-folder-bad");
  const std::string data = write_caption_folder(tmp.path, "bars", 6);
  auto expect = [&](const std::string& extra, const std::string& message, const std::string& folder = "") {
    auto r = run_cli(train_args(folder.empty() ? data : folder, tmp / "run", extra) + " --steps 1");
    INFO(extra);
    INFO(r.output);
    CHECK(r.rc != 0);
    CHECK(r.output.find(message) != std::string::npos);
    CHECK_FALSE(fs::exists(tmp / "run"));  // refused before anything is written
  };
  // captions that tokenize to nothing
  const std::string empty_words = write_caption_folder(tmp.path, "nowords", 4);
  write_file_atomic(empty_words + "/img11.txt", "!!! ... ?!");
  expect("", "img11.txt': caption '!!! ... ?!' has no words", empty_words);
  // a caption whose only words fall below --vocab-min-count (seen once)
  const std::string rare = write_caption_folder(tmp.path, "rare", 4);
  write_file_atomic(rare + "/img12.txt", "жираф");
  expect("--vocab-min-count 2 --val-fraction 0",
         "img12.txt': caption 'жираф' has no word the model's vocabulary knows", rare);
  // a vocabulary file with duplicates
  write_file_atomic(tmp / "dup.txt", "полоса\nbar\nполоса\n");
  expect("--vocab " + (tmp / "dup.txt"), "dup.txt': line 3 repeats 'полоса' (first at line 1)");
  expect("--vocab nosuchfile.txt", "--vocab: 'nosuchfile.txt' is not a file");
  expect("--vocab-size 5", "--vocab-size: 5 must be in 12..");
  // a config whose image_channels the folder reader cannot give (1 gray, 3 RGB: a colour config reads the
  // grey folder as three equal planes)
  nlohmann::json cfg =
      nlohmann::json::parse(read_file(std::string(LORADIFF_SOURCE_DIR) + "/configs/mnist-t2i-tiny.json"));
  cfg["image_channels"] = 2;
  write_file_atomic(tmp / "rgb.json", cfg.dump());
  expect("--config " + (tmp / "rgb.json"),
         "has image_channels 2 but the data '" + data + "' (--data) has 1 channel");
  // options for the other kind of data
  expect("--exclude-digits 9", "--exclude-digits: only for MNIST data");
  expect("--captions ru", "--captions ru: only for MNIST data");
  expect("--val-fraction 0.9", "--val-fraction: 0.9");
  expect("--val " + data + " --val-fraction 0.1", "--val and --val-fraction: give one");
  const std::string one = write_caption_folder(tmp.path, "one", 1);
  expect("--batch 1", "--val-fraction: holding out 1 of the 1 images", one);
  // MNIST: --val refused, and a config that does not match the IDX files
  ld::test::write_bar_mnist(tmp.path);
  const std::string mnist = tmp / "mnist";
  expect("--val " + data, "is an MNIST folder, whose test split is the held-out set", mnist);
  expect("--config " + (tmp / "rgb.json"),
         "has image_channels 2 but the data '" + mnist + "' (--data) has 1 channel", mnist);
}

TEST_CASE("train --captions ru on MNIST: Russian captions and vocabulary, sampled in Russian") {
  ld::test::TempDir tmp("train-ru");
  ld::test::write_bar_mnist(tmp.path);
  const std::string run = tmp / "run";
  auto tr = run_cli(
      train_args(tmp / "mnist", run) +
      " --captions ru --steps 2 --sample-every 2 --eval-every 2 --eval-batches 1 --checkpoint-every 0");
  INFO(tr.output);
  REQUIRE(tr.rc == 0);
  const nn::SafeTensors st = nn::load_safetensors(run + "/model.safetensors");
  const auto words = nlohmann::json::parse(st.metadata.at("vocab")).get<std::vector<std::string>>();
  CHECK(words.size() == 28);
  CHECK(words[10] == "семь");
  const auto params = data::read_png_parameters(run + "/samples/step_0000002.png");
  REQUIRE(params.has_value());
  CHECK(params->prompt == "рукописная цифра ноль .. рукописная цифра девять (one row each)");
  auto s = run_cli("sample --model " + run +
                   "/model.safetensors --prompt \"Цифра семь, написанная от руки\" --n 1 "
                   "--steps 2 --out " +
                   (tmp / "s.png"));
  INFO(s.output);
  CHECK(s.rc == 0);
  CHECK(s.output.find("unknown") == std::string::npos);
  // eval prompts the Russian model in Russian (no unknown words); an English prompt is warned about
  ld::test::write_tiny_models(tmp.path);
  const std::string eval = "eval --model " + run + "/model.safetensors --classifier " +
                           (tmp / "classifier.safetensors") + " --data " + (tmp / "mnist") +
                           " --n-per-digit 2 --digits 7 --steps 2 --batch 2";
  auto ev = run_cli(eval);
  INFO(ev.output);
  CHECK(ev.rc == 0);
  CHECK(ev.output.find("unknown") == std::string::npos);
  auto en = run_cli(eval + " --prompt \"a handwritten digit seven\"");
  CHECK(en.rc == 0);
  CHECK(en.output.find("unknown words mapped to <unk>: 'a', 'handwritten', 'digit', 'seven'") !=
        std::string::npos);
  // a given word list that lacks template words: one warning line
  write_file_atomic(tmp / "digits.txt", "семь\nцифра\n");
  auto part = run_cli(train_args(tmp / "mnist", tmp / "run-list") + " --captions ru-simple --vocab " +
                      (tmp / "digits.txt") + " --steps 1 --eval-every 0 --sample-every 0");
  INFO(part.output);
  CHECK(part.rc == 0);
  CHECK(part.output.find("warning: MNIST captions (--captions ru-simple): 40 of 40 captions have words the "
                         "vocabulary lacks (mapped to <unk>): 'рукописная' (40x)") != std::string::npos);
  // export-mnist writes Russian caption files too
  auto ex = run_cli("data export-mnist --data " + (tmp / "mnist") +
                    " --digit 7 --n 2 --captions ru-simple --out " + (tmp / "sevens"));
  INFO(ex.output);
  REQUIRE(ex.rc == 0);
  bool found = false;
  for (const auto& e : fs::directory_iterator(tmp.path / "sevens"))
    if (e.path().extension() == ".txt") found |= read_file(e.path().string()) == "рукописная цифра семь\n";
  CHECK(found);
}
