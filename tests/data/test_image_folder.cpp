// Image + caption folders (the LoRA data set, article Fig. 4): generated PNG / BMP / JPEG
// files, dark-on-light detection, and every error naming its file. The folder is never changed.
#include <doctest/doctest.h>
#include <stb_image_write.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "data/image_folder.h"
#include "data/png.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

using namespace ld::data;
namespace fs = std::filesystem;

namespace {

// A w x h image: a filled rectangle of `ink` in the middle third on `paper`.
GrayImage digit_like(int64_t w, int64_t h, uint8_t paper, uint8_t ink) {
  GrayImage g{w, h, std::vector<uint8_t>(static_cast<size_t>(w * h), paper)};
  for (int64_t y = h / 3; y < 2 * h / 3; ++y)
    for (int64_t x = w / 3; x < 2 * w / 3; ++x) g.pixels[y * w + x] = ink;
  return g;
}

void append(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size);
}

std::string encode_with_stb(const GrayImage& g, const std::string& format) {
  std::string out;
  const int w = static_cast<int>(g.width), h = static_cast<int>(g.height);
  if (format == "bmp")
    stbi_write_bmp_to_func(append, &out, w, h, 1, g.pixels.data());
  else
    stbi_write_jpg_to_func(append, &out, w, h, 1, g.pixels.data(), 95);
  return out;
}

struct Folder {
  fs::path dir;
  explicit Folder(const std::string& tag) {
    dir = fs::temp_directory_path() / ("loradiff-test-folder-" + tag + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Folder() { fs::remove_all(dir); }
  void file(const std::string& name, const std::string& bytes) const {
    ld::write_file_atomic((dir / name).string(), bytes);
  }
  // name -> (size, contents), to prove reading changes nothing
  std::map<std::string, std::string> snapshot() const {
    std::map<std::string, std::string> s;
    for (const auto& e : fs::directory_iterator(dir))
      s[e.path().filename().string()] = ld::read_file(e.path().string());
    return s;
  }
  std::string error(const FolderOptions& opt = {}) const {
    try {
      read_image_folder(dir.string(), opt);
    } catch (const ld::Error& e) {
      return e.what();
    }
    return "";
  }
};

void good_pairs(const Folder& f) {
  f.file("a.png", encode_png(digit_like(28, 28, 0, 255)));  // MNIST-like: white on black
  f.file("a.txt", "a handwritten digit seven\n");
  f.file("b.bmp", encode_with_stb(digit_like(40, 20, 240, 10), "bmp"));  // dark ink on paper, wide
  f.file("b.txt", "  the digit\n one ");
  f.file("c.JPG", encode_with_stb(digit_like(28, 28, 250, 5), "jpg"));
  f.file("c.txt",
         "\xEF\xBB\xBF"
         "a thin nine");
  f.file(".DS_Store", "ignored");
}

}  // namespace

TEST_CASE("a good folder: sizes, [-1,1], inversion of dark-on-light, cleaned captions, untouched") {
  Folder f("good");
  good_pairs(f);
  const auto before = f.snapshot();
  const ImageFolder got = read_image_folder(f.dir.string(), {28, InvertMode::Auto, 3});
  CHECK(f.snapshot() == before);
  REQUIRE(got.items.size() == 3);
  CHECK(got.images.shape() == ld::Shape{3, 1, 28, 28});
  CHECK(fs::path(got.items[0].image_path).filename() == "a.png");
  CHECK(got.items[1].caption == "the digit one");
  CHECK(got.items[2].caption == "a thin nine");
  CHECK_FALSE(got.items[0].inverted);
  CHECK(got.items[1].inverted);
  CHECK(got.items[2].inverted);
  CHECK(got.items[1].original_width == 40);
  for (float v : got.images.to_vector()) {
    CHECK(v >= -1.0f);
    CHECK(v <= 1.0f);
  }
  // After inversion all three are light ink on a dark background, padding included.
  for (int64_t i = 0; i < 3; ++i) {
    CHECK(got.images.at({i, 0, 0, 0}) < -0.8f);   // corner (padding for the wide b.bmp)
    CHECK(got.images.at({i, 0, 14, 14}) > 0.8f);  // centre (ink)
  }
  // b.bmp is 40x20: fitted to 28x14, centred, so rows 0..6 are padding.
  CHECK(got.images.at({1, 0, 6, 14}) < -0.8f);
  CHECK(got.images.at({1, 0, 14, 14}) > 0.8f);
}

TEST_CASE("invert modes override the detection") {
  Folder f("invert");
  good_pairs(f);
  const ImageFolder never = read_image_folder(f.dir.string(), {28, InvertMode::Never, 1});
  CHECK_FALSE(never.items[1].inverted);
  CHECK(never.images.at({1, 0, 0, 0}) > 0.8f);  // still white paper, padding matches it
  const ImageFolder always = read_image_folder(f.dir.string(), {28, InvertMode::Always, 1});
  CHECK(always.items[0].inverted);
  CHECK(always.images.at({0, 0, 0, 0}) > 0.8f);
  CHECK(parse_invert_mode("never") == InvertMode::Never);
  CHECK_THROWS_AS(parse_invert_mode("sometimes"), ld::Error);
}

TEST_CASE("errors name the file: missing caption, orphan caption, bad bytes, empty caption") {
  Folder f("errors");
  good_pairs(f);
  f.file("d.png", encode_png(digit_like(28, 28, 0, 255)));  // no d.txt
  f.file("e.txt", "an orphan caption");                     // no image
  f.file("g.png", "this is not a PNG");
  f.file("g.txt", "a broken image");
  f.file("h.bmp", encode_with_stb(digit_like(28, 28, 0, 255), "bmp"));
  f.file("h.txt", " \n\t ");
  f.file("notes.md", "x");
  const auto before = f.snapshot();
  const std::string err = f.error();
  CHECK(f.snapshot() == before);
  CHECK(err.find("5 problems") != std::string::npos);
  CHECK(err.find("d.png': image without caption") != std::string::npos);
  CHECK(err.find("e.txt': caption without image") != std::string::npos);
  CHECK(err.find("cannot read image '" + (f.dir / "g.png").string() + "'") != std::string::npos);
  CHECK(err.find("h.txt': empty caption") != std::string::npos);
  CHECK(err.find("notes.md': unexpected file") != std::string::npos);
}

TEST_CASE("fewer pairs than the minimum, and a missing folder") {
  Folder f("few");
  good_pairs(f);
  CHECK(f.error({28, InvertMode::Auto, 16}).find("found 3 image/caption pairs, expected at least 16") !=
        std::string::npos);
  CHECK_THROWS_WITH_AS(read_image_folder("/nonexistent/lora-set"), doctest::Contains("/nonexistent/lora-set"),
                       ld::Error);
}

TEST_CASE("two images with one caption name are ambiguous") {
  Folder f("dupe");
  f.file("x.png", encode_png(digit_like(28, 28, 0, 255)));
  f.file("x.bmp", encode_with_stb(digit_like(28, 28, 0, 255), "bmp"));
  f.file("x.txt", "a handwritten digit one");
  CHECK(f.error().find("share one caption name") != std::string::npos);
}
