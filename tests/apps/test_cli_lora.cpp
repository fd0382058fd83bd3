// `loradiff lora ...` and `loradiff sample --lora` end to end on the tiny config in a temporary
// folder: a base checkpoint and a folder of 20 image + caption pairs (article Fig. 4) are made
// here; then lora train (with held-out loss and sample grids), sample with adapters at weights
// (weight 0 = the base, bit for bit), merge (= sampling with the adapter), extract from the merged
// checkpoint (recovers the adapter), resize, info, --full, and the errors.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "data/png.h"
#include "data/vocab.h"
#include "diffusion/model_io.h"
#include "lora/adapter_file.h"
#include "lora/svd.h"
#include "nn/safetensors.h"
#include "tensor/elementwise.h"
#include "tensor/file_io.h"
#include "tests/apps/cli_run.h"
#include "tests/temp_dir.h"

namespace fs = std::filesystem;
using namespace ld;

namespace {

using Result = ld::test::CliResult;
inline Result run(const std::string& args) { return ld::test::run_cli(args); }

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

using ld::test::TempDir;

// An untrained base checkpoint of `config` (seed 3): all the LoRA commands need is its layout.
void write_base(const std::string& path, const std::string& config) {
  diffusion::save_model(
      path, *diffusion::build_model(diffusion::load_config(config), data::Vocabulary::builtin(), 3),
      data::Vocabulary::builtin());
}

// n "nines": a ring on top of a stem, shifted a little per image; one caption each.
void write_folder(const fs::path& dir, int n, int shift) {
  fs::create_directories(dir);
  for (int i = 0; i < n; ++i) {
    data::GrayImage img{28, 28, std::vector<uint8_t>(784, 0)};
    const int dx = (i + shift) % 4 - 2, dy = (i + shift) % 3 - 1;
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) {
        const int cx = x - 14 - dx, cy = y - 10 - dy;
        const bool ring = cx * cx + cy * cy >= 16 && cx * cx + cy * cy <= 36;
        const bool stem = x - dx >= 18 && x - dx <= 20 && y - dy >= 10 && y - dy <= 24;
        if (ring || stem) img.pixels[y * 28 + x] = 255;
      }
    const std::string stem = "nine_" + std::to_string(i);
    data::write_png((dir / (stem + ".png")).string(), img);
    write_file_atomic((dir / (stem + ".txt")).string(), "a handwritten digit nine\n");
  }
}

std::vector<float> png_pixels(const std::string& path) {
  data::GrayImage g = data::decode_png(read_file(path), path);
  return std::vector<float>(g.pixels.begin(), g.pixels.end());
}

}  // namespace

