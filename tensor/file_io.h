// tensor/file_io.h: whole-file reads and atomic writes, shared by every format
// loradiff writes (checkpoints, adapters, PNGs, CSV logs).
//
// write_file_atomic writes to "<path>.tmp-<pid>" in the same folder, flushes it to
// disk (fsync), then renames it over <path>. A crash or a full disk at any moment
// leaves either the old file or the new one, never a partial file; on failure (an error, an
// exception, a second Ctrl-C: tensor/interrupt.h) the temporary file is removed, and an error
// is an ld::Error naming the path and the reason.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace ld {

std::string read_file(const std::string& path);  // throws "cannot read '<path>': <reason>"

// Throws "cannot read '<path>': it is a <kind>, not a regular file" (or the stat error)
// unless `path` names a regular file (symbolic links are followed). Nothing is opened.
void check_regular_file(const std::string& path);

// A regular file open for reading, for readers that take a file piece by piece (the
// safetensors header first, its data only once the header agrees with the file's size).
class InputFile {
 public:
  explicit InputFile(const std::string& path);  // check_regular_file, then open
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }  // at open time
  // Exactly n bytes from `offset`; throws naming the file when it ends sooner.
  std::string read_at(uint64_t offset, uint64_t n) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};
void write_file_atomic(const std::string& path, std::string_view bytes);

// A process killed in the middle of write_file_atomic leaves "<file>.tmp-<pid>" behind
// (the real <file> is intact). Removes such files in `folder` whose process is gone
// (not this one, not a live one) and whose name starts with `prefix`; returns the paths
// removed. A missing folder is fine.
std::vector<std::string> remove_stale_temp_files(const std::string& folder, const std::string& prefix = "");

}  // namespace ld
