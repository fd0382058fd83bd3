// tensor/path_guard.cpp: the output checks of tensor/path_guard.h.
#include "tensor/path_guard.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace ld {

namespace fs = std::filesystem;

bool same_path(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) {
    const bool eq = fs::equivalent(a, b, ec);  // device + inode: symlinks, hard links, ./x, a/../x
    if (!ec) return eq;
  }
  const fs::path ca = fs::weakly_canonical(fs::absolute(a, ec), ec);
  const fs::path cb = fs::weakly_canonical(fs::absolute(b, ec), ec);
  return ca.lexically_normal() == cb.lexically_normal();
}

void check_outputs_distinct(const std::vector<PathArg>& inputs, const std::vector<PathArg>& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const PathArg& out = outputs[i];
    if (out.path.empty()) continue;
    for (const PathArg& in : inputs)
      if (same_path(out.path, in.path))
        fail(out.option, " '", out.path, "' is the same ", fs::is_directory(in.path) ? "folder" : "file",
             " as ", in.option, " '", in.path, "'; an output never overwrites an input: choose another ",
             out.option);
    for (size_t k = 0; k < i; ++k)
      if (same_path(out.path, outputs[k].path))
        fail(out.option, " '", out.path, "' and ", outputs[k].option, " '", outputs[k].path,
             "' name the same file; give each output its own path");
  }
}

namespace {

// The "format" entry of a safetensors header's __metadata__, reading only the header.
std::string safetensors_format(std::ifstream& in, uint64_t header_len) {
  if (header_len > (100u << 20)) return "";
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  if (!in) return "";
  const nlohmann::json j = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("__metadata__") || !j["__metadata__"].is_object()) return "";
  const auto& m = j["__metadata__"];
  return m.contains("format") && m["format"].is_string() ? m["format"].get<std::string>() : "";
}

}  // namespace

FileKind sniff_file_kind(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return fs::exists(path, ec) ? FileKind::Binary : FileKind::Missing;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec || size == 0) return FileKind::Missing;
  std::ifstream in(path, std::ios::binary);
  if (!in) return FileKind::Binary;
  unsigned char head[9] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const size_t got = static_cast<size_t>(in.gcount());
  static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (got >= 8 && std::memcmp(head, png, 8) == 0) return FileKind::Png;
  if (got == 9 && head[8] == '{') {
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | head[i];
    if (n >= 2 && n <= size - 8) {
      in.clear();
      in.seekg(8);
      const std::string format = safetensors_format(in, n);
      if (format == "loradiff") return FileKind::Model;
      if (format == "loradiff-lora") return FileKind::Adapter;
      if (format == "loradiff-classifier") return FileKind::Classifier;
      if (format == "loradiff-train-state") return FileKind::TrainState;
      if (format == "loradiff-lora-train-state") return FileKind::LoraTrainState;
      return FileKind::Safetensors;
    }
  }
  size_t i = 0;
  while (i < got && std::isspace(head[i])) ++i;
  if (i < got && (head[i] == '{' || head[i] == '[')) return FileKind::Json;
  for (size_t k = 0; k < got; ++k)
    if (head[k] < 0x09 || (head[k] > 0x0d && head[k] < 0x20)) return FileKind::Binary;
  return FileKind::Text;
}

const char* file_kind_name(FileKind kind) {
  switch (kind) {
    case FileKind::Missing:
      return "nothing";
    case FileKind::Png:
      return "a PNG image";
    case FileKind::Json:
      return "a JSON file";
    case FileKind::Text:
      return "a text file";
    case FileKind::Model:
      return "a loradiff model checkpoint";
    case FileKind::Adapter:
      return "a LoRA adapter";
    case FileKind::Classifier:
      return "a classifier checkpoint";
    case FileKind::TrainState:
      return "a `train` resume state";
    case FileKind::LoraTrainState:
      return "a `lora train` resume state";
    case FileKind::Safetensors:
      return "a safetensors file";
    case FileKind::Binary:
      return "a binary file";
  }
  return "a file";
}

void check_output_file(const PathArg& out, FileKind kind, bool overwrite) {
  if (out.path.empty()) return;
  std::error_code ec;
  const fs::path p(out.path);
  if (fs::is_directory(p, ec))
    fail(out.option, " '", out.path, "' is a folder; give the path of the file to write");
  if (fs::exists(p, ec) && !fs::is_regular_file(p, ec))
    fail(out.option, " '", out.path, "' exists and is not a regular file; give the path of a file to write");
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    fail(out.option, " '", out.path, "': the folder '", dir.string(), "' does not exist; create it first");
  if (::access(dir.c_str(), W_OK) != 0)
    fail(out.option, " '", out.path, "': the folder '", dir.string(), "' is not writable (",
         std::strerror(errno), ")");
  const FileKind there = sniff_file_kind(out.path);
  if (overwrite) return;
  if (there != FileKind::Missing && there != kind)
    fail(out.option, " '", out.path, "' already holds ", file_kind_name(there),
         "; refusing to replace it with ", file_kind_name(kind), " (choose another path, or --overwrite)");
  // A checkpoint beside a train state is that run's own (train writes it at every checkpoint).
  if (there == FileKind::Model &&
      sniff_file_kind((dir / "train_state.safetensors").string()) == FileKind::TrainState)
    fail(out.option, " '", out.path, "' is the model of the training run in '", dir.string(),
         "'; refusing to replace another run's file (choose another path, or --overwrite)");
}

void check_output_folder(const PathArg& out) {
  if (out.path.empty()) return;
  std::error_code ec;
  const fs::path p(out.path);
  if (fs::exists(p, ec) && !fs::is_directory(p, ec))
    fail(out.option, " '", out.path, "' is a file, not a folder; give a folder to write into");
  if (fs::is_directory(p, ec)) {
    if (::access(p.c_str(), W_OK) != 0)
      fail(out.option, " '", out.path, "' is not writable (", std::strerror(errno), ")");
    return;
  }
  const fs::path parent = fs::absolute(p, ec).lexically_normal().parent_path();
  if (!fs::is_directory(parent, ec))
    fail(out.option, " '", out.path, "': its parent folder '", parent.string(),
         "' does not exist; create it first");
}

FolderLock::FolderLock(const std::string& dir, const std::string& option) {
  const std::string path = (fs::path(dir) / ".loradiff.lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(option, " '", dir, "': cannot create the lock file '", path, "': ", std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    const ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
    std::string who = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "";
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    ::close(fd_);
    fd_ = -1;
    fail(option, " '", dir, "' is in use by another loradiff process",
         who.empty() ? "" : " (pid " + who + ")", "; wait for it to finish or choose another folder");
  }
  // Who holds it, for the message above (informational: the flock is what counts).
  const std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, me.data(), me.size(), 0) < 0) {
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock; the file stays (removing it would race a new locker)
}

}  // namespace ld
