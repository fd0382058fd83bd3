// End-to-end test of `loradiff denoiser-error` on tiny data: the table and its JSON, bad options.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/apps/cli_fixture.h"
#include "tests/apps/cli_run.h"
#include "tests/temp_dir.h"

using namespace ld;

TEST_CASE("denoiser-error: rows per timestep and |z| range, as a table and JSON") {
  test::TempDir tmp("test-cli-denoiser");
  test::write_bar_mnist(tmp.path);
  test::write_tiny_models(tmp.path);
  const std::string base =
      "denoiser-error --model " + (tmp / "model.safetensors") + " --data " + (tmp / "mnist");
  auto r = test::run_cli(base + " --n 8 --t 10,500 --guidance 3 --json " + (tmp / "d.json"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(r.output.find("2<=|z|<3") != std::string::npos);
  std::ifstream in(tmp / "d.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  REQUIRE(j["rows"].size() == 6);
  CHECK(j["rows"][0]["t"] == 10);
  CHECK(j["rows"][3]["t"] == 500);
  CHECK(j["guidance"] == 3.0);
  int64_t pixels = 0;
  for (const auto& row : j["rows"]) pixels += row["pixels"].get<int64_t>();
  CHECK(pixels == 2 * (8 * 784 - 8 * 18));  // every pixel but each bar's 18, at two timesteps

  r = test::run_cli(base + " --t 1000");
  CHECK(r.rc != 0);
  CHECK(r.output.find("--t: 1000 must be between 0 and 999") != std::string::npos);
  r = test::run_cli(base + " --json " + (tmp / "model.safetensors"));
  CHECK(r.rc != 0);
  CHECK(r.output.find("--json") != std::string::npos);
}
