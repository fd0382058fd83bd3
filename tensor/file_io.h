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
void write_file_atomic(const std::string& path, std::string_view bytes);

// A process killed in the middle of write_file_atomic leaves "<file>.tmp-<pid>" behind
// (the real <file> is intact). Removes such files in `folder` whose process is gone
// (not this one, not a live one) and whose name starts with `prefix`; returns the paths
// removed. A missing folder is fine.
std::vector<std::string> remove_stale_temp_files(const std::string& folder, const std::string& prefix = "");

}  // namespace ld