TEST_CASE("lora train, sample --lora, merge, extract, resize, info on the tiny config") {
  TempDir tmp("test-cli-lora");
  const std::string base = tmp / "base.safetensors";
  write_base(base, "mnist-t2i-tiny");
  write_folder(tmp.path / "nines", 20, 0);
  write_folder(tmp.path / "val", 6, 1);
  const auto folder_time = fs::last_write_time(tmp.path / "nines" / "nine_0.png");

  // --- train: 12 steps, held-out loss at 0, 6, 12, a sample grid at 0 and 12
  Result r = run("lora train --base " + base + " --data " + (tmp / "nines") + " --val " + (tmp / "val") +
                 " --out " + (tmp / "nine.safetensors") +
                 " --steps 12 --batch 4 --lr 2e-3 --eval-every 6 --eval-repeats 1 --sample-every 12"
                 " --sample-steps 3 --no-progress");
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "data: 20 image/caption pairs"));
  CHECK(has(r.output, "LoRA rank 4, alpha 4 on 40 layers: 8448 trainable parameters"));
  CHECK(has(r.output, "trained: 12 steps"));
  CHECK(has(r.output, "held-out"));
  CHECK(fs::exists(tmp.path / "nine-log" / "loss.csv"));
  CHECK(fs::exists(tmp.path / "nine-log" / "loss.png"));
  CHECK(fs::exists(tmp.path / "nine-log" / "samples" / "step_0000000.png"));
  CHECK(fs::exists(tmp.path / "nine-log" / "samples" / "step_0000012.png"));
  const std::string csv = read_file(tmp / "nine-log/loss.csv");
  CHECK(std::count(csv.begin(), csv.end(), '\n') >= 1 + 2 + 3);  // header, 2 loss rows, 3 held-out rows
  {
    // held-out loss (fixed t and noise) at steps 0, 6, 12: the adapter alone lowers it
    std::vector<double> heldout;
    std::istringstream lines(csv);
    std::string line;
    while (std::getline(lines, line)) {
      const size_t last = line.rfind(',');
      const size_t prev = line.rfind(',', last - 1);
      if (line.rfind("step", 0) != 0 && last - prev > 1) heldout.push_back(std::stod(line.substr(prev + 1)));
    }
    REQUIRE(heldout.size() == 3);
    CHECK(heldout[2] < heldout[0]);
  }
  // the data folder is untouched
  int files = 0;
  for (auto& e : fs::directory_iterator(tmp.path / "nines")) files += e.is_regular_file();
  CHECK(files == 40);
  CHECK(fs::last_write_time(tmp.path / "nines" / "nine_0.png") == folder_time);

  lora::Adapter a = lora::read_adapter(tmp / "nine.safetensors");
  CHECK(a.layers.size() == 40);
  CHECK(a.base_weights_hash == diffusion::load_model(base).metadata.at("weights_hash"));
  const auto training = nlohmann::json::parse(a.extra.at("training"));
  CHECK(training["pairs"] == 20);
  CHECK(training["mode"] == "lora");
  double bnorm = 0;
  for (const auto& l : a.layers)
    for (float v : l.B.to_vector()) bnorm += std::fabs(v);
  CHECK(bnorm > 0);  // B moved away from zero: the adapter trained

  // --- sample: the base, weight 0 (bit-identical), weight 1 (different), parameters chunk
  const std::string common =
      " --prompt \"a handwritten digit nine\" --n 2 --steps 3 --seed 5 --model " + base;
  REQUIRE(run("sample" + common + " --out " + (tmp / "s_base.png")).rc == 0);
  r = run("sample" + common + " --out " + (tmp / "s_w0.png") + " --lora " + (tmp / "nine.safetensors") +
          ":0");
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK_FALSE(has(r.output, "warning"));
  CHECK(png_pixels(tmp / "s_w0.png") == png_pixels(tmp / "s_base.png"));
  REQUIRE(
      run("sample" + common + " --out " + (tmp / "s_w1.png") + " --lora " + (tmp / "nine.safetensors")).rc ==
      0);
  CHECK(png_pixels(tmp / "s_w1.png") != png_pixels(tmp / "s_base.png"));
  auto params = data::read_png_parameters(tmp / "s_w1.png");
  REQUIRE(params.has_value());
  bool found = false;
  for (auto& [k, v] : params->extra) found = found || (k == "LoRA" && v == "nine:1");
  CHECK(found);

  // --- merge: the merged checkpoint samples like base + adapter (up to float rounding in W0 + BA)
  r = run("lora merge --base " + base + " --lora " + (tmp / "nine.safetensors") + ":1 --out " +
          (tmp / "merged.safetensors"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "into 40 layers"));
  REQUIRE(run("sample --prompt \"a handwritten digit nine\" --n 2 --steps 3 --seed 5 --model " +
              (tmp / "merged.safetensors") + " --out " + (tmp / "s_merged.png"))
              .rc == 0);
  {
    std::vector<float> m = png_pixels(tmp / "s_merged.png"), w = png_pixels(tmp / "s_w1.png");
    REQUIRE(m.size() == w.size());
    int far = 0;
    for (size_t i = 0; i < m.size(); ++i) far += std::fabs(m[i] - w[i]) > 2;
    CHECK(far < static_cast<int>(m.size() / 100));
  }

  // --- extract from (base, merged) at rank 4: the same update (alpha/r) B A in every layer
  r = run("lora extract --base " + base + " --tuned " + (tmp / "merged.safetensors") + " --rank 4 --out " +
          (tmp / "extracted.safetensors"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  lora::Adapter ex = lora::read_adapter(tmp / "extracted.safetensors");
  REQUIRE(ex.layers.size() == 40);
  for (size_t i = 0; i < 40; ++i) {
    Tensor d = sub(ex.delta_matrix(i), a.delta_matrix(i));
    double worst = 0, scale = 0;
    for (float v : d.to_vector()) worst = std::max(worst, double(std::fabs(v)));
    for (float v : a.delta_matrix(i).to_vector()) scale = std::max(scale, double(std::fabs(v)));
    CHECK(worst <= 1e-3 * scale + 1e-6);  // W0 + BA rounded to float, then subtracted
  }

  // --- resize to rank 2 and by energy
  r = run("lora resize --in " + (tmp / "nine.safetensors") + " --rank 2 --out " + (tmp / "r2.safetensors"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "4 -> 2"));
  CHECK(has(r.output, "8448 -> 4224 parameters"));
  lora::Adapter r2 = lora::read_adapter(tmp / "r2.safetensors");
  for (size_t i = 0; i < 40; ++i) {
    std::vector<float> s0 = lora::svd(a.delta_matrix(i)).S.to_vector(),
                       s2 = lora::svd(r2.delta_matrix(i)).S.to_vector();
    CHECK(s2[0] == doctest::Approx(s0[0]).epsilon(1e-3));
    CHECK(s2[1] == doctest::Approx(s0[1]).epsilon(1e-3).scale(1e-6));
  }
  r = run("lora resize --in " + (tmp / "nine.safetensors") + " --energy 0.9 --out " +
          (tmp / "e90.safetensors"));
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "energy kept"));
  r = run("lora info " + (tmp / "e90.safetensors"));
  CHECK(r.rc == 0);
  CHECK(has(r.output, "resized_from"));
  CHECK(has(r.output, "unet.mid.attn.cross_attn.to_k"));

  // --- two adapters at once
  r = run("sample" + common + " --out " + (tmp / "s_two.png") + " --lora " + (tmp / "nine.safetensors") +
          ":0.5 --lora " + (tmp / "r2.safetensors") + ":0.5");
  INFO(r.output);
  CHECK(r.rc == 0);

  // --- full fine-tuning on the same folder: a checkpoint of every weight
  r = run("lora train --full --base " + base + " --data " + (tmp / "nines") + " --out " +
          (tmp / "full.safetensors") + " --steps 3 --batch 4 --lr 1e-3 --no-progress");
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "full fine-tuning"));
  auto full = diffusion::load_model(tmp / "full.safetensors");
  CHECK(full.metadata.at("fine_tuned_from") == a.base_weights_hash);
  r = run("lora extract --base " + base + " --tuned " + (tmp / "full.safetensors") + " --rank 2 --out " +
          (tmp / "from_full.safetensors"));
  INFO(r.output);
  CHECK(r.rc == 0);
  CHECK(has(r.output, "parameters outside the adapter also differ"));
}

