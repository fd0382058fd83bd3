// `loradiff data ...` end to end on tiny generated IDX files in a temporary folder:
// fetch-mnist --from (and its no-op re-run, also through scripts/fetch_mnist.sh),
// export-mnist into an image + caption folder, check-folder on the result, and the errors.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "data/idx.h"
#include "data/image_folder.h"
#include "data/mnist.h"
#include "data/png.h"
#include "data/shapes.h"
#include "data/tokenizer.h"
#include "diffusion/model_io.h"
#include "tensor/file_io.h"
#include "tests/apps/cli_run.h"
#include "tests/temp_dir.h"

namespace fs = std::filesystem;
using namespace ld::data;

namespace {

using Result = ld::test::CliResult;
inline Result run(const std::string& args) { return ld::test::run_cli(args); }

using ld::test::TempDir;

// n digits 28x28, label i % 10, a vertical bar whose width depends on i.
Digits tiny(int n) {
  Digits d;
  for (int i = 0; i < n; ++i) {
    std::vector<uint8_t> img(784, 0);
    for (int y = 6; y < 22; ++y)
      for (int x = 13; x < 14 + i % 3; ++x) img[y * 28 + x] = 255;
    d.append(img.data(), static_cast<uint8_t>(i % 10));
  }
  return d;
}

}  // namespace

TEST_CASE("data fetch-mnist --from, export-mnist, check-folder") {
  TempDir tmp("test-cli-data");
  const fs::path official = tmp.path / "official", mnist = tmp.path / "mnist", lora = tmp.path / "nines";
  fs::create_directories(official);
  const Digits train = tiny(60), test = tiny(20);
  write_idx((official / "train-images-idx3-ubyte.gz").string(), IdxArray{{60, 28, 28}, train.pixels});
  write_idx((official / "train-labels-idx1-ubyte.gz").string(), IdxArray{{60}, train.labels});
  write_idx((official / "t10k-images-idx3-ubyte").string(), IdxArray{{20, 28, 28}, test.pixels});
  write_idx((official / "t10k-labels-idx1-ubyte").string(), IdxArray{{20}, test.labels});

  Result r = run("data fetch-mnist --from " + official.string() + " --out " + mnist.string());
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(r.output.find("wrote 60 train and 20 test digits") != std::string::npos);
  CHECK(load_mnist(mnist.string(), Split::Train).pixels == train.pixels);

  // Re-running (here through the script) does nothing.
  const std::string script = std::string(LORADIFF_SOURCE_DIR) + "/scripts/fetch_mnist.sh";
  const std::string cmd = "LORADIFF=" + std::string(LORADIFF_BINARY) + " " + script + " --from " +
                          official.string() + " --out " + mnist.string() + " > " +
                          (tmp.path / "log").string() + " 2>&1";
  CHECK(std::system(cmd.c_str()) == 0);
  CHECK(ld::read_file((tmp.path / "log").string()).find("nothing to do") != std::string::npos);

  r = run("data info --data " + mnist.string());
  CHECK(r.rc == 0);
  CHECK(r.output.find("train: 60 digits, 28x28; per class: 0=6 1=6") != std::string::npos);

  r = run("data export-mnist --digit 9 --n 4 --out " + lora.string() + " --data " + mnist.string());
  INFO(r.output);
  REQUIRE(r.rc == 0);
  int pngs = 0, txts = 0;
  for (const auto& e : fs::directory_iterator(lora)) {
    pngs += e.path().extension() == ".png";
    txts += e.path().extension() == ".txt";
    if (e.path().extension() == ".txt")
      CHECK(ld::read_file(e.path().string()) == "a handwritten digit nine\n");
  }
  CHECK(pngs == 4);
  CHECK(txts == 4);
  const ImageFolder folder = read_image_folder(lora.string(), {28, InvertMode::Auto, 4});
  CHECK(folder.items.size() == 4);
  for (const auto& item : folder.items) CHECK_FALSE(item.inverted);  // MNIST is already white on black

  // The exported images are the MNIST pixels exactly.
  const Digits all = load_mnist(mnist.string(), Split::Train);
  const GrayImage first = decode_png(ld::read_file(folder.items[0].image_path), folder.items[0].image_path);
  const std::string stem = fs::path(folder.items[0].image_path).stem().string();  // nine_train_<index>
  const int64_t index = std::stoll(stem.substr(stem.rfind('_') + 1));
  CHECK(all.labels[index] == 9);
  CHECK(std::equal(first.pixels.begin(), first.pixels.end(), all.image(index)));

  r = run("data check-folder " + lora.string() + " --min 4 --preview " + (tmp.path / "preview.png").string());
  INFO(r.output);
  CHECK(r.rc == 0);
  CHECK(r.output.find("4 image/caption pairs, 0 inverted") != std::string::npos);
  CHECK(decode_png(ld::read_file((tmp.path / "preview.png").string()), "preview").width == 2 * 56 + 1);

  // Varied captions come from the attribute templates.
  r = run("data export-mnist --digit 3 --n 6 --captions varied --seed 5 --out " +
          (tmp.path / "threes").string() + " --data " + mnist.string());
  CHECK(r.rc == 0);
  for (const auto& e : fs::directory_iterator(tmp.path / "threes"))
    if (e.path().extension() == ".txt")
      CHECK(ld::read_file(e.path().string()).find("three") != std::string::npos);
}

