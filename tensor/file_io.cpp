// tensor/file_io.cpp: whole-file reads with clear errors and atomic writes (temporary file, fsync,
// rename), shared by every format loradiff writes.
#include "tensor/file_io.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tensor/error.h"
#include "tensor/interrupt.h"

namespace ld {

namespace {

// "a FIFO (named pipe)", ...: what a non-regular file is, for messages.
const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

[[noreturn]] void not_regular(const std::string& path, mode_t mode) {
  fail("cannot read '", path, "': it is ", file_kind(mode), ", not a regular file");
}

}  // namespace

void check_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail("cannot read '", path, "': ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) not_regular(path, st.st_mode);
}

InputFile::InputFile(const std::string& path) : path_(path) {
  check_regular_file(path);  // a FIFO is not even opened: opening one can block
  // O_NONBLOCK: should the path be swapped for a FIFO after the check, open returns at once;
  // fstat below then refuses it.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd_ < 0) fail("cannot read '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = errno;
    const mode_t mode = st.st_mode;
    ::close(fd_);
    if (mode == 0) fail("cannot read '", path, "': ", std::strerror(err));
    not_regular(path, mode);
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string InputFile::read_at(uint64_t offset, uint64_t n) const {
  std::string out(n, '\0');
  uint64_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd_, out.data() + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      fail("cannot read '", path_, "': ", std::strerror(errno));
    }
    if (got == 0)
      fail("cannot read '", path_, "': it ended at byte ", offset + done, ", expected ", offset + n,
           " (was it truncated while being read?)");
    done += static_cast<uint64_t>(got);
  }
  return out;
}

std::string read_file(const std::string& path) {
  InputFile f(path);
  return f.read_at(0, f.size());
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  fs::path target(path);
  std::error_code ec;
  if (fs::is_directory(target, ec))
    fail("cannot write '", path, "': it is a directory, expected a file path");
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    fail("cannot write '", path, "': folder '", dir.string(), "' does not exist");
  // Registered before it exists, so a second Ctrl-C at any moment removes it; the guard removes
  // it on every other way out (errors, exceptions) unless it was renamed into place.
  TempFile guard(path + ".tmp-" + std::to_string(::getpid()));
  const std::string& tmp = guard.path();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot write '", path, "': ", std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      fail("cannot write '", path, "': ", std::strerror(err), " (the previous file, if any, is unchanged)");
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  int err = errno;
  const bool closed = ::close(fd) == 0;  // always close, even when fsync failed
  if (!synced || !closed) {
    if (synced) err = errno;
    fail("cannot write '", path, "': ", std::strerror(err), " (the previous file, if any, is unchanged)");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    fail("cannot write '", path, "': rename failed: ", std::strerror(err));
  }
  guard.keep();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // make the rename itself durable
    ::close(dfd);
  }
}

std::vector<std::string> remove_stale_temp_files(const std::string& folder, const std::string& prefix) {
  namespace fs = std::filesystem;
  std::vector<std::string> removed;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t at = name.rfind(".tmp-");
    if (at == std::string::npos || at + 5 == name.size() || name.rfind(prefix, 0) != 0) continue;
    const std::string digits = name.substr(at + 5);
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // ours, or alive
    std::error_code rm;
    if (it->is_regular_file(rm) && fs::remove(it->path(), rm)) removed.push_back(it->path().string());
  }
  return removed;
}

}  // namespace ld
