// Inputs that are not what they claim, given to every command that reads a model, adapter,
// classifier or config: a FIFO (must not block us), /dev/zero (must not be read forever), a
// folder, a file holding one NaN weight, a file with 10 MB appended. Each must make
// `loradiff` exit non-zero within seconds (never a signal, never a hang) with exactly one
// line, which names the path and the reason; nothing is written.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "data/image.h"
#include "data/mnist.h"
#include "data/png.h"
#include "diffusion/model_io.h"
#include "lora/adapter_file.h"
#include "lora/attach.h"
#include "nn/classifier.h"
#include "tensor/file_io.h"
#include "tests/apps/cli_fixture.h"
#include "tests/apps/cli_run.h"

namespace fs = std::filesystem;
using namespace ld;

namespace {

using Result = test::ExecResult;
Result run(const std::vector<std::string>& args, int timeout_s) { return test::run_argv(args, timeout_s); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty() && l.find_first_not_of(" \r") != std::string::npos) out.push_back(l);
  return out;
}

void append_10mb(const std::string& from, const std::string& to) {
  write_file_atomic(to, read_file(from) + std::string(10'000'000, '\0'));
}

// The good files, and for each kind of input (model, classifier, adapter, config) its NaN
// and its 10-MB-longer variant, made with the library's own writers.
struct Fixture {
  fs::path dir;
  std::string path(const std::string& name) const { return (dir / name).string(); }

  Fixture() {
    dir = fs::temp_directory_path() / ("loradiff-refuse-inputs-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "adir");
    REQUIRE(::mkfifo(path("fifo.safetensors").c_str(), 0600) == 0);
    test::write_bar_mnist(dir);  // tests/apps/cli_fixture.h
    test::write_seven_folder(dir);
    // model.safetensors, adapter.safetensors, classifier.safetensors (tests/apps/cli_fixture.h); each
    // also 10 MB longer than its header says, and with one NaN written straight into the file (the
    // library's writers refuse NaN)
    test::write_tiny_models(dir);
    const std::string adapter_layer = lora::read_adapter(path("adapter.safetensors")).layers[1].name;
    for (const auto& [kind, tensor, element] :
         {std::tuple<std::string, std::string, int64_t>{"model", "unet.mid.attn.cross_attn.to_v.weight", 3},
          {"adapter", adapter_layer + ".lora_B.weight", 0},
          {"classifier", "fc2.bias", 4}}) {
      append_10mb(path(kind + ".safetensors"), path(kind + "-long.safetensors"));
      nn::SafeTensors st = nn::load_safetensors(path(kind + ".safetensors"));
      st.tensors.at(tensor).f32()[element] = std::nanf("");
      nn::save_safetensors(path(kind + "-nan.safetensors"), st.tensors, st.metadata);
    }
    // config: JSON has no NaN; a config holding one is not valid JSON
    const std::string cfg = diffusion::load_config("mnist-t2i-tiny").to_json().dump();
    write_file_atomic(path("config.json"), cfg);
    append_10mb(path("config.json"), path("config-long.json"));
    write_file_atomic(path("config-nan.json"), cfg.substr(0, cfg.size() - 1) + ", \"beta_start\": NaN}");
  }
  ~Fixture() { fs::remove_all(dir); }
};

struct Command {
  const char* what;
  const char* line;  // {X} is the input under test; {dir} the fixture folder
  const char* kind;  // model, classifier, adapter or config: which NaN / long file to use
};

const Command kCommands[] = {
    {"sample --model", "sample --model {X} --prompt seven --n 1 --steps 2 --out {dir}/out.png", "model"},
    {"eval --model",
     "eval --model {X} --classifier {dir}/classifier.safetensors --data {dir}/mnist --n-per-digit 2 --digits "
     "1 "
     "--steps 2 --json {dir}/out.json",
     "model"},
    {"eval --classifier",
     "eval --model {dir}/model.safetensors --classifier {X} --data {dir}/mnist --n-per-digit 2 --digits 1 "
     "--steps 2 --json {dir}/out.json",
     "classifier"},
    {"lora train --base",
     "lora train --base {X} --data {dir}/images --out {dir}/out.safetensors --steps 1 --batch 2 "
     "--no-progress",
     "model"},
    {"sample --lora",
     "sample --model {dir}/model.safetensors --lora {X} --prompt seven --n 1 --steps 2 --out {dir}/out.png",
     "adapter"},
    {"train --config",
     "train --config {X} --data {dir}/mnist --out {dir}/run --steps 1 --batch 4 --no-progress", "config"},
    {"lora info", "lora info {X}", "adapter"},
};

struct Input {
  const char* what;
  std::string path;
  const char* reason;  // the error line says this
};

std::vector<std::string> split_args(const std::string& line, const std::string& x, const std::string& dir) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; in >> w;) {
    for (size_t at; (at = w.find("{X}")) != std::string::npos;) w.replace(at, 3, x);
    for (size_t at; (at = w.find("{dir}")) != std::string::npos;) w.replace(at, 5, dir);
    out.push_back(w);
  }
  return out;
}

}  // namespace

