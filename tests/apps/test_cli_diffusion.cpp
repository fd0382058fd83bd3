// `loradiff train`, `sample` and `eval` end to end through the binary, on a tiny
// generated MNIST in a temporary folder: a few training steps, sampling with the
// PNG parameters chunk and per-image files, same seed -> same images, unknown words
// warned, evaluation JSON, and clear errors for a bad checkpoint, config or flag.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "data/mnist.h"
#include "data/png.h"
#include "nn/safetensors.h"
#include "tensor/file_io.h"
#include "tensor/random.h"
#include "tests/apps/cli_run.h"

namespace fs = std::filesystem;
using namespace ld;

namespace {

using Result = ld::test::CliResult;
inline Result run(const std::string& args) { return ld::test::run_cli(args); }

data::Digits bars(int64_t n, uint64_t seed) {
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

struct Fixture {
  fs::path dir;
  std::string mnist, run_dir, ckpt;
  Fixture() {
    dir = fs::temp_directory_path() / ("loradiff-test-cli-diffusion-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "mnist");
    mnist = (dir / "mnist").string();
    data::save_mnist(mnist, data::Split::Train, bars(40, 1));
    data::save_mnist(mnist, data::Split::Test, bars(40, 2));
    run_dir = (dir / "run").string();
    ckpt = run_dir + "/model.safetensors";
  }
  ~Fixture() { fs::remove_all(dir); }
};

}  // namespace

TEST_CASE("train -> sample -> eval through the binary") {
  Fixture f;
  Result tr = run("train --config mnist-t2i-tiny --data " + f.mnist + " --out " + f.run_dir +
                  " --steps 4 --batch 8 --checkpoint-every 2 --sample-every 4 --sample-steps 2 --eval-every 2"
                  " --eval-batches 1 --no-progress");
  INFO(tr.output);
  REQUIRE(tr.rc == 0);
  CHECK(tr.output.find("steps 0 -> 4") != std::string::npos);
  CHECK(fs::exists(f.ckpt));
  CHECK(fs::exists(f.run_dir + "/samples/step_0000004.png"));
  CHECK(fs::exists(f.run_dir + "/loss.csv"));
  {
    // a copy of the run whose resume state has damaged metadata: named, not a bare JSON error
    const std::string copy = f.run_dir + "-damaged";
    fs::copy(f.run_dir, copy, fs::copy_options::recursive);
    nn::SafeTensors st = nn::load_safetensors(copy + "/train_state.safetensors");
    st.metadata["rng"] = "{not json";
    nn::save_safetensors(copy + "/train_state.safetensors", st.tensors, st.metadata);
    Result d = run("train --config mnist-t2i-tiny --data " + f.mnist + " --out " + copy +
                   " --steps 6 --batch 8 --resume --no-progress");
    CHECK(d.rc != 0);
    CHECK(d.output.find("train_state.safetensors' is damaged") != std::string::npos);
    fs::remove_all(copy);
  }

  // sample: grid with parameters, one PNG per image, same seed -> same bytes
  const std::string grid1 = (f.dir / "g1.png").string(), grid2 = (f.dir / "g2.png").string();
  const std::string common = "sample --model " + f.ckpt + " --n 4 --steps 3 --guidance 2.5 --seed 7 ";
  Result s1 = run(common + "--prompt \"a handwritten digit seven\" --out " + grid1 + " --out-dir " +
                  (f.dir / "each").string());
  INFO(s1.output);
  REQUIRE(s1.rc == 0);
  Result s2 = run(common + "--prompt \"a handwritten digit seven\" --out " + grid2);
  REQUIRE(s2.rc == 0);
  CHECK(read_file(grid1) == read_file(grid2));
  auto params = data::read_png_parameters(grid1);
  REQUIRE(params.has_value());
  CHECK(params->prompt == "a handwritten digit seven");
  CHECK(params->seed == 7);
  CHECK(params->steps == 3);
  CHECK(params->guidance == doctest::Approx(2.5));
  CHECK_FALSE(params->model_hash.empty());
  CHECK(fs::exists(f.dir / "each" / "00003.png"));
  Result s3 =
      run("sample --model " + f.ckpt +
          " --n 4 --steps 3 --guidance 2.5 --seed 8 --prompt \"a handwritten digit seven\" --out " + grid2);
  REQUIRE(s3.rc == 0);
  CHECK(read_file(grid1) != read_file(grid2));

  // unknown words are warned about, not fatal
  Result unk = run(common + "--prompt \"a purple digit seven\" --out " + grid2);
  CHECK(unk.rc == 0);
  CHECK(unk.output.find("purple") != std::string::npos);

  // eval with a briefly trained classifier: JSON with accuracy and Frechet distances
  const std::string cls = (f.dir / "cls.safetensors").string();
  Result ct = run("classifier train --data " + f.mnist + " --out " + cls +
                  " --steps 5 --batch-size 8 --c1 4 --c2 4 --hidden 8");
  INFO(ct.output);
  REQUIRE(ct.rc == 0);
  const std::string json_path = (f.dir / "eval.json").string();
  Result ev = run("eval --model " + f.ckpt + " --classifier " + cls + " --data " + f.mnist +
                  " --n-per-digit 2 --digits 1,7 --steps 2 --json " + json_path);
  INFO(ev.output);
  REQUIRE(ev.rc == 0);
  auto j = nlohmann::json::parse(read_file(json_path));
  CHECK(j.at("n_generated") == 4);
  CHECK(j.at("prompt_accuracy").get<double>() >= 0.0);
  CHECK(j.at("prompt_accuracy").get<double>() <= 1.0);
  CHECK(j.at("per_digit").contains("7"));
  CHECK(j.at("frechet_distance").get<double>() >= 0.0);
  CHECK(j.at("frechet_real_vs_real").get<double>() >= 0.0);
}

TEST_CASE("bad checkpoints, configs and flags give one clear line and a non-zero exit") {
  Fixture f;
  // a truncated checkpoint
  const std::string bad = (f.dir / "truncated.safetensors").string();
  write_file_atomic(bad, std::string("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13));
  Result r = run("sample --model " + bad + " --prompt \"a handwritten digit one\" --out " +
                 (f.dir / "x.png").string());
  CHECK(r.rc == 1);
  CHECK(r.output.find(bad) != std::string::npos);
  CHECK(r.output.find("loradiff: error:") != std::string::npos);
  // a missing checkpoint
  r = run("sample --model " + (f.dir / "none.safetensors").string() + " --prompt x --out " +
          (f.dir / "x.png").string());
  CHECK(r.rc == 1);
  CHECK(r.output.find("none.safetensors") != std::string::npos);
  // a config with a bad field
  const std::string cfg = (f.dir / "bad.json").string();
  write_file_atomic(cfg, R"({"name": "x", "channels": [8, 16], "groups": 4, "heads": 2})");
  r = run("train --config " + cfg + " --data " + f.mnist + " --out " + (f.dir / "r").string() + " --steps 1");
  INFO(r.output);
  CHECK(r.rc == 1);
  CHECK(r.output.find("channels") != std::string::npos);
  // unknown sampler, NaN guidance
  r = run("sample --model " + bad + " --prompt x --sampler heun --out " + (f.dir / "x.png").string());
  CHECK(r.rc != 0);
  CHECK(r.output.find("--sampler") != std::string::npos);
}
