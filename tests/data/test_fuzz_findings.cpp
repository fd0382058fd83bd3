// Inputs the fuzzers (fuzz/, docs/reliability.md) found to crash, overflow or hang the data
// loaders, each minimised by hand: every one must now fail with a clear ld::Error. Under the
// asan preset the old behaviour shows as a sanitizer report; in a release build as a wrong or
// missing message.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "data/gzip.h"
#include "data/idx.h"
#include "data/image.h"
#include "data/png.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

using namespace ld;
using namespace ld::data;

namespace {

std::string le16(int v) { return {static_cast<char>(v & 0xff), static_cast<char>(v >> 8 & 0xff)}; }
std::string le32(int64_t v) {
  return le16(static_cast<int>(v & 0xffff)) + le16(static_cast<int>(v >> 16 & 0xffff));
}
std::string be16(int v) { return {static_cast<char>(v >> 8 & 0xff), static_cast<char>(v & 0xff)}; }

// SOI, then a DHT segment whose one table declares 16 x 32 = 512 codes (at most 256 exist).
std::string jpeg_with_oversized_huffman_table(const std::string& soi) {
  std::string dht = "\xFF\xC4" + be16(2 + 17 + 512) + std::string(1, '\x00') + std::string(16, '\x20') +
                    std::string(512, '\x01');
  return soi + dht + "\xFF\xD9";
}

// A BMP header (no pixel data) claiming width x height at 24 bits per pixel.
std::string bmp_header(int64_t width, int64_t height) {
  return "BM" + le32(54) + le32(0) + le32(54) + le32(40) + le32(width) + le32(height) + le16(1) + le16(24) +
         le32(0) + le32(0) + le32(0) + le32(0) + le32(0) + le32(0);
}

}  // namespace

TEST_CASE("IDX: sizes whose product overflows int64 are refused before multiplying") {
  // 0xffffffff x 0xffffffff: the running product passed 2^63 before the 2^36 check (UBSan:
  // signed integer overflow in parse_idx)
  const std::string idx = std::string("\x00\x00\x08\x02", 4) + std::string(8, '\xff');
  CHECK_THROWS_WITH_AS(parse_idx(idx, "x-idx2-ubyte"), doctest::Contains("2^36"), Error);
}

TEST_CASE("JPEG: a Huffman table of more than 256 codes is refused before stb_image sees it") {
  // stb_image 2.27 wrote past stbi__huffman::size[257] (ASan / UBSan: index 257 out of bounds)
  CHECK_THROWS_WITH_AS(decode_image(jpeg_with_oversized_huffman_table("\xFF\xD8"), "x.jpg"),
                       doctest::Contains("Huffman table"), Error);
  // stb_image also accepts FF fill bytes before the start-of-image marker
  CHECK_THROWS_WITH_AS(decode_image(jpeg_with_oversized_huffman_table("\xFF\xFF\xFF\xD8"), "x.jpg"),
                       doctest::Contains("Huffman table"), Error);
  // decode_png hands its bytes to the same stb_image, which sniffs the format
  CHECK_THROWS_WITH_AS(decode_png(jpeg_with_oversized_huffman_table("\xFF\xD8"), "x.png"),
                       doctest::Contains("Huffman table"), Error);
}

TEST_CASE("BMP: a header claiming millions of pixels in a tiny file is refused at once") {
  // 6 x 8,388,613 pixels in 54 bytes: stb_image allocated ~200 MB and decoded zeros (fuzz timeout)
  CHECK_THROWS_WITH_AS(decode_image(bmp_header(6, 8388613), "tall.bmp"),
                       doctest::Contains("truncated or corrupt"), Error);
  CHECK_THROWS_WITH_AS(decode_image(bmp_header(10000, 10000), "huge.bmp"), doctest::Contains("megapixels"),
                       Error);
  // the same as top-down BMPs (negative height): stb_image's info reports h < 0, its loader
  // |h|, so the checks passed; 6 x 16,777,211 pixels took 17 s under ASan (fuzz slow unit,
  // fuzz/corpus/fuzz_image_caption/regress-slow-topdown-bmp)
  CHECK_THROWS_WITH_AS(decode_image(bmp_header(6, -16777211), "topdown.bmp"),
                       doctest::Contains("6 x 16777211 pixels is more than the 64 megapixels"), Error);
  CHECK_THROWS_WITH_AS(decode_image(bmp_header(6, -8388613), "topdown-tall.bmp"),
                       doctest::Contains("6 x 8388613 pixels, more than its 54 bytes"), Error);
  CHECK_THROWS_WITH_AS(decode_image(bmp_header(10000, -10000), "huge-topdown.bmp"),
                       doctest::Contains("megapixels"), Error);
  // a real small BMP still decodes
  std::string small = bmp_header(2, 2) + std::string(2 * 8, '\x80');  // rows padded to 4 bytes
  FloatImage img = decode_image(small, "small.bmp");
  CHECK(img.width == 2);
  CHECK(img.height == 2);
  FloatImage topdown = decode_image(bmp_header(2, -2) + std::string(2 * 8, '\x80'), "small-topdown.bmp");
  CHECK(topdown.height == 2);
}