TEST_CASE("lora command errors name the file, layer or option") {
  TempDir tmp("test-cli-lora");
  const std::string base = tmp / "base.safetensors", small = tmp / "small.safetensors";
  write_base(base, "mnist-t2i-tiny");
  write_base(small, "mnist-t2i-small");
  write_folder(tmp.path / "few", 4, 0);

  Result r = run("lora train --base " + base + " --data " + (tmp / "few") + " --out " +
                 (tmp / "x.safetensors") + " --batch 8 --steps 1");
  CHECK(r.rc != 0);
  CHECK(has(r.output, "--batch: 8 is larger than the 4 image/caption pairs"));
  r = run("lora train --base " + base + " --data " + (tmp / "few") + " --out " + (tmp / "few/x.safetensors") +
          " --batch 2 --steps 1");
  CHECK(r.rc != 0);
  CHECK(has(r.output, "inside the data folder"));
  CHECK_FALSE(fs::exists(tmp.path / "few" / "x.safetensors"));
  r = run("lora train --base " + base + " --data " + (tmp / "few") + " --out " + (tmp / "x.safetensors") +
          " --batch 2 --steps 1 --targets to_nothing");
  CHECK(r.rc != 0);
  CHECK(has(r.output, "'to_nothing' matches no Linear or Conv2d"));

  // an adapter of the tiny config onto the small one: shapes do not fit, named by layer
  REQUIRE(run("lora train --base " + base + " --data " + (tmp / "few") + " --out " + (tmp / "a.safetensors") +
              " --batch 2 --steps 1 --no-progress")
              .rc == 0);
  r = run("sample --model " + small + " --prompt nine --n 1 --steps 2 --out " + (tmp / "s.png") + " --lora " +
          (tmp / "a.safetensors"));
  CHECK(r.rc != 0);
  CHECK(has(r.output, "does not fit"));
  CHECK(has(r.output, "layer 'unet."));
  CHECK_FALSE(fs::exists(tmp.path / "s.png"));
  r = run("lora merge --base " + base + " --lora " + base + " --out " + (tmp / "m.safetensors"));
  CHECK(r.rc != 0);
  CHECK(has(r.output, "not a loradiff LoRA adapter"));
  r = run("lora extract --base " + base + " --tuned " + small + " --rank 2 --out " + (tmp / "e.safetensors"));
  CHECK(r.rc != 0);
  CHECK(has(r.output, "needs the same architecture"));
  r = run("lora extract --base " + base + " --tuned " + base + " --rank 2 --out " + (tmp / "e.safetensors"));
  CHECK(r.rc != 0);
  CHECK(has(r.output, "identical weights"));
  r = run("lora resize --in " + (tmp / "a.safetensors") + " --out " + (tmp / "r.safetensors"));
  CHECK(r.rc != 0);
  CHECK(has(r.output, "exactly one of --rank"));
  r = run("sample --model " + base + " --prompt nine --n 1 --steps 2 --out " + (tmp / "s.png") + " --lora " +
          (tmp / "a.safetensors") + ":abc");
  CHECK(r.rc != 0);
  CHECK(has(r.output, "a.safetensors:abc"));
}