TEST_CASE("a FIFO, /dev/zero, a folder, a NaN weight or 10 MB appended: one line naming the path, at once") {
  Fixture f;
  int cases = 0;
  for (const Command& c : kCommands) {
    const std::string kind = c.kind;
    const std::string ext = kind == "config" ? ".json" : ".safetensors";
    const std::vector<Input> inputs{
        {"a FIFO", f.path("fifo.safetensors"), "it is a FIFO (named pipe), not a regular file"},
        {"/dev/zero", "/dev/zero", "it is a character device, not a regular file"},
        {"a folder", f.path("adir"), "it is a directory, not a regular file"},
        {"a NaN", f.path(kind + "-nan" + ext), kind == "config" ? "not valid JSON" : "holds nan at element"},
        {"10 MB appended", f.path(kind + "-long" + ext),
         kind == "config" ? "not valid JSON" : "bytes but its header describes"},
    };
    for (const Input& in : inputs) {
      const std::string command = c.what, input = in.what;
      CAPTURE(command);
      CAPTURE(input);
      fs::remove(f.dir / "out.png");
      fs::remove(f.dir / "out.json");
      const Result r = run(split_args(c.line, in.path, f.dir.string()), 20);
      INFO(r.output);
      CHECK_FALSE(r.timed_out);
      CHECK(r.exited);
      CHECK(r.code >= 1);
      CHECK(r.code <= 127);
      CHECK(r.seconds < 10);  // "within a few seconds" on a loaded 2-core machine
      const std::vector<std::string> lines = lines_of(r.output);
      REQUIRE(lines.size() == 1);
      CHECK(lines[0].rfind("loradiff: error: ", 0) == 0);
      CHECK(lines[0].find(in.path) != std::string::npos);
      CHECK(lines[0].find(in.reason) != std::string::npos);
      CHECK(lines[0].size() < 400);
      CHECK_FALSE(fs::exists(f.dir / "out.png"));
      CHECK_FALSE(fs::exists(f.dir / "out.json"));
      ++cases;
    }
  }
  CHECK(cases == 35);
}

TEST_CASE("a finite checkpoint whose model computes Inf: sample and eval name the step, write nothing") {
  Fixture f;
  // out_conv weights of 3e38 (finite, so the file loads): the predicted noise overflows
  const data::Vocabulary& vocab = data::Vocabulary::builtin();
  auto model = diffusion::build_model(diffusion::load_config("mnist-t2i-tiny"), vocab, 0);
  Tensor w = model->get_module("unet.out_conv")->parameter("weight").value();
  w.fill_(3e38f);
  const std::string huge = f.path("model-huge.safetensors");
  diffusion::save_model(huge, *model, vocab);
  const std::string want =
      "the model produced non-finite values at sampling step 1 of 2 (model '" + huge + "')";
  Result r = run({"sample", "--model", huge, "--prompt", "seven", "--n", "1", "--steps", "2", "--out",
                  f.path("out.png"), "--out-dir", f.path("pngs")},
                 30);
  INFO(r.output);
  CHECK(r.code == 1);
  CHECK(r.output.find(want) != std::string::npos);
  CHECK_FALSE(fs::exists(f.dir / "out.png"));
  CHECK_FALSE(fs::exists(f.dir / "pngs"));
  r = run(
      {"eval", "--model", huge, "--classifier", f.path("classifier.safetensors"), "--data", f.path("mnist"),
       "--n-per-digit", "2", "--digits", "1", "--steps", "2", "--json", f.path("out.json")},
      30);
  INFO(r.output);
  CHECK(r.code == 1);
  CHECK(r.output.find(want) != std::string::npos);
  CHECK_FALSE(fs::exists(f.dir / "out.json"));
  // the good files pass the same loaders
  CHECK(run({"lora", "info", f.path("adapter.safetensors")}, 30).code == 0);
}

