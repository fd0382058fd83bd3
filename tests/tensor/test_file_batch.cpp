// write_files_atomic (tensor/file_batch.h): many files, each complete, in groups with one sync each;
// an error leaves no temporary behind and no file half-written.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "tensor/error.h"
#include "tensor/file_batch.h"
#include "tensor/file_io.h"
#include "tensor/interrupt.h"
#include "tests/temp_dir.h"

namespace fs = std::filesystem;
using namespace ld;
using ld::test::TempDir;

namespace {

size_t count_temporaries(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    n += e.path().filename().string().find(".tmp-") != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("write_files_atomic writes every file, over several groups, and replaces old ones") {
  TempDir tmp("file-batch");
  write_file_atomic(tmp / "f3", "old");
  std::vector<std::pair<std::string, std::string>> files;
  const int n = kMaxTempFiles * 2 + 5;  // more than two groups
  for (int i = 0; i < n; ++i)
    files.emplace_back(tmp / ("f" + std::to_string(i)), std::string(i, 'a' + i % 26));
  write_files_atomic(files);
  for (int i = 0; i < n; ++i) CHECK(read_file(tmp / ("f" + std::to_string(i))) == files[i].second);
  CHECK(count_temporaries(tmp.path) == 0);
  CHECK(registered_temp_files() == 0);
  write_files_atomic({});  // nothing to do
}

TEST_CASE("write_files_atomic: an error names the file and leaves no temporary") {
  TempDir tmp("file-batch-bad");
  fs::create_directories(tmp.path / "dir");
  std::vector<std::pair<std::string, std::string>> files;
  for (int i = 0; i < kMaxTempFiles / 2 + 3; ++i) files.emplace_back(tmp / ("g" + std::to_string(i)), "x");
  files.emplace_back(tmp / "no/such/file", "y");  // in the second group
  CHECK_THROWS_WITH_AS(write_files_atomic(files), doctest::Contains("no/such/file"), Error);
  CHECK(fs::exists(tmp.path / "g0"));  // the first group was written
  CHECK_FALSE(fs::exists(tmp.path / ("g" + std::to_string(kMaxTempFiles / 2 + 2))));
  CHECK_THROWS_WITH_AS(write_files_atomic({{tmp / "dir", "z"}}), doctest::Contains("it is a directory"),
                       Error);
  CHECK(count_temporaries(tmp.path) == 0);
  CHECK(registered_temp_files() == 0);
}
