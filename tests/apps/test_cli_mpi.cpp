// tests/apps/test_cli_mpi.cpp: data-parallel training with `mpirun -np N` (docs/distributed.md).
// An N-process run is the one-process run: the same batches, noise and dropout, so every weight after
// 20 steps agrees to 1e-5 (only the order of float additions differs) and so do the loss curves; the
// train state does not depend on N (resume with another N); a killed process ends the run promptly and
// the run resumes; other commands refuse to run as several processes. Skipped, saying so, when the
// build has no MPI.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "nn/safetensors.h"
#include "tests/apps/cli_fixture.h"
#include "tests/apps/cli_run.h"
#include "tests/temp_dir.h"

namespace fs = std::filesystem;
using namespace ld;

#ifdef LORADIFF_TEST_MPIEXEC

namespace {

// mpirun as CI runs it (as root, on 2 cores: more processes than cores).
std::string mpirun(int n) {
  return std::string(LORADIFF_TEST_MPIEXEC) + " --allow-run-as-root --oversubscribe -np " +
         std::to_string(n) + " -x LORADIFF_NUM_THREADS=1 ";
}

test::CliResult run_shell(const std::string& cmd, int timeout_s = 300) {
  FILE* p = popen(("timeout " + std::to_string(timeout_s) + " " + cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

const char* kTrain =
    " train --config mnist-t2i-tiny --steps {steps} --batch 7 --lr 1e-3 --warmup 2 --eval-every 0 "
    "--sample-every 0 "
    "--checkpoint-every 5 --log-every 1 --no-progress --data ";

std::string train_args(const fs::path& data, const fs::path& out, int steps) {
  std::string a = kTrain;
  a.replace(a.find("{steps}"), 7, std::to_string(steps));
  return a + data.string() + " --out " + out.string();
}

// How far two train states' model weights are apart: ||a - b|| / ||a|| over all the weights together
// (`whole`) and the largest of it over the single tensors (`worst_tensor`, named).
struct Distance {
  double whole = 0, worst_tensor = 0;
  std::string worst_name;
};
Distance weight_distance(const fs::path& a, const fs::path& b, const std::string& prefix = "model.") {
  const nn::SafeTensors fa = nn::load_safetensors(a.string()), fb = nn::load_safetensors(b.string());
  Distance d;
  double diff_all = 0, norm_all = 0;
  int64_t compared = 0;
  for (const auto& [name, ta] : fa.tensors) {
    if (name.rfind(prefix, 0) != 0) continue;
    const Tensor& tb = fb.tensors.at(name);
    REQUIRE(ta.numel() == tb.numel());
    double diff = 0, norm = 0;
    for (int64_t i = 0; i < ta.numel(); ++i) {
      const double x = ta.f32()[i], y = tb.f32()[i];
      diff += (x - y) * (x - y);
      norm += x * x;
    }
    if (norm > 0 && std::sqrt(diff / norm) > d.worst_tensor) {
      d.worst_tensor = std::sqrt(diff / norm);
      d.worst_name = name;
    }
    diff_all += diff;
    norm_all += norm;
    compared += ta.numel();
  }
  CHECK(compared > 1000);
  d.whole = std::sqrt(diff_all / norm_all);
  return d;
}

// The loss column of loss.csv (step,loss,lr,grad_norm,heldout_loss,seconds).
std::vector<double> losses(const fs::path& csv) {
  std::ifstream f(csv);
  std::string line;
  std::getline(f, line);
  std::vector<double> out;
  while (std::getline(f, line)) {
    std::stringstream s(line);
    std::string step, loss;
    std::getline(s, step, ',');
    std::getline(s, loss, ',');
    if (!loss.empty()) out.push_back(std::stod(loss));
  }
  return out;
}

// The N-process run is the one-process run up to the order of float additions. Per tensor the
// difference is larger for the small, zero-initialised norm biases (a few 1e-5 after 20 AdamW steps;
// one process on 1 vs 2 threads, whose sums also differ in order, shows ~4e-6, printed by the first
// test); the weights as a whole must agree to 1e-5.
void check_same_run(const fs::path& one, const fs::path& many, const char* what) {
  INFO(what);
  const Distance d = weight_distance(one / "train_state.safetensors", many / "train_state.safetensors");
  MESSAGE(std::string(what), ": relative weight difference ", d.whole, " (all weights), ", d.worst_tensor,
          " (worst tensor, ", d.worst_name, ")");
  CHECK(d.whole <= 1e-5);
  CHECK(d.worst_tensor <= 1e-4);
  const std::vector<double> a = losses(one / "loss.csv"), b = losses(many / "loss.csv");
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - b[i]) <= 1e-5 * std::abs(a[i]));
}

}  // namespace

TEST_CASE("2 and 3 processes train the one-process run; the state resumes with another number of processes") {
  test::TempDir tmp("cli-mpi-1");
  test::write_bar_mnist(tmp.path);
  const fs::path data = tmp.path / "mnist";
  const std::string bin = std::string(" ") + LORADIFF_BINARY;
  auto r = test::run_cli(train_args(data, tmp.path / "one", 20), "LORADIFF_NUM_THREADS=1");
  REQUIRE_MESSAGE(r.rc == 0, r.output);
  {  // the float-order floor: one process, 2 threads instead of 1
    auto r2 = test::run_cli(train_args(data, tmp.path / "one2", 20), "LORADIFF_NUM_THREADS=2");
    REQUIRE(r2.rc == 0);
    const Distance d = weight_distance(tmp.path / "one" / "train_state.safetensors",
                                       tmp.path / "one2" / "train_state.safetensors");
    MESSAGE("one process, 1 vs 2 threads: relative weight difference ", d.whole, " (all weights), ",
            d.worst_tensor, " (worst tensor, ", d.worst_name, ")");
  }
  for (int n : {2, 3}) {
    const fs::path out = tmp.path / ("n" + std::to_string(n));
    r = run_shell(mpirun(n) + bin + train_args(data, out, 20));
    REQUIRE_MESSAGE(r.rc == 0, r.output);
    CHECK(r.output.find("data-parallel: " + std::to_string(n) + " processes") != std::string::npos);
    CHECK(r.output.find("all-reduce: ") != std::string::npos);
    check_same_run(tmp.path / "one", out, n == 2 ? "2 processes" : "3 processes");
  }
  // 10 steps on 2 processes, then resumed to 20 on 3
  const fs::path mixed = tmp.path / "mixed";
  r = run_shell(mpirun(2) + bin + train_args(data, mixed, 10));
  REQUIRE_MESSAGE(r.rc == 0, r.output);
  r = run_shell(mpirun(3) + bin + train_args(data, mixed, 20) + " --resume");
  REQUIRE_MESSAGE(r.rc == 0, r.output);
  CHECK(r.output.find("resuming") != std::string::npos);
  check_same_run(tmp.path / "one", mixed, "2 processes, resumed on 3");
}

TEST_CASE("a killed process ends the run within seconds; the run resumes from its last checkpoint") {
  test::TempDir tmp("cli-mpi-2");
  test::write_bar_mnist(tmp.path);
  const fs::path data = tmp.path / "mnist", out = tmp.path / "killed";
  const std::string bin = std::string(" ") + LORADIFF_BINARY;
  // a run long enough to be killed in the middle
  const std::string cmd = mpirun(2) + bin + train_args(data, out, 100000) + " > " +
                          (tmp.path / "log").string() + " 2>&1; echo $? > " + (tmp.path / "rc").string();
  std::thread runner([&] { std::system(("timeout 300 bash -c '" + cmd + "'").c_str()); });
  // wait for the first checkpoint, then SIGKILL process 1 (found by its rank in its environment)
  const auto t0 = std::chrono::steady_clock::now();
  while (!fs::exists(out / "train_state.safetensors") &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(fs::exists(out / "train_state.safetensors"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int killed = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::ifstream env(e.path() / "environ"), cmdline(e.path() / "cmdline");
    std::string envs((std::istreambuf_iterator<char>(env)), {}),
        args((std::istreambuf_iterator<char>(cmdline)), {});
    if (args.find(out.string()) != std::string::npos && args.rfind(LORADIFF_BINARY, 0) == 0 &&
        envs.find(std::string("OMPI_COMM_WORLD_RANK=1") + '\0') != std::string::npos) {
      ::kill(std::stoi(e.path().filename().string()), SIGKILL);
      ++killed;
    }
  }
  REQUIRE(killed == 1);
  const auto t_kill = std::chrono::steady_clock::now();
  runner.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_kill).count();
  MESSAGE("the run ended ", seconds, " s after process 1 was killed");
  CHECK(seconds < 20);
  std::ifstream rcf(tmp.path / "rc");
  int rc = 0;
  rcf >> rc;
  CHECK(rc != 0);
  // the checkpoint is whole (loads), and the run continues on 2 processes to the end
  const nn::SafeTensors state = nn::load_safetensors((out / "train_state.safetensors").string());
  const int64_t saved_step = std::stoll(state.metadata.at("step"));
  CHECK(saved_step >= 5);
  const int64_t end = saved_step + 5;
  auto r = run_shell(mpirun(2) + bin + train_args(data, out, static_cast<int>(end)) + " --resume");
  REQUIRE_MESSAGE(r.rc == 0, r.output);
  // ... and equals the uninterrupted one-process run of as many steps
  r = test::run_cli(train_args(data, tmp.path / "one", static_cast<int>(end)), "LORADIFF_NUM_THREADS=1");
  REQUIRE_MESSAGE(r.rc == 0, r.output);
  check_same_run(tmp.path / "one", out, "killed, resumed on 2 processes");
}

TEST_CASE("lora train on 2 processes trains the one-process adapter") {
  test::TempDir tmp("cli-mpi-lora");
  test::write_tiny_models(tmp.path);
  const fs::path data = tmp.path / "sevens";
  fs::create_directories(data);
  for (int i = 0; i < 6; ++i) {  // 6 pairs, batch 5: shards of 2 and 3
    std::vector<uint8_t> px(784, 0);
    for (int r = 4; r < 24; ++r) px[r * 28 + 6 + 2 * i] = 255;
    data::write_png((data / ("s" + std::to_string(i) + ".png")).string(), data::GrayImage{28, 28, px});
    write_file_atomic((data / ("s" + std::to_string(i) + ".txt")).string(), "a handwritten digit seven");
  }
  const std::string args = " lora train --base " + (tmp.path / "model.safetensors").string() + " --data " +
                           data.string() +
                           " --steps 20 --batch 5 --rank 4 --lr 1e-3 --save-every 0 --no-progress --out ";
  fs::create_directories(tmp.path / "one");
  fs::create_directories(tmp.path / "two");
  auto r = test::run_cli(args + (tmp.path / "one" / "a.safetensors").string(), "LORADIFF_NUM_THREADS=1");
  REQUIRE_MESSAGE(r.rc == 0, r.output);
  r = run_shell(mpirun(2) + " " + LORADIFF_BINARY + args + (tmp.path / "two" / "a.safetensors").string());
  REQUIRE_MESSAGE(r.rc == 0, r.output);
  CHECK(r.output.find("data-parallel: 2 processes") != std::string::npos);
  const Distance d = weight_distance(tmp.path / "one" / "a-log" / "train_state.safetensors",
                                     tmp.path / "two" / "a-log" / "train_state.safetensors", "param.");
  MESSAGE("lora train, 2 processes: relative adapter difference ", d.whole, " (all), ", d.worst_tensor,
          " (worst tensor, ", d.worst_name, ")");
  CHECK(d.whole <= 1e-5);
  CHECK(d.worst_tensor <= 1e-4);
  const std::vector<double> a = losses(tmp.path / "one" / "a-log" / "loss.csv"),
                            b = losses(tmp.path / "two" / "a-log" / "loss.csv");
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - b[i]) <= 1e-5 * std::abs(a[i]));
}