TEST_CASE("resume: a train state holding a NaN, or with 10 MB appended, is refused naming the file") {
  Fixture f;
  struct Run {
    const char* what;
    std::vector<std::string> first;  // makes the state
    std::string state;
  };
  const std::vector<Run> runs{
      {"train",
       {"train", "--config", "mnist-t2i-tiny", "--data", f.path("mnist"), "--out", f.path("run"), "--steps",
        "1", "--batch", "4", "--sample-every", "0", "--eval-every", "0", "--no-progress"},
       f.path("run/train_state.safetensors")},
      {"lora train",
       {"lora", "train", "--base", f.path("model.safetensors"), "--data", f.path("images"), "--out",
        f.path("ad.safetensors"), "--steps", "1", "--batch", "2", "--sample-every", "0", "--no-progress"},
       f.path("ad-log/train_state.safetensors")},
  };
  for (const Run& run_ : runs) {
    const std::string what = run_.what;
    CAPTURE(what);
    Result r = run(run_.first, 60);
    INFO(r.output);
    REQUIRE(r.code == 0);
    REQUIRE(fs::exists(run_.state));
    const std::string good = read_file(run_.state);
    std::vector<std::string> again = run_.first;
    again.push_back("--resume");
    for (std::string& a : again)
      if (a == "1") a = "2";  // --steps 2
    // one NaN in the first F32 tensor of the state
    nn::SafeTensors st = nn::load_safetensors(run_.state);
    auto bad = st.tensors.begin();
    while (bad->second.dtype() != DType::F32 || bad->second.numel() == 0) ++bad;
    const std::string first = bad->first;
    bad->second.f32()[0] = std::nanf("");
    nn::save_safetensors(run_.state, st.tensors, st.metadata);
    r = run(again, 30);
    INFO(r.output);
    CHECK(r.code == 1);
    const std::string want = run_.state + "': tensor '" + first + "' holds nan at element 0";
    CHECK(r.output.find(want) != std::string::npos);
    // 10 MB appended
    write_file_atomic(run_.state, good + std::string(10'000'000, '\0'));
    r = run(again, 30);
    INFO(r.output);
    CHECK(r.code == 1);
    CHECK(r.output.find("'" + run_.state + "' is " + std::to_string(good.size() + 10'000'000) +
                        " bytes but its header describes " + std::to_string(good.size()) + " bytes") !=
          std::string::npos);
    // the good state resumes
    write_file_atomic(run_.state, good);
    r = run(again, 60);
    INFO(r.output);
    CHECK(r.code == 0);
  }
}

TEST_CASE("compress-plot --results: a FIFO or /dev/zero is refused at once") {
  Fixture f;
  for (const std::string& in : {f.path("fifo.safetensors"), std::string("/dev/zero")}) {
    const Result r = run({"compress-plot", "--results", in, "--out", f.path("out.png")}, 20);
    INFO(r.output);
    CHECK(r.code == 1);
    CHECK(r.output.find("--results: cannot read '" + in + "'") != std::string::npos);
    CHECK(r.output.find("not a regular file") != std::string::npos);
  }
}

TEST_CASE("adapter weights that overflow: sample --lora and lora merge refuse and write nothing") {
  Fixture f;
  // A = 100, B = 1000, r = 2, alpha = 4: w (alpha / r) B A = 4e5 w in every element
  lora::Adapter big = lora::read_adapter(f.path("adapter.safetensors"));
  for (auto& l : big.layers) {
    l.A = Tensor::full(l.A.shape(), 1e2f);
    l.B = Tensor::full(l.B.shape(), 1e3f);
  }
  REQUIRE(big.alpha == 4.0f);
  const std::string file = f.path("big.safetensors");
  lora::save_adapter(file, big);
  Result r = run({"sample", "--model", f.path("model.safetensors"), "--lora", file + ":1e34", "--prompt",
                  "seven", "--n", "1", "--steps", "2", "--out", f.path("out.png")},
                 30);
  INFO(r.output);
  CHECK(r.code == 1);
  CHECK(r.output.find("adapter '" + file +
                      "' at weight 1e+34: the merged weight W + w (alpha / r) B A of layer") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(f.dir / "out.png"));
  // each adapter alone is finite (2e38), the two merged overflow
  r = run({"lora", "merge", "--base", f.path("model.safetensors"), "--lora", file + ":5e32", "--lora",
           file + ":5e32", "--out", f.path("merged.safetensors")},
          30);
  INFO(r.output);
  CHECK(r.code == 1);
  CHECK(r.output.find(
            "would hold non-finite weights after merging adapter(s) 'big' at weight 5e+32, 'big_2' at "
            "weight 5e+32; nothing was merged") != std::string::npos);
  CHECK_FALSE(fs::exists(f.dir / "merged.safetensors"));
  // one of them merges
  r = run({"lora", "merge", "--base", f.path("model.safetensors"), "--lora", file + ":5e32", "--out",
           f.path("merged.safetensors")},
          30);
  INFO(r.output);
  CHECK(r.code == 0);
}
