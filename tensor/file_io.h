// tensor/file_io.h: whole-file reads and atomic writes, shared by every format
// loradiff writes (checkpoints, adapters, PNGs, CSV logs).
//
// write_file_atomic writes to "<path>.tmp-<pid>" in the same folder, flushes it to
// disk (fsync), then renames it over <path>. A crash or a full disk at any moment
// leaves either the old file or the new one, never a partial file; on failure the
// temporary file is removed and an ld::Error names the path and the reason.
#pragma once
#include <string>
#include <string_view>

namespace ld {

std::string read_file(const std::string& path);  // throws "cannot read '<path>': <reason>"
void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace ld
