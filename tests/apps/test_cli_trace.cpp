// tests/apps/test_cli_trace.cpp: `loradiff sample --trace FILE.png` end to end: a row per prompt,
// 2 x --trace-steps + 1 columns (x_t and x0_hat per recorded step, then the result), the recorded steps in
// the PNG's parameters, and the grid of --out unchanged by tracing.
#include <doctest/doctest.h>

#include "data/image.h"
#include "data/png.h"
#include "diffusion/model_io.h"
#include "tensor/file_io.h"
#include "tests/apps/cli_run.h"
#include "tests/temp_dir.h"

using namespace ld;
using ld::test::run_cli;

TEST_CASE("sample --trace writes the denoising trajectory, one row per prompt") {
  test::TempDir tmp("cli-trace");
  const data::Vocabulary& vocab = data::Vocabulary::builtin();
  diffusion::save_model(tmp / "m.safetensors",
                        *diffusion::build_model(diffusion::load_config("mnist-t2i-tiny"), vocab, 0), vocab);
  const std::string base =
      "sample --model " + (tmp / "m.safetensors") +
      " --prompt 'a handwritten digit one' --prompt 'a handwritten digit two' --n 2 --steps 5 ";
  auto r = run_cli(base + "--out " + (tmp / "a.png") + " --trace " + (tmp / "t.png") + " --trace-steps 3");
  REQUIRE(r.rc == 0);
  CHECK(r.output.find("trajectory in") != std::string::npos);
  const data::GrayImage trace = data::decode_png(read_file(tmp / "t.png"), "t.png");
  const data::GrayImage want =
      data::make_grid(Tensor::zeros({2 * 7, 1, 28, 28}), 2, 7, 2);  // 2 rows x (2*3+1)
  CHECK(trace.width == want.width);
  CHECK(trace.height == want.height);
  const auto params = data::read_png_parameters(tmp / "t.png");
  REQUIRE(params);
  bool steps = false;
  for (const auto& [k, v] : params->extra) steps = steps || (k == "Trace steps" && v == "[0,2,4]");
  CHECK(steps);
  // tracing changes nothing in the images themselves
  r = run_cli(base + "--out " + (tmp / "b.png"));
  REQUIRE(r.rc == 0);
  CHECK(read_file(tmp / "a.png") == read_file(tmp / "b.png"));
  // --trace is an output like the others: never over an input
  r = run_cli(base + "--out " + (tmp / "c.png") + " --trace " + (tmp / "m.safetensors"));
  CHECK(r.rc == 1);
  CHECK(r.output.find("--trace") != std::string::npos);
}
