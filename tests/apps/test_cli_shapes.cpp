// The shapes data set end to end: `data make-shapes` (deterministic files, manifest, refusals),
// `data check-folder --channels 3` on its output, `sample` of a 3-channel model writing RGB PNGs, and
// `eval --dataset shapes` on an untrained tiny shapes model (the numbers are low; the fields are checked).
#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "data/png.h"
#include "data/shapes.h"
#include "diffusion/model_io.h"
#include "tensor/file_io.h"
#include "tests/apps/cli_run.h"
#include "tests/temp_dir.h"

namespace fs = std::filesystem;
using namespace ld;

namespace {

using Result = ld::test::CliResult;
Result run(const std::string& args) { return ld::test::run_cli(args); }
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
// exactly one line of output, starting "loradiff: " (the error)
bool one_error_line(const std::string& out) {
  return out.rfind("loradiff: error: ", 0) == 0 && out.find('\n') == out.size() - 1;
}

size_t count_files(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string()[0] != '.';
  return n;
}

data::Vocabulary shapes_vocab() { return data::shapes_vocabulary(); }

}  // namespace

TEST_CASE("data make-shapes writes a deterministic RGB image + caption folder with a manifest") {
  ld::test::TempDir tmp("cli-shapes");
  Result r = run("data make-shapes --n 12 --seed 3 --two-shape-fraction 0.5 --out " + (tmp / "a"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(has(r.output, "make-shapes: wrote 12 image/caption pairs"));
  CHECK(count_files(tmp / "a") == 24);
  const nlohmann::json m = nlohmann::json::parse(read_file(tmp / "a/.manifest.json"));
  CHECK(m["format"] == "loradiff-shapes");
  CHECK(m["n"] == 12);
  CHECK(m["seed"] == 3);
  CHECK(m["two_shape_fraction"] == 0.5);
  for (int i = 0; i < 12; ++i) {
    char stem[32];
    std::snprintf(stem, sizeof stem, "shape_%05d", i);
    const std::string png = read_file(tmp / ("a/" + std::string(stem) + ".png"));
    CHECK(static_cast<uint8_t>(png[25]) == 2);  // IHDR colour type: RGB
    const data::RgbImage img = data::decode_png_rgb(png, stem);
    CHECK(img.width == 32);
    CHECK(img.height == 32);
    std::string cap = read_file(tmp / ("a/" + std::string(stem) + ".txt"));
    CHECK(cap.back() == '\n');
    cap.pop_back();
    // the files are the library's scene i of seed 3, and the judge reads them back
    const data::ShapeScene s = data::make_shape_scene(3, i, data::ShapesOptions{0.5, {}});
    CHECK(cap == data::scene_caption(s));
    CHECK(img.pixels == data::render_scene(s).pixels);
    CHECK(data::judge_shapes(img, data::parse_shapes_caption(cap)).exact);
  }
  // same seed, same bytes; another seed, other images
  REQUIRE(run("data make-shapes --n 12 --seed 3 --two-shape-fraction 0.5 --out " + (tmp / "b")).rc == 0);
  REQUIRE(run("data make-shapes --n 12 --seed 4 --two-shape-fraction 0.5 --out " + (tmp / "c")).rc == 0);
  int same_b = 0, same_c = 0;
  for (const auto& e : fs::directory_iterator(tmp.path / "a")) {
    const std::string name = e.path().filename().string();
    if (name[0] == '.') continue;
    same_b += read_file(e.path().string()) == read_file(tmp / ("b/" + name));
    same_c += read_file(e.path().string()) == read_file(tmp / ("c/" + name));
  }
  CHECK(same_b == 24);
  CHECK(same_c < 6);
  // --exclude: no triangle, no red circle
  REQUIRE(run("data make-shapes --n 40 --exclude triangle,\"red circle\" --out " + (tmp / "x")).rc == 0);
  for (const auto& e : fs::directory_iterator(tmp.path / "x"))
    if (e.path().extension() == ".txt") {
      const std::string cap = read_file(e.path().string());
      CHECK_FALSE(has(cap, "triangle"));
      CHECK_FALSE(has(cap, "red circle"));
    }
  CHECK(nlohmann::json::parse(read_file(tmp / "x/.manifest.json"))["exclude"].size() == 7);
  // the folder reads as an image + caption folder, in colour (and in gray, as LoRA training of digits does)
  r = run("data check-folder " + (tmp / "a") + " --size 32 --channels 3 --preview " + (tmp / "p.png"));
  INFO(r.output);
  CHECK(r.rc == 0);
  CHECK(has(r.output, "12 image/caption pairs, 0 inverted (dark on light), resized to 32x32, RGB"));
  CHECK(static_cast<uint8_t>(read_file(tmp / "p.png")[25]) == 2);
  CHECK(has(r.output, "warning: "));  // the digit vocabulary lacks the shapes words
  r = run("data check-folder " + (tmp / "a") + " --size 32 --vocab shapes");
  CHECK(r.rc == 0);
  CHECK_FALSE(has(r.output, "warning"));
}

TEST_CASE("data make-shapes refuses bad options and a non-empty --out in one line, writing nothing") {
  ld::test::TempDir tmp("cli-shapes-bad");
  fs::create_directories(tmp.path / "full");
  write_file_atomic(tmp / "full/keep.txt", "mine");
  const struct {
    std::string args, expect;
    bool parse_error = false;  // CLI11's (its first line is the error), else loradiff's one line
  } cases[] = {
      {"--n 0 --out " + (tmp / "o"), "--n", true},
      {"--n 100001 --out " + (tmp / "o"), "--n", true},
      {"--n 5 --two-shape-fraction 1.5 --out " + (tmp / "o"), "--two-shape-fraction", true},
      {"--n 5 --exclude hexagon --out " + (tmp / "o"), "--exclude 'hexagon': 'hexagon' is not a shape"},
      {"--n 5 --exclude \"purple circle\" --out " + (tmp / "o"), "'purple' is not a colour"},
      {"--n 5 --exclude circle,square,triangle,cross --out " + (tmp / "o"), "leave no colour-shape pair"},
      {"--n 5 --out " + (tmp / "full"), "the folder is not empty"},
      {"--n 5 --out " + (tmp / "full/keep.txt"), "is a file, not a folder"},
      {"--n 5 --out " + (tmp / "no/such/dir"), "no/such"},
  };
  for (const auto& c : cases) {
    const Result r = run("data make-shapes " + c.args);
    INFO(c.args, "\n", r.output);
    CHECK(r.rc != 0);
    CHECK(has(r.output, c.expect));
    if (!c.parse_error) CHECK(one_error_line(r.output));
  }
  CHECK_FALSE(fs::exists(tmp.path / "o"));
  CHECK(count_files(tmp.path / "full") == 1);
  CHECK(read_file(tmp / "full/keep.txt") == "mine");
}

TEST_CASE("a 3-channel model samples RGB PNGs; eval --dataset shapes judges them by rule") {
  ld::test::TempDir tmp("cli-shapes-eval");
  const data::Vocabulary vocab = shapes_vocab();
  diffusion::save_model(tmp / "m.safetensors",
                        *diffusion::build_model(diffusion::load_config("shapes-t2i-tiny"), vocab, 0), vocab);
  Result r = run("sample --model " + (tmp / "m.safetensors") +
                 " --prompt \"a small red circle at the top left\" --n 2 --steps 2 --out " + (tmp / "g.png") +
                 " --out-dir " + (tmp / "each"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  const std::string grid = read_file(tmp / "g.png");
  CHECK(static_cast<uint8_t>(grid[25]) == 2);
  CHECK(data::decode_png_rgb(grid, "g").width == 2 * 64 + 1);
  CHECK(static_cast<uint8_t>(read_file(tmp / "each/00001.png")[25]) == 2);
  CHECK(data::decode_png_rgb(read_file(tmp / "each/00001.png"), "e").width == 32);

  // img2img from a colour PNG of the data set (the model's size): RGB in, RGB out
  data::write_png(tmp / "init.png", data::render_scene(data::make_shape_scene(0, 0, {})));
  r = run("sample --model " + (tmp / "m.safetensors") +
          " --prompt \"a small red circle at the top left\" --n 1 " + "--steps 4 --init-image " +
          (tmp / "init.png") + " --strength 0.5 --out " + (tmp / "i.png"));
  INFO(r.output);
  CHECK(r.rc == 0);
  CHECK(static_cast<uint8_t>(read_file(tmp / "i.png")[25]) == 2);

  // drawn prompts
  r = run("eval --dataset shapes --model " + (tmp / "m.safetensors") +
          " --n-prompts 4 --two-shape-fraction 0.5 --steps 2 --seed 1 --exclude triangle --json " +
          (tmp / "e.json"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  nlohmann::json j = nlohmann::json::parse(read_file(tmp / "e.json"));
  CHECK(j["dataset"] == "shapes");
  CHECK(j["all"]["n"] == 4);
  for (const char* k : {"colour", "shape", "size", "position", "relation", "count", "exact"})
    CHECK(j["all"].contains(k));
  CHECK(j["seen"]["n"].get<int>() + j["excluded"]["n"].get<int>() == 4);
  CHECK(j["images"].size() == 4);
  CHECK(j["exclude"].size() == 6);
  // stdout: the same scores on one line, without the per-image list
  const nlohmann::json line = nlohmann::json::parse(r.output.substr(r.output.rfind("{\"all\"")));
  CHECK(line["all"] == j["all"]);
  CHECK_FALSE(line.contains("images"));

  // prompts from a file: excluded ones scored apart
  write_file_atomic(tmp / "prompts.txt",
                    "a large blue triangle at the centre\n\na red square left of a green circle\n");
  r = run("eval --dataset shapes --model " + (tmp / "m.safetensors") + " --prompts " + (tmp / "prompts.txt") +
          " --steps 2 --exclude triangle --json " + (tmp / "f.json"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  j = nlohmann::json::parse(read_file(tmp / "f.json"));
  CHECK(j["all"]["n"] == 2);
  CHECK(j["excluded"]["n"] == 1);
  CHECK(j["seen"]["n"] == 1);
  CHECK(j["all"]["relation_n"] == 1);
  CHECK(j["all"]["size_n"] == 1);
  CHECK(j["images"][0]["excluded"] == true);

  // errors: a caption outside the grammar (naming the line), a gray model, mnist without --classifier
  write_file_atomic(tmp / "bad.txt", "a small red circle at the top\na handwritten digit seven\n");
  r = run("eval --dataset shapes --model " + (tmp / "m.safetensors") + " --prompts " + (tmp / "bad.txt"));
  CHECK(r.rc != 0);
  CHECK(has(r.output,
            "--prompts '" + (tmp / "bad.txt") + "' line 2: shapes caption 'a handwritten digit seven'"));
  CHECK(one_error_line(r.output));
  diffusion::save_model(tmp / "gray.safetensors",
                        *diffusion::build_model(diffusion::load_config("mnist-t2i-tiny"), vocab, 0), vocab);
  r = run("eval --dataset shapes --model " + (tmp / "gray.safetensors") + " --n-prompts 2 --steps 2");
  CHECK(r.rc != 0);
  CHECK(has(r.output, "the shapes judge needs colour"));
  r = run("eval --model " + (tmp / "m.safetensors"));
  CHECK(r.rc != 0);
  CHECK(has(r.output, "--classifier is required"));
  r = run("eval --dataset pictures --model " + (tmp / "m.safetensors"));
  CHECK(r.rc != 0);
  CHECK(has(r.output, "--dataset"));
  r = run("eval --dataset shapes --model " + (tmp / "m.safetensors") + " --exclude hexagon");
  CHECK(r.rc != 0);
  CHECK(has(r.output, "--exclude 'hexagon'"));
  CHECK(one_error_line(r.output));
}

TEST_CASE(
    "end to end: make-shapes -> train --data (colour, --vocab shapes) -> eval --dataset shapes -> lora "
    "train") {
  ld::test::TempDir tmp("cli-shapes-e2e");
  Result r = run("data make-shapes --n 24 --seed 1 --exclude triangle --out " + (tmp / "data"));
  REQUIRE(r.rc == 0);
  r = run("train --data " + (tmp / "data") + " --config shapes-t2i-tiny --vocab shapes --steps 2 --batch 4 " +
          "--sample-every 2 --sample-steps 2 --no-progress --out " + (tmp / "run"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  // the run's sample grid is colour
  bool rgb_grid = false;
  for (const auto& e : fs::recursive_directory_iterator(tmp.path / "run"))
    if (e.path().extension() == ".png")
      rgb_grid |= static_cast<uint8_t>(read_file(e.path().string())[25]) == 2;
  CHECK(rgb_grid);
  const diffusion::LoadedModel lm = diffusion::load_model(tmp / "run/model.safetensors");
  CHECK(lm.model->config.image_channels == 3);
  CHECK(lm.model->config.prediction_type == "v_prediction");  // the config's target, kept in the checkpoint
  CHECK(lm.vocab.contains("triangle"));  // --vocab shapes keeps the left-out word's token
  r = run("eval --dataset shapes --model " + (tmp / "run/model.safetensors") +
          " --n-prompts 6 --steps 2 --exclude triangle --json " + (tmp / "e.json"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(nlohmann::json::parse(read_file(tmp / "e.json"))["all"]["n"] == 6);
  // a LoRA on the left-out shape, from a folder of triangles only
  REQUIRE(run("data make-shapes --n 4 --two-shape-fraction 0 --exclude circle,square,cross --out " +
              (tmp / "tri"))
              .rc == 0);
  r = run("lora train --base " + (tmp / "run/model.safetensors") + " --data " + (tmp / "tri") + " --out " +
          (tmp / "tri.safetensors") + " --rank 2 --steps 1 --batch 2 --no-progress");
  INFO(r.output);
  CHECK(r.rc == 0);
  CHECK(fs::exists(tmp.path / "tri.safetensors"));
}
