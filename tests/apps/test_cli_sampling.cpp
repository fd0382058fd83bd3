// tests/apps/test_cli_sampling.cpp: `loradiff sample` / `eval` with every --sampler end to end on a tiny
// model, and the sampling controls: --negative-prompt "" is today's output byte for byte, --init-image with
// --strength 0 / 1, --mask keeps the unmasked pixels, one seed per image in each PNG's infotext, and
// --from-png remaking an image byte for byte (or refusing with one line when the setup differs).
#include <doctest/doctest.h>

#include "data/image.h"
#include "data/png.h"
#include "tensor/file_io.h"
#include "tests/apps/cli_fixture.h"
#include "tests/apps/cli_run.h"
#include "tests/temp_dir.h"

using namespace ld;
using ld::test::run_cli;

namespace {

std::string param(const data::GenerationParams& p, const std::string& key) {
  for (const auto& [k, v] : p.extra)
    if (k == key) return v;
  return "";
}

data::GrayImage pixels(const std::string& path) { return data::decode_png(read_file(path), path); }

}  // namespace

TEST_CASE(
    "every sampler runs end to end from the CLI, in sample and eval, and names itself in the infotext") {
  test::TempDir tmp("cli-sampling-all");
  test::write_tiny_models(tmp.path);  // the classifier
  test::write_bar_mnist(tmp.path);
  // a tiny model of 50 timesteps: DDPM takes every one of them
  diffusion::ModelConfig c = diffusion::load_config("mnist-t2i-tiny");
  c.timesteps = 50;
  const data::Vocabulary& vocab = data::Vocabulary::builtin();
  diffusion::save_model(tmp / "model.safetensors", *diffusion::build_model(c, vocab, 0), vocab);
  const std::pair<const char*, const char*> samplers[] = {{"ddim", "DDIM"},
                                                          {"ddpm", "DDPM"},
                                                          {"dpmpp-2m", "DPM++ 2M"},
                                                          {"euler", "Euler"},
                                                          {"euler-a", "Euler a"}};
  std::vector<std::string> grids;
  for (const auto& [name, label] : samplers) {
    CAPTURE(name);
    const std::string out = tmp / (std::string(name) + ".png");
    auto r = run_cli("sample --model " + (tmp / "model.safetensors") +
                     " --prompt 'a handwritten digit two' --n 2" + " --steps 4 --seed 3 --sampler " + name +
                     " --out " + out);
    INFO(r.output);
    REQUIRE(r.rc == 0);
    const auto p = data::read_png_parameters(out);
    REQUIRE(p);
    CHECK(p->sampler == label);
    CHECK(p->steps == (std::string(name) == "ddpm" ? 50 : 4));
    CHECK(p->size == "28x28");
    CHECK(p->model_hash.size() == 10);
    grids.push_back(read_file(out));
    r = run_cli("eval --model " + (tmp / "model.safetensors") + " --classifier " +
                (tmp / "classifier.safetensors") + " --data " + (tmp / "mnist") +
                " --n-per-digit 2 --digits 3 --steps 2 --sampler " + name + " --json " +
                (tmp / (std::string(name) + ".json")));
    INFO(r.output);
    CHECK(r.rc == 0);
    CHECK(r.output.find(std::string("\"sampler\":\"") + name + "\"") != std::string::npos);
  }
  for (size_t i = 1; i < grids.size(); ++i) CHECK(grids[i] != grids[0]);
  auto r = run_cli("sample --model " + (tmp / "model.safetensors") +
                   " --prompt 'a handwritten digit two' --n 1 --steps 2 --sampler euler --eta 0.5 --out " +
                   (tmp / "w.png"));
  CHECK(r.rc == 0);
  CHECK(r.output.find("--eta is ignored with --sampler euler") != std::string::npos);
}

