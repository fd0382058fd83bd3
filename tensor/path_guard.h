// tensor/path_guard.h: outputs never destroy inputs, another run's files, or a file of another kind.
//
// What git, rsync and PyTorch users take for granted, checked by every command before its first step
// of work (docs/reliability.md, "Outputs never destroy inputs"):
//   - an output is never the same file (or folder) as an input or as another output: compared after
//     resolving `./x`, `a/../x`, symlinks and hard links (device + inode where the file exists);
//   - an output file can be written: its folder exists and is writable, it is not a folder, and an
//     existing file there is of the same kind (a checkpoint is never replaced by a PNG or JSON, a model
//     never by an adapter);
//   - a run folder (train --out, lora train --log-dir) is used by one process at a time (flock).
// Files themselves are written atomically (tensor/file_io.h: temp file + rename).
#pragma once

#include <string>
#include <vector>

namespace ld {

// An option and the path it was given, e.g. {"--out", "runs/a/grid.png"}: errors name both.
struct PathArg {
  std::string option, path;
};

// True when both paths name one file or folder: both exist and are one inode (std::filesystem::
// equivalent), or they do not both exist and their weakly canonical forms are equal.
bool same_path(const std::string& a, const std::string& b);

// Refuses (ld::Error) when an output names an input, or two outputs name one file, e.g.
//   "--out 'x.safetensors' is the same file as --base 'runs/ref/model.safetensors'; an output never
//    overwrites an input: choose another --out".
// Empty paths are skipped (options not given).
void check_outputs_distinct(const std::vector<PathArg>& inputs, const std::vector<PathArg>& outputs);

// What a file holds, from its first bytes (and, for safetensors, the "format" of its header metadata).
enum class FileKind {
  Missing,  // no file, or an empty one
  Png,
  Json,            // starts with '{' or '[' (and is not safetensors)
  Text,            // other text (CSV, captions, ...)
  Model,           // loradiff checkpoint ("format": "loradiff")
  Adapter,         // loradiff LoRA adapter ("loradiff-lora")
  Classifier,      // "loradiff-classifier"
  TrainState,      // `train`'s resume state ("loradiff-train-state")
  LoraTrainState,  // `lora train`'s resume state ("loradiff-lora-train-state")
  Safetensors,     // another safetensors file
  Binary,          // anything else
};
FileKind sniff_file_kind(const std::string& path);
const char* file_kind_name(FileKind kind);  // "a PNG image", "a loradiff model checkpoint", ...

// An output file before any work: not a folder, its folder exists and is writable, and an existing
// file there is of kind `kind` (or empty) and is not the model of a training run (a model.safetensors
// beside a train_state.safetensors); otherwise one line naming the option, the path and what is there.
// `overwrite` (the command's --overwrite) allows replacing such a file.
void check_output_file(const PathArg& out, FileKind kind, bool overwrite = false);

// An output folder before any work: not an existing file; its parent folder exists; writable if it
// exists.
void check_output_folder(const PathArg& out);

// One process per run folder: an exclusive flock on `<dir>/.loradiff.lock`, held until destroyed (the
// kernel drops it when the process dies, so a killed run never leaves a stale lock). A second process
// gets "--out 'runs/a' is in use by another loradiff process (pid 123); wait for it to finish or
// choose another folder". The folder must exist.
class FolderLock {
 public:
  FolderLock(const std::string& dir, const std::string& option);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace ld