TEST_CASE("lora train --resume continues bit-identically; a changed setup or a missing state is refused") {
  TempDir tmp("test-cli-lora");
  const std::string base = tmp / "base.safetensors";
  write_base(base, "mnist-t2i-tiny");
  write_folder(tmp.path / "nines", 8, 0);
  // adapter dropout on, so the dropout generators are part of what must be restored
  const std::string common =
      " --base " + base + " --data " + (tmp / "nines") +
      " --batch 3 --lr 2e-3 --dropout 0.1 --seed 5 --save-every 2 --log-every 1 --no-progress";

  Result r = run("lora train" + common + " --out " + (tmp / "full.safetensors") + " --steps 7");
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(fs::exists(tmp.path / "full-log" / "train_state.safetensors"));

  // the same run stopped after 3 steps (mid-epoch: 8 pairs, batch 3), then resumed to 7
  r = run("lora train" + common + " --out " + (tmp / "part.safetensors") + " --steps 3");
  REQUIRE(r.rc == 0);
  r = run("lora train" + common + " --out " + (tmp / "part.safetensors") + " --steps 7 --resume");
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "resuming"));
  CHECK(has(r.output, "at step 3"));
  CHECK(has(r.output, "trained: 7 steps"));
  {
    nn::SafeTensors a = nn::load_safetensors(tmp / "full.safetensors");
    nn::SafeTensors b = nn::load_safetensors(tmp / "part.safetensors");
    REQUIRE(a.tensors.size() == b.tensors.size());
    REQUIRE(!a.tensors.empty());
    for (const auto& [name, t] : a.tensors) {
      INFO(name);
      REQUIRE(b.tensors.count(name) == 1);
      const std::vector<float> x = t.to_vector(), y = b.tensors.at(name).to_vector();
      CHECK(x == y);  // bit for bit
    }
  }
  // the loss log holds each step once, with the uninterrupted run's losses (all but the seconds column)
  auto without_seconds = [](const std::string& csv) {
    std::istringstream lines(csv);
    std::string line, out;
    while (std::getline(lines, line)) out += line.substr(0, line.rfind(',')) + "\n";
    return out;
  };
  CHECK(without_seconds(read_file(tmp / "part-log/loss.csv")) ==
        without_seconds(read_file(tmp / "full-log/loss.csv")));

  // prior preservation (--reg): a second loader whose position is part of the state
  write_folder(tmp.path / "reg", 5, 2);
  const std::string reg = " --reg " + (tmp / "reg") + " --prior-weight 0.5";
  r = run("lora train" + common + reg + " --out " + (tmp / "rfull.safetensors") + " --steps 5");
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "prior preservation: 5 pairs"));
  REQUIRE(run("lora train" + common + reg + " --out " + (tmp / "rpart.safetensors") + " --steps 2").rc == 0);
  REQUIRE(
      run("lora train" + common + reg + " --out " + (tmp / "rpart.safetensors") + " --steps 5 --resume").rc ==
      0);
  {
    nn::SafeTensors a = nn::load_safetensors(tmp / "rfull.safetensors");
    nn::SafeTensors b = nn::load_safetensors(tmp / "rpart.safetensors");
    for (const auto& [name, t] : a.tensors) CHECK(t.to_vector() == b.tensors.at(name).to_vector());
    CHECK(has(a.metadata.at("training"), "\"reg_pairs\":5"));
    // and it differs from the run without --reg
    nn::SafeTensors c = nn::load_safetensors(tmp / "full.safetensors");
    CHECK(a.tensors.begin()->second.to_vector() != c.tensors.begin()->second.to_vector());
  }
  // a resume without the --reg of the saved run is refused
  r = run("lora train" + common + " --out " + (tmp / "rpart.safetensors") + " --steps 6 --resume");
  CHECK(r.rc != 0);
  CHECK(has(r.output, "prior_weight = 0.5"));

  // a different learning rate is a different run: refused, and the state is left as it was
  const std::string state_before = read_file(tmp / "part-log/train_state.safetensors");
  r = run("lora train --base " + base + " --data " + (tmp / "nines") +
          " --batch 3 --lr 1e-3 --dropout 0.1 --seed 5 --save-every 2 --no-progress --out " +
          (tmp / "part.safetensors") + " --steps 9 --resume");
  CHECK(r.rc != 0);
  CHECK(has(r.output, "--resume: the run in"));
  CHECK(has(r.output, "lr = 0.002"));
  CHECK(read_file(tmp / "part-log/train_state.safetensors") == state_before);
  // a damaged state (bad JSON in its metadata) is named, not a bare JSON error
  {
    nn::SafeTensors st = nn::load_safetensors(tmp / "part-log/train_state.safetensors");
    st.metadata["rng"] = "{not json";
    nn::save_safetensors(tmp / "part-log/train_state.safetensors", st.tensors, st.metadata);
  }
  r = run("lora train" + common + " --out " + (tmp / "part.safetensors") + " --steps 9 --resume");
  CHECK(r.rc != 0);
  CHECK(has(r.output, "train_state.safetensors' is damaged"));
  // nothing to resume from
  r = run("lora train" + common + " --out " + (tmp / "new.safetensors") + " --steps 2 --resume");
  CHECK(r.rc != 0);
  CHECK(has(r.output, "--resume: there is no training state"));
  CHECK_FALSE(fs::exists(tmp.path / "new.safetensors"));
}