TEST_CASE("compress fine-tunes on 2 processes as on one") {
  test::TempDir tmp("cli-mpi-compress");
  test::write_bar_mnist(tmp.path);
  test::write_tiny_models(tmp.path);
  const std::string args =
      " compress --model " + (tmp.path / "model.safetensors").string() +
      " --method svd --energy 0.6 --calib-samples 0 --heldout-samples 0 --finetune-steps 10" +
      " --batch 5 --lr 1e-3 --no-progress --data " + (tmp.path / "mnist").string() + " --out ";
  auto r = test::run_cli(args + (tmp.path / "one.safetensors").string(), "LORADIFF_NUM_THREADS=1");
  REQUIRE_MESSAGE(r.rc == 0, r.output);
  r = run_shell(mpirun(2) + " " + LORADIFF_BINARY + args + (tmp.path / "two.safetensors").string());
  REQUIRE_MESSAGE(r.rc == 0, r.output);
  const Distance d = weight_distance(tmp.path / "one.safetensors", tmp.path / "two.safetensors", "");
  MESSAGE("compress, 2 processes: relative weight difference ", d.whole, " (all), ", d.worst_tensor,
          " (worst tensor, ", d.worst_name, ")");
  CHECK(d.whole <= 1e-5);
  CHECK(d.worst_tensor <= 1e-4);
}

