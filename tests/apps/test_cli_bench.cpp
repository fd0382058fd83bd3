// tests/apps/test_cli_bench.cpp: `loradiff bench train|sample [--profile]` end to end on the tiny config:
// JSON lines that report the BLAS kernel and the SIMD level, and a profile whose rows add up to the
// profiled run and whose GEMM-shaped rows carry GFLOP/s.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/apps/cli_run.h"

using ld::test::run_cli;

namespace {
std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);)
    if (!l.empty() && l[0] == '{') lines.push_back(nlohmann::json::parse(l));
  return lines;
}
}  // namespace

TEST_CASE("bench train --profile: kernel and SIMD level on every line, a profile that adds up") {
  const auto r = run_cli("bench train --config mnist-t2i-tiny --batch 4 --reps 1 --profile");
  REQUIRE(r.rc == 0);
  const auto lines = json_lines(r.output);
  REQUIRE(lines.size() > 3);
  double rows_ms = 0;
  bool conv = false, adamw = false;
  for (const auto& j : lines) {
    CHECK(j.contains("blas_kernel"));
    CHECK(j.contains("simd"));
    if (j["bench"] == "profile") {
      rows_ms += j["ms"].get<double>();
      if (j["op"] == "conv2d") {
        conv = true;
        CHECK(j["gflops"].get<double>() > 0);
      }
      adamw = adamw || j["op"] == "adamw";
    }
  }
  CHECK(conv);
  CHECK(adamw);
  const auto& total = lines.back();
  REQUIRE(total["bench"] == "profile_total");
  CHECK(total["gemm_gflop"].get<double>() > 0);
  CHECK(total["machine_gemm_gflops"].get<double>() > 0);
  // every millisecond of the profiled step is in a row, up to the profiler's own bookkeeping
  CHECK(rows_ms + total["other_ms"].get<double>() == doctest::Approx(total["ms"].get<double>()));
  CHECK(total["other_ms"].get<double>() < 0.2 * total["ms"].get<double>());
}

TEST_CASE("bench sample --profile: forward rows only") {
  const auto r = run_cli("bench sample --config mnist-t2i-tiny --batch 2 --steps 2 --reps 1 --profile");
  REQUIRE(r.rc == 0);
  int rows = 0;
  for (const auto& j : json_lines(r.output))
    if (j["bench"] == "profile") {
      ++rows;
      CHECK(j["phase"] == "forward");
    }
  CHECK(rows > 5);
}