TEST_CASE("data command errors: non-empty output, too few digits, missing data, bad folder") {
  TempDir tmp("test-cli-data");
  const fs::path mnist = tmp.path / "mnist";
  fs::create_directories(mnist);
  save_mnist(mnist.string(), Split::Train, tiny(30));
  save_mnist(mnist.string(), Split::Test, tiny(10));

  Result r = run("data export-mnist --digit 9 --n 4 --out " + (tmp.path / "x").string() + " --data " +
                 mnist.string());
  CHECK(r.rc != 0);
  CHECK(r.output.find("has 3 digits 9, fewer than --n 4") != std::string::npos);

  fs::create_directories(tmp.path / "busy");
  ld::write_file_atomic((tmp.path / "busy" / "keep.txt").string(), "x");
  r = run("data export-mnist --digit 1 --n 2 --out " + (tmp.path / "busy").string() + " --data " +
          mnist.string());
  CHECK(r.rc != 0);
  CHECK(r.output.find("not empty") != std::string::npos);
  CHECK(ld::read_file((tmp.path / "busy" / "keep.txt").string()) == "x");

  r = run("data export-mnist --digit 1 --n 2 --out " + (tmp.path / "y").string() + " --data " +
          (tmp.path / "nothing").string());
  CHECK(r.rc != 0);
  CHECK(r.output.find("fetch-mnist") != std::string::npos);

  r = run("data check-folder " + (tmp.path / "busy").string());
  CHECK(r.rc != 0);
  CHECK(r.output.find("keep.txt': caption without image") != std::string::npos);

  r = run("data tokenize \"a handwritten digit nine\" \"a purple nine\"");
  CHECK(r.rc == 0);
  CHECK(r.output.find("1 13 16 17 12 0") != std::string::npos);
  CHECK(r.output.find("unknown words mapped to <unk>: 'purple'") != std::string::npos);
}

TEST_CASE("data tokenize and check-folder use --vocab or a checkpoint's vocabulary (--model)") {
  TempDir tmp("cli-data-vocab");
  // the builtin vocabulary lacks the shapes words; shapes and a shapes model have them
  Result r = run("data tokenize \"a small red circle\"");
  CHECK(r.rc == 0);
  CHECK(r.output.find("unknown words mapped to <unk>") != std::string::npos);
  r = run("data tokenize --vocab shapes \"a small red circle\"");
  CHECK(r.rc == 0);
  CHECK(r.output.find("unknown words") == std::string::npos);
  CHECK(r.output.find("a small red circle") != std::string::npos);
  const Vocabulary vocab = shapes_vocabulary();
  ld::diffusion::save_model(
      (tmp.path / "m.safetensors").string(),
      *ld::diffusion::build_model(ld::diffusion::load_config("shapes-t2i-tiny"), vocab, 0), vocab);
  r = run("data tokenize --model " + (tmp.path / "m.safetensors").string() + " \"a small red circle\"");
  INFO(r.output);
  CHECK(r.rc == 0);
  CHECK(r.output.find("unknown words") == std::string::npos);
  // the ids are the checkpoint's (those of the shapes list), not the builtin list's
  std::string ids;
  for (int32_t id : tokenize(vocab, "a small red circle").ids) ids += " " + std::to_string(id);
  CHECK(r.output.find(ids.substr(0, ids.find(" 0 0"))) != std::string::npos);
  // a word-list file
  ld::write_file_atomic((tmp.path / "words.txt").string(), "a\nsmall\nred\ncircle\n");
  r = run("data tokenize --vocab " + (tmp.path / "words.txt").string() + " \"a small red circle\"");
  CHECK(r.rc == 0);
  CHECK(r.output.find("unknown words") == std::string::npos);

  // check-folder: shapes captions warn against builtin, not against the shapes model's vocabulary
  REQUIRE(run("data make-shapes --n 3 --out " + (tmp.path / "s").string()).rc == 0);
  r = run("data check-folder " + (tmp.path / "s").string() + " --size 32 --channels 3");
  CHECK(r.rc == 0);
  CHECK(r.output.find("warning") != std::string::npos);
  r = run("data check-folder " + (tmp.path / "s").string() + " --size 32 --channels 3 --model " +
          (tmp.path / "m.safetensors").string());
  INFO(r.output);
  CHECK(r.rc == 0);
  CHECK(r.output.find("warning") == std::string::npos);

  // --model and --vocab together, and a --model that is no checkpoint: refused
  r = run("data tokenize --vocab shapes --model " + (tmp.path / "m.safetensors").string() + " \"a\"");
  CHECK(r.rc != 0);
  CHECK(r.output.find("excludes") != std::string::npos);
  r = run("data check-folder " + (tmp.path / "s").string() + " --model " + (tmp.path / "words.txt").string());
  CHECK(r.rc != 0);
  CHECK(r.output.find("--model: ") != std::string::npos);
  CHECK(r.output.find("words.txt") != std::string::npos);
}
