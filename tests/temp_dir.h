// tests/temp_dir.h: a fresh folder for one test, "<system temp>/loradiff-<name>-<pid>", emptied
// when made and removed with everything in it when the test's scope ends.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

namespace ld::test {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("loradiff-" + name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& file) const { return (path / file).string(); }
};

}  // namespace ld::test