TEST_CASE("PNG: an empty IDAT chunk is an error, not undefined behaviour") {
  // stb_image 2.27 calls memcpy(NULL, src, 0) for it (UBSan: null pointer passed as argument 1);
  // data/CMakeLists.txt builds stb_impl.cpp without that one check
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + std::string("\x00\x00\x00\x0dIHDR", 8) +
                          std::string("\x00\x00\x00\x0e\x00\x00\x00\x0e\x08\x00\x00\x00\x00", 13) +
                          "\x3a\x23\x72\x0d" + std::string("\x00\x00\x00\x00IDAT", 8) + "\x35\xaf\x06\x1e";
  CHECK_THROWS_AS(decode_image(png, "empty-idat.png"), Error);
}

TEST_CASE("PNG: a chunk longer than the file is refused before stb_image allocates it") {
  // an IDAT claiming 0x7fffffff bytes: stb_image 2.27 realloc'd 2 GB first (libFuzzer: out-of-memory)
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + std::string("\x00\x00\x00\x0dIHDR", 8) +
                          std::string("\x00\x00\x00\x0e\x00\x00\x00\x0e\x08\x00\x00\x00\x00", 13) +
                          "\x3a\x23\x72\x0d" + std::string("\x7f\xff\xff\xffIDAT", 8) + "x^";
  CHECK_THROWS_WITH_AS(decode_image(png, "huge-idat.png"), doctest::Contains("runs past the end"), Error);
  // our own PNGs (text chunks included) still decode
  const GrayImage img{3, 2, {0, 50, 100, 150, 200, 250}};
  CHECK(decode_png(encode_png(img, {{"parameters", "a digit"}}), "ok.png").pixels == img.pixels);
}

TEST_CASE("formats other than PNG, JPEG and BMP are not decoded") {
  // stb_image is built with STBI_ONLY_PNG/JPEG/BMP: a GIF is refused with the usual message
  const std::string gif = std::string("GIF89a\x01\x00\x01\x00\x00\x00\x00", 13) +
                          ",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00;";
  CHECK_THROWS_WITH_AS(decode_image(gif, "x.gif"), doctest::Contains("expected a PNG, JPEG or BMP"), Error);
}

TEST_CASE("every input a fuzzer once failed on (fuzz/corpus/*/regress-*) is now read or refused cleanly") {
  // the same split of the input as the harnesses make (fuzz_image_caption.cpp, fuzz_idx.cpp)
  namespace fs = std::filesystem;
  int replayed = 0;
  for (const char* harness : {"fuzz_image_caption", "fuzz_idx"}) {
    for (const auto& e :
         fs::directory_iterator(fs::path(LORADIFF_SOURCE_DIR) / "fuzz" / "corpus" / harness)) {
      if (e.path().filename().string().rfind("regress-", 0) != 0) continue;
      INFO(e.path().string());
      const std::string bytes = read_file(e.path().string());
      REQUIRE(bytes.size() >= 2);
      try {
        if (std::string(harness) == "fuzz_image_caption") {
          const size_t caption = std::min<size_t>(
              static_cast<uint8_t>(bytes[0]) | static_cast<uint8_t>(bytes[1]) << 8, bytes.size() - 2);
          decode_image(bytes.substr(2 + caption), e.path().string());
        } else {
          parse_idx(bytes[0] & 1 ? gzip(bytes.substr(1)) : bytes.substr(1), e.path().string());
        }
      } catch (const Error&) {
      }
      ++replayed;
    }
  }
  CHECK(replayed >= 6);
}
