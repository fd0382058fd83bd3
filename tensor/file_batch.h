// tensor/file_batch.h: many small files written atomically with few syncs (`data make-shapes`).
//
// write_files_atomic gives each file the guarantee of write_file_atomic (tensor/file_io.h): a crash
// or an error at any moment leaves it old or new, never partial, and a temporary that was not
// renamed into place is removed (also on Ctrl-C: each is registered, tensor/interrupt.h). It writes
// a group of temporaries, syncs the file system once (syncfs), then renames the group and fsyncs
// each folder once, instead of an fsync per file and per rename. On an error the files of earlier
// groups (and the renames already done) stay written.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace ld {

void write_files_atomic(const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace ld
