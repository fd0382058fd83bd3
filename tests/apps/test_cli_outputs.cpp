// tests/apps/test_cli_outputs.cpp: outputs never destroy inputs, another run's files or a file of another
// kind (tensor/path_guard.h, docs/reliability.md). Every command that writes is run with an output that
// names one of its inputs (directly, as ./x, a/../x, a symlink, a hard link), with an output over a file of
// another kind, and into run folders that belong to another command; each must refuse before any work,
// naming the options, and leave the files byte for byte as they were. Then resume checks and the
// one-process-per-run-folder lock.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "data/image.h"
#include "data/mnist.h"
#include "data/png.h"
#include "diffusion/model_io.h"
#include "lora/adapter_file.h"
#include "lora/attach.h"
#include "nn/classifier.h"
#include "tensor/file_io.h"
#include "tensor/path_guard.h"
#include "tensor/random.h"
#include "tests/apps/cli_fixture.h"
#include "tests/apps/cli_run.h"
#include "tests/temp_dir.h"

namespace fs = std::filesystem;
using namespace ld;
using ld::test::run_cli;
using ld::test::write_bar_mnist;
using ld::test::write_seven_folder;
using ld::test::write_tiny_models;

namespace {

struct Fixture {
  test::TempDir tmp{"cli-outputs"};
  std::string dir = tmp.path.string();
  Fixture() {
    fs::create_directories(tmp.path / "adir");
    write_file_atomic(tmp / "notes.txt", "x,y\n1,2\n");
    write_bar_mnist(tmp.path);
    write_tiny_models(tmp.path);
    write_seven_folder(tmp.path);
    fs::create_symlink(tmp / "model.safetensors", tmp / "link.safetensors");
    fs::create_hard_link(tmp / "model.safetensors", tmp / "hard.safetensors");
    // a "training run" folder: a model beside a train state
    fs::create_directories(tmp.path / "somerun");
    fs::copy_file(tmp / "model.safetensors", tmp / "somerun/model.safetensors");
    nn::save_safetensors(tmp / "somerun/train_state.safetensors", {}, {{"format", "loradiff-train-state"}});
  }
  // "{model}" -> <dir>/model.safetensors, "{x}" -> <dir>/x; "{prompt}" -> a quoted caption
  std::string args(std::string line) const {
    for (size_t b; (b = line.find('{')) != std::string::npos;) {
      const size_t e = line.find('}', b);
      const std::string key = line.substr(b + 1, e - b - 1);
      std::string value;
      if (key == "prompt")
        value = "'a handwritten digit seven'";
      else if (key == "dir")
        value = dir;
      else if (key == "model" || key == "model2" || key == "adapter" || key == "classifier")
        value = dir + "/" + key + ".safetensors";
      else
        value = dir + "/" + key;
      line.replace(b, e - b + 1, value);
    }
    return line;
  }
  // every file of the fixture, with its bytes
  std::vector<std::pair<std::string, std::string>> snapshot() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& e : fs::recursive_directory_iterator(tmp.path))
      if (e.is_regular_file() && !e.is_symlink())
        out.push_back({e.path().string(), read_file(e.path().string())});
    std::sort(out.begin(), out.end());
    return out;
  }
};

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

struct Case {
  const char* args;
  std::vector<const char*> names;  // the error line names each of these
};