TEST_CASE("one seed per image in the infotext; --from-png remakes an image byte for byte") {
  test::TempDir tmp("cli-sampling-png");
  test::write_tiny_models(tmp.path);
  test::write_seven_folder(tmp.path);
  const std::string model = tmp / "model.safetensors", seven = tmp / "images/seven2.png";
  const std::string base = "sample --model " + model + " --prompt 'a handwritten digit seven' ";
  auto r = run_cli(base +
                   "--n 3 --steps 4 --seed 10 --sampler dpmpp-2m --guidance 2.5 --negative-prompt "
                   "'a handwritten digit one' --out " +
                   (tmp / "g.png") + " --out-dir " + (tmp / "each") + " --lora " +
                   (tmp / "adapter.safetensors") + ":0.5");
  INFO(r.output);
  REQUIRE(r.rc == 0);
  const auto p2 = data::read_png_parameters(tmp / "each/00002.png");
  REQUIRE(p2);
  CHECK(p2->seed == 12);
  CHECK(p2->negative_prompt == "a handwritten digit one");
  CHECK(p2->sampler == "DPM++ 2M");
  CHECK(param(*p2, "Lora hashes").find("adapter: ") == 0);
  const std::string text = data::read_png_text(read_file(tmp / "each/00002.png"), "p")[0].second;
  CHECK(text.find(
            "a handwritten digit seven\nNegative prompt: a handwritten digit one\nSteps: 4, Sampler: DPM++ "
            "2M, CFG scale: 2.5, Seed: 12, Size: 28x28, Model hash: ") == 0);
  CHECK(data::read_png_parameters(tmp / "g.png")->seed == 10);

  // the third image alone, from its PNG: the same bytes
  r = run_cli("sample --model " + model + " --lora " + (tmp / "adapter.safetensors") + ":0.5 --from-png " +
              (tmp / "each/00002.png") + " --out " + (tmp / "re.png") + " --out-dir " + (tmp / "re"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(read_file(tmp / "re/00000.png") == read_file(tmp / "each/00002.png"));
  // a one-image grid is remade as the same grid
  CHECK(read_file(tmp / "re.png") != read_file(tmp / "g.png"));
  r = run_cli("sample --model " + model + " --lora " + (tmp / "adapter.safetensors") + ":0.5 --from-png " +
              (tmp / "re.png") + " --out " + (tmp / "re2.png"));
  REQUIRE(r.rc == 0);
  CHECK(read_file(tmp / "re2.png") == read_file(tmp / "re.png"));

  // img2img with DDIM eta: remade too (strength and eta come from the file, the init image is checked by
  // hash)
  r = run_cli(base + "--n 2 --steps 5 --seed 4 --eta 0.5 --init-image " + seven + " --strength 0.6 --out " +
              (tmp / "i.png") + " --out-dir " + (tmp / "i"));
  REQUIRE(r.rc == 0);
  CHECK(param(*data::read_png_parameters(tmp / "i/00001.png"), "Denoising strength") == "0.6");
  r = run_cli("sample --model " + model + " --init-image " + seven + " --from-png " + (tmp / "i/00001.png") +
              " --out " + (tmp / "ri.png") + " --out-dir " + (tmp / "ri"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(read_file(tmp / "ri/00000.png") == read_file(tmp / "i/00001.png"));

  // another model, missing adapter or init image, or a PNG without parameters: one line naming what differs
  r = run_cli("sample --model " + (tmp / "model2.safetensors") + " --lora " + (tmp / "adapter.safetensors") +
              ":0.5 --from-png " + (tmp / "each/00002.png") + " --out " + (tmp / "x.png"));
  CHECK(r.rc == 1);
  CHECK(r.output.find("--from-png: '" + (tmp / "each/00002.png") + "' was made with Model hash") !=
        std::string::npos);
  r = run_cli("sample --model " + model + " --from-png " + (tmp / "each/00002.png") + " --out " +
              (tmp / "x.png"));
  CHECK(r.rc == 1);
  CHECK(r.output.find("Lora hashes") != std::string::npos);
  r = run_cli("sample --model " + model + " --from-png " + (tmp / "i/00001.png") + " --out " +
              (tmp / "x.png"));
  CHECK(r.rc == 1);
  CHECK(r.output.find("Init image hash") != std::string::npos);
  r = run_cli("sample --model " + model + " --lora " + (tmp / "adapter.safetensors") + ":0.5 --from-png " +
              (tmp / "g.png") + " --out " + (tmp / "x.png"));
  CHECK(r.rc == 1);
  CHECK(r.output.find("grid of several images; give one of the --out-dir PNGs") != std::string::npos);
  r = run_cli("sample --model " + model + " --from-png " + seven + " --out " + (tmp / "x.png"));
  CHECK(r.rc == 1);
  CHECK(r.output.find("has no 'parameters' text chunk") != std::string::npos);
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
}

TEST_CASE(
    "--negative-prompt '' is today's output; img2img strength 0 / 1; inpainting keeps unmasked pixels") {
  test::TempDir tmp("cli-sampling-img");
  test::write_tiny_models(tmp.path);
  const std::string model = tmp / "model.safetensors";
  const std::string base =
      "sample --model " + model + " --prompt 'a handwritten digit seven' --n 2 --steps 4 --seed 9 ";
  // an init image with structure and a mask regenerating the top half
  data::GrayImage init{28, 28, std::vector<uint8_t>(784)}, mask{28, 28, std::vector<uint8_t>(784, 0)};
  for (int i = 0; i < 784; ++i) init.pixels[i] = static_cast<uint8_t>((i * 37) % 256);
  for (int i = 0; i < 14 * 28; ++i) mask.pixels[i] = 255;
  data::write_png(tmp / "init.png", init);
  data::write_png(tmp / "mask.png", mask);

  auto r = run_cli(base + "--out " + (tmp / "plain.png") + " --out-dir " + (tmp / "plain"));
  REQUIRE(r.rc == 0);
  r = run_cli(base + "--negative-prompt '' --out " + (tmp / "neg.png") + " --out-dir " + (tmp / "neg"));
  REQUIRE(r.rc == 0);
  CHECK(read_file(tmp / "neg.png") == read_file(tmp / "plain.png"));
  r = run_cli(base + "--negative-prompt 'a handwritten digit one' --out " + (tmp / "neg1.png"));
  REQUIRE(r.rc == 0);
  CHECK(pixels(tmp / "neg1.png").pixels != pixels(tmp / "plain.png").pixels);
  r = run_cli(base + "--negative-prompt 'a handwritten digit one' --guidance 1 --out " + (tmp / "neg2.png"));
  REQUIRE(r.rc == 0);
  CHECK(r.output.find("--negative-prompt is ignored with --guidance 1") != std::string::npos);

  for (const char* sampler : {"ddim", "euler-a"}) {
    CAPTURE(sampler);
    const std::string b = base + "--sampler " + sampler + " ";
    r = run_cli(b + "--out " + (tmp / "t2i.png") + " --out-dir " + (tmp / "t2i"));
    REQUIRE(r.rc == 0);
    r = run_cli(b + "--init-image " + (tmp / "init.png") + " --strength 0 --out " + (tmp / "s0.png") +
                " --out-dir " + (tmp / "s0"));
    INFO(r.output);
    REQUIRE(r.rc == 0);
    CHECK(pixels(tmp / "s0/00001.png").pixels == init.pixels);
    r = run_cli(b + "--init-image " + (tmp / "init.png") + " --strength 1 --out " + (tmp / "s1.png") +
                " --out-dir " + (tmp / "s1"));
    REQUIRE(r.rc == 0);
    CHECK(pixels(tmp / "s1/00001.png").pixels == pixels(tmp / "t2i/00001.png").pixels);
    r = run_cli(b + "--init-image " + (tmp / "init.png") + " --mask " + (tmp / "mask.png") + " --out " +
                (tmp / "m.png") + " --out-dir " + (tmp / "m"));
    REQUIRE(r.rc == 0);
    for (const char* f : {"m/00000.png", "m/00001.png"}) {
      const data::GrayImage got = pixels(tmp / f);
      CHECK(std::equal(got.pixels.begin() + 14 * 28, got.pixels.end(), init.pixels.begin() + 14 * 28));
      CHECK(!std::equal(got.pixels.begin(), got.pixels.begin() + 14 * 28, init.pixels.begin()));
    }
  }
  // an init image of another size is refused, saying what is expected
  data::write_png(tmp / "small.png", data::GrayImage{10, 12, std::vector<uint8_t>(120, 7)});
  r = run_cli(base + "--init-image " + (tmp / "small.png") + " --out " + (tmp / "x.png"));
  CHECK(r.rc == 1);
  CHECK(r.output.find("--init-image: '" + (tmp / "small.png") + "' is 10x12; the model makes 28x28 images") !=
        std::string::npos);
}
