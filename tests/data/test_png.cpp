// PNG out: a grid written and read back with its "parameters" text chunk, CRCs checked by
// an independent chunk walk, UTF-8 prompts via iTXt, atomic writes.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>

#include "data/png.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

using namespace ld::data;
namespace fs = std::filesystem;

namespace {

GenerationParams sample_params() {
  GenerationParams p;
  p.prompt = "a thick slanted seven";
  p.seed = 1234567890123ULL;
  p.steps = 50;
  p.guidance = 3.5;
  p.model_hash = "9f86d081884c";
  p.size = "28x28";
  p.extra = {{"LoRA", "nines.safetensors, rank 4"}};
  return p;
}

// Independent of read_png_text: walk the chunks, recompute every CRC with zlib.
std::vector<std::string> chunk_types_with_valid_crc(const std::string& png) {
  std::vector<std::string> types;
  size_t pos = 8;
  while (pos + 12 <= png.size()) {
    auto be = [&](size_t at) {
      return (uint32_t(uint8_t(png[at])) << 24) | (uint32_t(uint8_t(png[at + 1])) << 16) |
             (uint32_t(uint8_t(png[at + 2])) << 8) | uint32_t(uint8_t(png[at + 3]));
    };
    const uint32_t len = be(pos);
    const uint32_t crc =
        static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(png.data() + pos + 4), len + 4));
    REQUIRE(crc == be(pos + 8 + len));
    types.push_back(png.substr(pos + 4, 4));
    pos += 12 + len;
  }
  return types;
}

}  // namespace

TEST_CASE("parameters text: A1111 layout and round trip") {
  const GenerationParams p = sample_params();
  const std::string text = format_parameters(p);
  CHECK(text ==
        "a thick slanted seven\nSteps: 50, Sampler: DDIM, CFG scale: 3.5, Seed: 1234567890123, Size: 28x28, "
        "Model "
        "hash: 9f86d081884c, LoRA: \"nines.safetensors, rank 4\"");
  const GenerationParams q = parse_parameters(text);
  CHECK(q.prompt == p.prompt);
  CHECK(q.seed == p.seed);
  CHECK(q.steps == 50);
  CHECK(q.guidance == 3.5);
  CHECK(q.model_hash == p.model_hash);
  CHECK(q.extra == p.extra);
  CHECK(q.size == "28x28");
  CHECK(q.negative_prompt.empty());
  CHECK_THROWS_AS(parse_parameters("no newline"), ld::Error);
}

TEST_CASE("parameters text: a negative prompt is its own line, also beside an empty prompt, and reads back") {
  GenerationParams p = sample_params();
  p.negative_prompt = "a handwritten digit one, thin";
  p.extra.push_back({"Lora hashes", "nines: 0123456789, sevens: abcdef0123"});
  const std::string text = format_parameters(p);
  CHECK(text.find("a thick slanted seven\nNegative prompt: a handwritten digit one, thin\nSteps: 50,") == 0);
  CHECK(text.find("Lora hashes: \"nines: 0123456789, sevens: abcdef0123\"") != std::string::npos);
  GenerationParams q = parse_parameters(text);
  CHECK(q.prompt == p.prompt);
  CHECK(q.negative_prompt == p.negative_prompt);
  CHECK(q.extra == p.extra);
  CHECK(format_parameters(q) == text);
  p.prompt = "";
  q = parse_parameters(format_parameters(p));
  CHECK(q.prompt.empty());
  CHECK(q.negative_prompt == p.negative_prompt);
  // through a PNG file's tEXt chunk and back
  GrayImage g{2, 1, {0, 255}};
  const auto chunks = read_png_text(encode_png(g, {{"parameters", text}}), "n.png");
  REQUIRE(chunks.size() == 1);
  CHECK(parse_parameters(chunks[0].second).negative_prompt == "a handwritten digit one, thin");
  p.negative_prompt = "two\nlines";
  CHECK_THROWS_AS(format_parameters(p), ld::Error);
}

