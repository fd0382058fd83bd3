// tensor/file_batch.cpp: see file_batch.h.
#include "tensor/file_batch.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "tensor/error.h"
#include "tensor/interrupt.h"

namespace ld {

void write_files_atomic(const std::vector<std::pair<std::string, std::string>>& files) {
  namespace fs = std::filesystem;
  // every temporary of a group is registered for Ctrl-C removal at once (tensor/interrupt.h)
  constexpr size_t kGroup = kMaxTempFiles / 2;
  for (size_t g = 0; g < files.size(); g += kGroup) {
    const size_t end = std::min(files.size(), g + kGroup);
    std::vector<std::unique_ptr<TempFile>> guards;
    std::vector<std::string> dirs;
    for (size_t i = g; i < end; ++i) {
      const std::string& path = files[i].first;
      const std::string_view bytes = files[i].second;
      std::error_code ec;
      if (fs::is_directory(path, ec))
        fail("cannot write '", path, "': it is a directory, expected a file path");
      const fs::path target(path);
      const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
      if (!fs::is_directory(dir, ec)) fail("cannot write '", path, "': folder '", dir, "' does not exist");
      if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
      guards.push_back(std::make_unique<TempFile>(path + ".tmp-" + std::to_string(::getpid())));
      const int fd = ::open(guards.back()->path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) fail("cannot write '", path, "': ", std::strerror(errno));
      size_t done = 0;
      while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          const int err = errno;
          ::close(fd);
          fail("cannot write '", path, "': ", std::strerror(err),
               " (the previous file, if any, is unchanged)");
        }
        done += static_cast<size_t>(n);
      }
      if (::close(fd) != 0)
        fail("cannot write '", path, "': ", std::strerror(errno),
             " (the previous file, if any, is unchanged)");
    }
    // one sync of the file system (it reports write-back errors since Linux 5.8) instead of one fsync
    // per file: every temporary is on disk before any of them is renamed into place
    const int sfd = ::open(dirs[0].c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const bool synced = sfd >= 0 && ::syncfs(sfd) == 0;
    const int err = errno;
    if (sfd >= 0) ::close(sfd);
    if (!synced)
      fail("cannot write '", files[g].first, "': ", std::strerror(err),
           " (the previous file, if any, is unchanged)");
    for (size_t i = g; i < end; ++i) {
      if (::rename(guards[i - g]->path().c_str(), files[i].first.c_str()) != 0)
        fail("cannot write '", files[i].first, "': rename failed: ", std::strerror(errno));
      guards[i - g]->keep();
    }
    for (const std::string& dir : dirs) {  // make the renames durable
      const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
      }
    }
  }
}

}  // namespace ld
