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

TEST_CASE("captions: invalid UTF-8 is refused naming the file and the byte; a caption without words too") {
  {
    Folder f("utf8");
    f.file("a.png", encode_png(digit_like(28, 28, 0, 255)));
    f.file("a.txt", "a handwritten digit s\xE9ven\n");  // Latin-1, not UTF-8
    const std::string err = f.error();
    CHECK(err.find("a.txt': not valid UTF-8 at byte 21 (byte 0xE9)") != std::string::npos);
  }
  {
    Folder f("nowords");
    f.file("a.png", encode_png(digit_like(28, 28, 0, 255)));
    f.file("a.txt", "\xE2\x98\x85 \xF0\x9F\x99\x82 !!!");  // a star, an emoji, punctuation
    const std::string err = f.error();
    CHECK(err.find("a.txt': caption '") != std::string::npos);
    CHECK(err.find("has no words") != std::string::npos);
  }
}

TEST_CASE("check_folder_captions: no known word is an error naming the file, the rest one warning line") {
  Folder f("vocab");
  f.file("a.png", encode_png(digit_like(28, 28, 0, 255)));
  f.file("a.txt", "a handwritten digit seven");
  f.file("b.png", encode_png(digit_like(28, 28, 0, 255)));
  f.file("b.txt", "a purple seven \xE2\x98\x85");
  const ImageFolder ok = read_image_folder(f.dir.string());
  const std::string w = check_folder_captions(ok, Vocabulary::builtin(), "dir");
  CHECK(w.find("captions in 'dir': 1 of 2 captions have words the vocabulary lacks") == 0);
  CHECK(w.find("'purple' (1x)") != std::string::npos);
  CHECK(w.find("'\xE2\x98\x85'") != std::string::npos);
  f.file("c.png", encode_png(digit_like(28, 28, 0, 255)));
  f.file("c.txt", "\xD1\x81\xD0\xB5\xD0\xBC\xD1\x8C");  // Cyrillic only
  const ImageFolder bad = read_image_folder(f.dir.string());
  CHECK_THROWS_WITH_AS(
      check_folder_captions(bad, Vocabulary::builtin(), "dir"),
      doctest::Contains(
          "c.txt': caption '\xD1\x81\xD0\xB5\xD0\xBC\xD1\x8C' has no word the model's vocabulary knows"),
      ld::Error);
  Folder clean("vocab-clean");
  clean.file("a.png", encode_png(digit_like(28, 28, 0, 255)));
  clean.file("a.txt", "a handwritten digit seven");
  CHECK(check_folder_captions(read_image_folder(clean.dir.string()), Vocabulary::builtin(), "d").empty());
}
