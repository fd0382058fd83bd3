// IDX files: round trip (plain and gzip'd), and every kind of broken file gives an error naming it.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "data/gzip.h"
#include "data/idx.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

using namespace ld::data;
namespace fs = std::filesystem;

static IdxArray sample_images() {
  IdxArray a;
  a.dims = {3, 4, 5};
  for (int i = 0; i < 60; ++i) a.data.push_back(static_cast<uint8_t>(i * 7));
  return a;
}

static std::string error_of(const std::string& bytes, const std::string& name = "f.idx") {
  try {
    parse_idx(bytes, name);
  } catch (const ld::Error& e) {
    return e.what();
  }
  return "";
}

TEST_CASE("IDX header layout matches the MNIST spec") {
  const std::string b = encode_idx(sample_images(), false);
  REQUIRE(b.size() == 4 + 3 * 4 + 60);
  CHECK(b.substr(0, 4) == std::string("\0\0\x08\x03", 4));  // magic 0x00000803
  CHECK(b.substr(4, 4) == std::string("\0\0\0\x03", 4));    // N = 3, big-endian
  CHECK(static_cast<uint8_t>(b[16]) == 0);
  CHECK(static_cast<uint8_t>(b[17]) == 7);
}

TEST_CASE("IDX round trip, plain and gzip'd, through files") {
  const fs::path dir = fs::temp_directory_path() / ("loradiff-test-idx-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const IdxArray a = sample_images();
  for (const char* name : {"x-idx3-ubyte", "x-idx3-ubyte.gz"}) {
    const std::string path = (dir / name).string();
    write_idx(path, a);
    CHECK(is_gzip(ld::read_file(path)) == (std::string(name).ends_with(".gz")));
    const IdxArray b = read_idx(path);
    CHECK(b.dims == a.dims);
    CHECK(b.data == a.data);
  }
  IdxArray labels{{5}, {0, 1, 2, 9, 4}};
  CHECK(parse_idx(encode_idx(labels, true), "l").data == labels.data);
  CHECK(encode_idx(labels, true) == encode_idx(labels, true));  // deterministic gzip (mtime 0)
  fs::remove_all(dir);
}

TEST_CASE("truncated, padded and corrupt IDX files are rejected with the file named") {
  const std::string good = encode_idx(sample_images(), false);
  CHECK(error_of(good.substr(0, good.size() - 1)).find("truncated") != std::string::npos);
  CHECK(error_of(good.substr(0, good.size() - 1)).find("'f.idx'") != std::string::npos);
  CHECK(error_of(good + "x").find("trailing bytes") != std::string::npos);
  CHECK(error_of(good.substr(0, 10)).find("truncated header") != std::string::npos);
  CHECK(error_of("ab").find("at least a 4-byte header") != std::string::npos);
  std::string bad_magic = good;
  bad_magic[0] = 1;
  CHECK(error_of(bad_magic).find("bad magic number 0x01000803") != std::string::npos);
  std::string bad_type = good;
  bad_type[2] = 0x0D;
  CHECK(error_of(bad_type).find("float32") != std::string::npos);
  std::string zero_dim = good;
  zero_dim[7] = 0;
  CHECK(error_of(zero_dim).find("size 0") != std::string::npos);

  // gzip'd: a cut stream and flipped bytes
  const std::string gz = encode_idx(sample_images(), true);
  CHECK(error_of(gz.substr(0, gz.size() / 2)).find("truncated") != std::string::npos);
  std::string flipped = gz;
  for (size_t i = 12; i < 20 && i < flipped.size(); ++i) flipped[i] = static_cast<char>(~flipped[i]);
  CHECK(!error_of(flipped).empty());
  // A gzip of a truncated IDX: the length check happens after decompression.
  CHECK(error_of(gzip(good.substr(0, 30))).find("decompressed stream has 30") != std::string::npos);
}

TEST_CASE("read_idx on a missing file names it") {
  CHECK_THROWS_WITH_AS(read_idx("/nonexistent/t10k-images-idx3-ubyte.gz"),
                       doctest::Contains("/nonexistent/t10k-images-idx3-ubyte.gz"), ld::Error);
}

TEST_CASE("gunzip reads concatenated members") {
  CHECK(gunzip(gzip("hello ") + gzip("world"), "two") == "hello world");
  CHECK_THROWS_WITH_AS(gunzip("plain", "'p'"), doctest::Contains("not a gzip stream"), ld::Error);
}