TEST_CASE(
    "only train, lora train and compress run as several processes; a batch smaller than the processes is "
    "refused") {
  test::TempDir tmp("cli-mpi-3");
  test::write_bar_mnist(tmp.path);
  test::write_tiny_models(tmp.path);
  const std::string bin = std::string(" ") + LORADIFF_BINARY;
  auto r =
      run_shell(mpirun(2) + bin + " sample --model " + (tmp.path / "model.safetensors").string() +
                " --prompt 'a handwritten digit one' --n 1 --steps 2 --out " + (tmp.path / "s.png").string());
  CHECK(r.rc == 2);
  CHECK(r.output.find("only `train`, `lora train` and `compress` run as several processes") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(tmp.path / "s.png"));
  r = run_shell(mpirun(3) + bin + " train --config mnist-t2i-tiny --steps 2 --batch 2 --data " +
                (tmp.path / "mnist").string() + " --out " + (tmp.path / "b").string());
  CHECK(r.rc != 0);
  CHECK(r.output.find("--batch: 2 samples cannot be split over 3 processes") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp.path / "b"));
}

TEST_CASE("train --data FOLDER (captioned images, --vocab auto) on 2 processes trains the one-process run") {
  test::TempDir tmp("cli-mpi-folder");
  const fs::path data = tmp.path / "folder";
  fs::create_directories(data);
  const char* caps[3] = {"a bar on the left", "полоса справа", "a bar in the middle"};
  for (int i = 0; i < 15; ++i) {
    std::vector<uint8_t> img(784, 0);
    for (int r = 5; r < 23; ++r) img[r * 28 + 4 + 8 * (i % 3)] = 255;
    const std::string stem = (data / ("b" + std::to_string(10 + i))).string();
    data::write_png(stem + ".png", data::GrayImage{28, 28, img});
    write_file_atomic(stem + ".txt", caps[i % 3]);
  }
  auto r = test::run_cli(train_args(data, tmp.path / "one", 10), "LORADIFF_NUM_THREADS=1");
  REQUIRE_MESSAGE(r.rc == 0, r.output);
  r = run_shell(mpirun(2) + " " + LORADIFF_BINARY + train_args(data, tmp.path / "two", 10));
  REQUIRE_MESSAGE(r.rc == 0, r.output);
  CHECK(r.output.find("data-parallel: 2 processes") != std::string::npos);
  check_same_run(tmp.path / "one", tmp.path / "two", "a captioned folder on 2 processes");
}

#else

TEST_CASE("data-parallel training (MPI)") {
  MESSAGE(
      "skipped: this build has no MPI (LORADIFF_MPI is OFF: install libopenmpi-dev openmpi-bin and "
      "reconfigure)");
}

#endif