// Outputs that are inputs (after resolving), outputs over another kind of file, another run's model,
// missing output folders: each refused before any work, files unchanged.
const Case kRefused[] = {
    {"lora merge --base {model} --lora {adapter} --out {model}", {"--out", "--base", "same file"}},
    {"lora merge --base {model} --lora {adapter} --out {dir}/./model.safetensors", {"--out", "--base"}},
    {"lora merge --base {model} --lora {adapter} --out {adir}/../model.safetensors", {"--out", "--base"}},
    {"lora merge --base {model} --lora {adapter} --out {link.safetensors}", {"--out", "--base"}},
    {"lora merge --base {model} --lora {adapter} --out {hard.safetensors}", {"--out", "--base"}},
    {"lora merge --base {link.safetensors} --lora {adapter} --out {hard.safetensors}", {"--out", "--base"}},
    {"lora merge --base {model} --lora {adapter}:0.5 --out {adapter}", {"--out", "--lora"}},
    {"lora merge --base {model2} --lora {adapter} --out {classifier}", {"--out", "classifier checkpoint"}},
    {"lora merge --base {model2} --lora {adapter} --out {somerun}/model.safetensors",
     {"--out", "training run"}},
    {"lora resize --in {adapter} --rank 1 --out {adapter}", {"--out", "--in"}},
    {"lora resize --in {adapter} --rank 1 --out {model}", {"--out", "model checkpoint"}},
    {"lora extract --base {model} --tuned {model2} --out {model2}", {"--out", "--tuned"}},
    {"lora train --base {model} --data {images} --out {model2} --steps 1", {"--out", "model checkpoint"}},
    {"lora train --base {model} --data {images} --out {model} --steps 1", {"--out", "--base"}},
    {"lora train --base {model} --data {images} --out {adir}/a.safetensors --log-dir {somerun} --steps 1",
     {"--log-dir", "`train` resume state"}},
    {"sample --model {model} --prompt {prompt} --n 1 --steps 1 --out {model}", {"--out", "--model"}},
    {"sample --model {model} --prompt {prompt} --n 1 --steps 1 --out {classifier}", {"--out", "classifier"}},
    {"sample --model {model} --prompt {prompt} --n 1 --steps 1 --out {notes.txt}", {"--out", "text file"}},
    {"sample --model {model} --prompt {prompt} --n 1 --steps 1 --out {nosuch}/x.png",
     {"--out", "does not exist"}},
    {"sample --model {model} --prompt {prompt} --n 1 --steps 1 --out {adir}", {"--out", "folder"}},
    {"sample --model {model} --prompt {prompt} --n 1 --steps 1 --out {adir}/g.png --out-dir {notes.txt}",
     {"--out-dir", "not a folder"}},
    {"eval --model {model} --classifier {classifier} --data {mnist} --json {model}", {"--json", "--model"}},
    {"eval --model {model} --classifier {classifier} --data {mnist} --json {classifier}",
     {"--json", "--classifier"}},
    {"eval --model {model} --classifier {classifier} --data {mnist} --json {adapter}",
     {"--json", "LoRA adapter"}},
    {"compress --model {model} --method svd --rank 1 --out {model}", {"--out", "--model"}},
    {"compress --model {model} --method svd --rank 1 --out {adir}/c.safetensors --json {model2}",
     {"--json", "model checkpoint"}},
    {"compress --model {model} --method svd --rank 1 --out {adir}/c.safetensors --json {adir}/c.safetensors",
     {"--json", "--out"}},
    {"compress-plot --results {notes.txt} --out {notes.txt}", {"--out", "--results"}},
    {"classifier train --data {mnist} --out {model} --steps 1", {"--out", "model checkpoint"}},
    {"data check-folder {images} --preview {images}/p.png", {"--preview", "inside"}},
    {"data export-mnist --digit 3 --n 2 --data {mnist} --out {mnist}", {"--out", "--data"}},
    {"data fetch-mnist --from {mnist} --out {mnist}", {"--out", "--from"}},
};

}  // namespace

TEST_CASE("an output never overwrites an input, another run's model or a file of another kind") {
  Fixture f;
  const auto before = f.snapshot();
  for (const Case& c : kRefused) {
    CAPTURE(c.args);
    const auto r = run_cli(f.args(c.args));
    CAPTURE(r.output);
    CHECK(r.rc >= 1);
    CHECK(r.rc <= 127);
    CHECK(count_lines(r.output) == 1);
    for (const char* name : c.names) CHECK(r.output.find(name) != std::string::npos);
    CHECK(f.snapshot() == before);  // nothing written, nothing replaced
  }
}

TEST_CASE("--overwrite replaces a file of another kind; the same kind is replaced as before") {
  Fixture f;
  auto r = run_cli(f.args("lora resize --in {adapter} --rank 1 --out {model2} --overwrite"));
  CHECK(r.rc == 0);
  CHECK(sniff_file_kind(f.tmp / "model2.safetensors") == FileKind::Adapter);
  r = run_cli(f.args("lora resize --in {adapter} --rank 1 --out {model2}"));  // an adapter over an adapter
  CHECK(r.rc == 0);
}

TEST_CASE("file kinds are told from the bytes, not the name") {
  Fixture f;
  CHECK(sniff_file_kind(f.tmp / "model.safetensors") == FileKind::Model);
  CHECK(sniff_file_kind(f.tmp / "adapter.safetensors") == FileKind::Adapter);
  CHECK(sniff_file_kind(f.tmp / "classifier.safetensors") == FileKind::Classifier);
  CHECK(sniff_file_kind(f.tmp / "somerun/train_state.safetensors") == FileKind::TrainState);
  CHECK(sniff_file_kind(f.tmp / "images/seven0.png") == FileKind::Png);
  CHECK(sniff_file_kind(f.tmp / "images/seven0.txt") == FileKind::Text);
  CHECK(sniff_file_kind(f.tmp / "nothing-here") == FileKind::Missing);
  write_file_atomic(f.tmp / "j.png", " {\"a\": 1}");
  CHECK(sniff_file_kind(f.tmp / "j.png") == FileKind::Json);
  CHECK(same_path(f.tmp / "link.safetensors", f.tmp / "hard.safetensors"));
  CHECK(same_path(f.tmp / "adir/../x", f.tmp / "x"));
  CHECK_FALSE(same_path(f.tmp / "model.safetensors", f.tmp / "model2.safetensors"));
}