TEST_CASE("a grid PNG written to disk reads back with pixels and metadata") {
  const fs::path dir = fs::temp_directory_path() / ("loradiff-test-png-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<float> v;
  for (int i = 0; i < 6 * 28 * 28; ++i) v.push_back(static_cast<float>(i % 255) / 127.0f - 1.0f);
  const ld::Tensor images = ld::Tensor::from_vector(v, {6, 1, 28, 28});
  const std::string path = (dir / "grid.png").string();
  write_png_grid(path, images, 2, 3, 2, sample_params());

  const std::string bytes = ld::read_file(path);
  const std::vector<std::string> types = chunk_types_with_valid_crc(bytes);
  REQUIRE(types.size() >= 4);
  CHECK(types[0] == "IHDR");
  CHECK(types[1] == "tEXt");
  CHECK(types.back() == "IEND");

  const GrayImage back = decode_png(bytes, path);
  const GrayImage expect = make_grid(images, 2, 3, 2);
  CHECK(back.width == 3 * 56 + 2);
  CHECK(back.height == 2 * 56 + 1);
  CHECK(back.pixels == expect.pixels);

  const auto params = read_png_parameters(path);
  REQUIRE(params.has_value());
  CHECK(params->prompt == "a thick slanted seven");
  CHECK(params->seed == 1234567890123ULL);
  CHECK(params->guidance == 3.5);
  CHECK(params->model_hash == "9f86d081884c");

  // No temporary file is left beside it.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  CHECK(files == 1);
  fs::remove_all(dir);
}

TEST_CASE("a corrupted chunk fails its CRC; a PNG without parameters has none") {
  GrayImage g{2, 2, {0, 50, 100, 255}};
  PngTextChunks text = {{"parameters", "x\nSteps: 1"}};
  std::string png = encode_png(g, text);
  CHECK(read_png_text(png, "ok.png") == text);
  std::string bad = png;
  bad[33 + 8 + 2] ^= 1;  // a byte inside the tEXt chunk's keyword
  CHECK_THROWS_WITH_AS(read_png_text(bad, "bad.png"), doctest::Contains("'bad.png': chunk 'tEXt'"),
                       ld::Error);
  CHECK_THROWS_WITH_AS(read_png_text(png.substr(0, png.size() - 5), "cut.png"), doctest::Contains("cut.png"),
                       ld::Error);
  CHECK_THROWS_WITH_AS(read_png_text("GIF89a....", "x.gif"), doctest::Contains("no PNG signature"),
                       ld::Error);
  CHECK(read_png_text(encode_png(g), "plain.png").empty());
}

TEST_CASE("non-ASCII prompts go into an iTXt chunk") {
  GrayImage g{1, 1, {7}};
  const std::string prompt = "\xd1\x86\xd0\xb8\xd1\x84\xd1\x80\xd0\xb0 seven";  // UTF-8 Cyrillic
  const std::string png = encode_png(g, {{"parameters", prompt + "\nSteps: 2"}});
  CHECK(chunk_types_with_valid_crc(png)[1] == "iTXt");
  const auto text = read_png_text(png, "u.png");
  REQUIRE(text.size() == 1);
  CHECK(text[0].second == prompt + "\nSteps: 2");
  CHECK_THROWS_AS(encode_png(g, {{"", "x"}}), ld::Error);
}

TEST_CASE("a prompt the parameters chunk cannot store is refused before any work, naming the option") {
  CHECK_NOTHROW(check_prompt("a handwritten digit seven", "--prompt"));
  CHECK_NOTHROW(
      check_prompt("\xD1\x81\xD0\xB5\xD0\xBC\xD1\x8C \xE4\xB8\x83\t\xF0\x9F\x99\x82", "--prompt"));  // iTXt
  CHECK_NOTHROW(check_prompt("", "--prompt"));  // the empty caption: unconditional samples
  CHECK_THROWS_WITH_AS(check_prompt("seven\xFF", "--prompt"),
                       doctest::Contains("--prompt: not valid UTF-8 at byte 5"), ld::Error);
  CHECK_THROWS_WITH_AS(check_prompt("two\nlines", "--prompt"),
                       doctest::Contains("--prompt: control character \\n at byte 3"), ld::Error);
  CHECK_THROWS_WITH_AS(check_prompt(std::string("nul\0byte", 8), "--prompt"),
                       doctest::Contains("control character \\x00 at byte 3"), ld::Error);
  CHECK_THROWS_WITH_AS(check_prompt("c1 \xC2\x85", "--prompt"), doctest::Contains("\\xC2\\x85 at byte 3"),
                       ld::Error);
  CHECK_THROWS_WITH_AS(check_prompt(std::string(kMaxPromptBytes + 1, 'a'), "--prompt"),
                       doctest::Contains("--prompt: 4097 bytes, more than 4096"), ld::Error);
  // the library itself never writes an iTXt chunk that is not UTF-8
  CHECK_THROWS_WITH_AS(encode_png(GrayImage{1, 1, {0}}, {{"parameters", "s\xE9ven"}}),
                       doctest::Contains("not valid UTF-8"), ld::Error);
}

TEST_CASE("a grid too large for a PNG is refused before sampling") {
  CHECK_NOTHROW(check_grid_size(10000, 28, 28, 2, "--n"));
  CHECK_THROWS_WITH_AS(check_grid_size(100000000, 28, 28, 2, "--n 100000000"),
                       doctest::Contains("--n 100000000: a grid of 100000000 images"), ld::Error);
  CHECK_THROWS_WITH_AS(encode_png(GrayImage{40000, 40000, {}}),
                       doctest::Contains("a 40000x40000 image is larger than"), ld::Error);
}