TEST_CASE(
    "run folders: another command's state is refused, resume checks what decides the run, one process") {
  Fixture f;
  // the run's options; `changed` replaces the value of one of them
  auto train_with = [](const std::string& changed) {
    std::string cmd =
        "train --config mnist-t2i-tiny --data {mnist} --eval-every 0 --sample-every 0 --no-progress ";
    for (const char* def : {"--batch 4", "--max-train-samples 8"})
      if (changed.find(std::string(def).substr(0, std::string(def).find(' ') + 1)) == std::string::npos)
        cmd += std::string(def) + " ";
    return cmd + changed + " ";
  };
  const std::string train = train_with("");
  auto r = run_cli(f.args(train + "--out {run} --steps 1"));
  REQUIRE(r.rc == 0);
  const std::string state = read_file(f.tmp / "run/train_state.safetensors");

  // a second run into the same folder, without --resume
  r = run_cli(f.args(train + "--out {run} --steps 2"));
  CHECK(r.rc == 1);
  CHECK(r.output.find("already holds a training run") != std::string::npos);
  // --resume where there is nothing to resume
  r = run_cli(f.args(train + "--out {nosuch} --steps 2 --resume"));
  CHECK(r.output.find("does not exist") != std::string::npos);
  r = run_cli(f.args(train + "--out {adir} --steps 2 --resume"));
  CHECK(r.output.find("holds no train state") != std::string::npos);
  // what decides the batches, noise and averaging must match the state; named by option
  for (const char* changed :
       {"--batch 2", "--seed 5", "--captions simple", "--ema 0.9", "--exclude-digits 3"}) {
    CAPTURE(changed);
    r = run_cli(f.args(train_with(changed) + "--out {run} --steps 2 --resume"));
    CHECK(r.rc == 1);
    CHECK(r.output.find(std::string(changed).substr(0, std::string(changed).find(' '))) != std::string::npos);
    CHECK(count_lines(r.output) == 1);
  }
  r = run_cli(
      f.args(train_with("--max-train-samples 12") + "--out {run} --steps 2 --resume"));  // other digits
  CHECK(r.output.find("--data") != std::string::npos);
  CHECK(read_file(f.tmp / "run/train_state.safetensors") == state);

  // one process per run folder: hold its lock as another process would
  {
    const int fd = ::open((f.tmp / "run/.loradiff.lock").c_str(), O_RDWR | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
    r = run_cli(f.args(train + "--out {run} --steps 2 --resume"));
    CHECK(r.rc == 1);
    CHECK(r.output.find("in use by another loradiff process") != std::string::npos);
    ::close(fd);
  }
  // --steps may change on resume
  r = run_cli(f.args(train + "--out {run} --steps 2 --resume"));
  CHECK(r.rc == 0);

  // `lora train` into a `train` run folder, and `train` into a `lora train` log folder
  const std::string lora = "lora train --base {model} --data {images} --steps 1 --batch 2 --no-progress ";
  r = run_cli(f.args(lora + "--out {adir}/a.safetensors --log-dir {run}"));
  CHECK(r.rc == 1);
  CHECK(r.output.find("`train` resume state") != std::string::npos);
  r = run_cli(f.args(lora + "--out {adir}/a.safetensors"));
  REQUIRE(r.rc == 0);
  r = run_cli(f.args(train + "--out {adir}/a-log --steps 1"));
  CHECK(r.rc == 1);
  CHECK(r.output.find("`lora train` resume state") != std::string::npos);
  // the same `lora train` again without --resume would silently restart over its state
  r = run_cli(f.args(lora + "--out {adir}/a.safetensors"));
  CHECK(r.rc == 1);
  CHECK(r.output.find("already holds a `lora train` run") != std::string::npos);
  r = run_cli(f.args(lora + "--out {adir}/a.safetensors --overwrite"));
  CHECK(r.rc == 0);

  // a folder with a model but no train state: someone's result, not a run to continue
  fs::create_directories(f.tmp.path / "result");
  fs::copy_file(f.tmp / "model.safetensors", f.tmp / "result/model.safetensors");
  r = run_cli(f.args(train + "--out {result} --steps 1"));
  CHECK(r.rc == 1);
  CHECK(r.output.find("without a train state") != std::string::npos);
  r = run_cli(f.args(train + "--out {result} --steps 1 --overwrite"));
  CHECK(r.rc == 0);
}
