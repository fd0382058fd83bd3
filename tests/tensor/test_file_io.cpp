// tensor/file_io: whole-file reads, atomic writes, and the clean-up of temporary files
// that a killed writer leaves behind.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>

#include "tensor/error.h"
#include "tensor/file_io.h"
#include "tensor/interrupt.h"
#include "tests/temp_dir.h"

namespace fs = std::filesystem;
using namespace ld;

namespace {

using ld::test::TempDir;

// The pid of a process that has exited and been reaped: no process has it now (pids are
// reused only after wrapping around).
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

void touch(const fs::path& p) { std::ofstream(p) << "partial"; }

}  // namespace

TEST_CASE("write_file_atomic replaces the whole file and leaves no temporary behind") {
  TempDir tmp("test-file-io");
  const std::string path = (tmp.path / "a.bin").string();
  write_file_atomic(path, "first");
  write_file_atomic(path, std::string("sec\0nd", 6));
  CHECK(read_file(path) == std::string("sec\0nd", 6));
  int files = 0;
  for (auto& e : fs::directory_iterator(tmp.path)) files += e.is_regular_file();
  CHECK(files == 1);
  CHECK_THROWS_WITH_AS(write_file_atomic((tmp.path / "no/such/dir/a.bin").string(), "x"),
                       doctest::Contains("no/such/dir/a.bin"), Error);
  CHECK_THROWS_WITH_AS(read_file((tmp.path / "missing.bin").string()), doctest::Contains("missing.bin"),
                       Error);
  CHECK_THROWS_WITH_AS(read_file(tmp.path.string()), doctest::Contains("is a directory"), Error);
}

TEST_CASE("remove_stale_temp_files removes only a dead writer's temporaries") {
  TempDir tmp("test-file-io");
  const pid_t dead = dead_pid();
  const fs::path stale = tmp.path / ("model.safetensors.tmp-" + std::to_string(dead));
  const fs::path stale_log = tmp.path / ("loss.csv.tmp-" + std::to_string(dead));
  const fs::path mine = tmp.path / ("model.safetensors.tmp-" + std::to_string(::getpid()));
  const fs::path alive = tmp.path / ("model.safetensors.tmp-" + std::to_string(::getppid()));
  const fs::path not_ours = tmp.path / "notes.tmp-abc";
  const fs::path real = tmp.path / "model.safetensors";
  for (const fs::path& p : {stale, stale_log, mine, alive, not_ours, real}) touch(p);

  // a prefix limits the clean-up to one file's temporaries
  std::vector<std::string> removed = remove_stale_temp_files(tmp.path.string(), "model.safetensors.tmp-");
  REQUIRE(removed.size() == 1);
  CHECK(removed[0] == stale.string());
  CHECK(fs::exists(stale_log));
  removed = remove_stale_temp_files(tmp.path.string());
  REQUIRE(removed.size() == 1);
  CHECK(removed[0] == stale_log.string());
  for (const fs::path& p : {mine, alive, not_ours, real}) CHECK(fs::exists(p));
  CHECK(remove_stale_temp_files((tmp.path / "missing").string()).empty());
}

TEST_CASE("write_file_atomic removes its temporary file when a write fails") {
  if (!fs::exists("/dev/full")) return;  // nowhere to inject ENOSPC
  TempDir tmp("test-file-io");
  const std::string path = tmp / "a.bin";
  write_file_atomic(path, "old");
  // the temporary name is a link to /dev/full: opening works, every write fails with ENOSPC
  const fs::path temp = path + ".tmp-" + std::to_string(::getpid());
  fs::create_symlink("/dev/full", temp);
  CHECK_THROWS_WITH_AS(write_file_atomic(path, "new"), doctest::Contains("a.bin"), Error);
  CHECK_FALSE(fs::exists(fs::symlink_status(temp)));
  CHECK(read_file(path) == "old");
  CHECK(registered_temp_files() == 0);
}

TEST_CASE("a second Ctrl-C in the middle of write_file_atomic removes its temporary file") {
  TempDir tmp("test-file-io");
  const std::string path = tmp / "big.bin";
  write_file_atomic(path, "old");
  const pid_t child = ::fork();
  if (child == 0) {
    // The temporary name is a FIFO nobody drains: the write blocks once the pipe is full.
    install_interrupt_handler();
    const std::string fifo = path + ".tmp-" + std::to_string(::getpid());
    if (::mkfifo(fifo.c_str(), 0600) != 0) ::_exit(2);
    try {
      write_file_atomic(path, std::string(1 << 20, 'x'));
    } catch (...) {
    }
    ::_exit(3);  // not reached: the second SIGINT ends the process
  }
  const std::string fifo = path + ".tmp-" + std::to_string(child);
  int fd = -1;
  for (int i = 0; i < 500 && fd < 0; ++i) {  // the child makes the FIFO, then opens it
    fd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
    if (fd < 0) ::usleep(10000);
  }
  REQUIRE(fd >= 0);
  char buf[4096];
  ssize_t got = 0;
  for (int i = 0; i < 500 && got <= 0; ++i) {  // bytes arrive: the child is inside the write
    got = ::read(fd, buf, sizeof buf);
    if (got <= 0) ::usleep(10000);
  }
  CHECK(got > 0);
  ::kill(child, SIGINT);  // the first only asks to stop at a safe point
  ::usleep(200000);
  int status = 0;
  CHECK(::waitpid(child, &status, WNOHANG) == 0);  // still blocked in the write
  ::kill(child, SIGINT);
  ::waitpid(child, &status, 0);
  ::close(fd);
  REQUIRE(WIFSIGNALED(status));  // killed by SIGINT: a shell reports 130
  CHECK(WTERMSIG(status) == SIGINT);
  CHECK_FALSE(fs::exists(fs::symlink_status(fifo)));
  CHECK(read_file(path) == "old");
}

TEST_CASE("read_file refuses a FIFO, /dev/zero and a directory at once, naming the path") {
  TempDir tmp("test-file-io");
  const std::string fifo = tmp / "pipe.safetensors";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  ::alarm(20);  // a reader blocked on the FIFO (no writer) or reading /dev/zero forever dies here
  const std::string fifo_msg = "'" + fifo + "': it is a FIFO (named pipe), not a regular file";
  CHECK_THROWS_WITH_AS(read_file(fifo), doctest::Contains(fifo_msg.c_str()), Error);
  CHECK_THROWS_WITH_AS(InputFile{fifo}, doctest::Contains("not a regular file"), Error);
  CHECK_THROWS_WITH_AS(read_file("/dev/zero"),
                       doctest::Contains("'/dev/zero': it is a character device, not a regular file"), Error);
  CHECK_THROWS_WITH_AS(read_file(tmp.path.string()),
                       doctest::Contains("it is a directory, not a regular file"), Error);
  CHECK_THROWS_WITH_AS(check_regular_file("/dev/null"), doctest::Contains("/dev/null"), Error);
  ::alarm(0);
  // a symbolic link to a regular file is read
  write_file_atomic(tmp / "real.bin", "abc");
  fs::create_symlink(tmp / "real.bin", tmp / "link.bin");
  CHECK(read_file(tmp / "link.bin") == "abc");
  CHECK_NOTHROW(check_regular_file(tmp / "link.bin"));
}

TEST_CASE("InputFile reads exactly the bytes asked for, or names the file") {
  TempDir tmp("test-file-io");
  write_file_atomic(tmp / "f.bin", "0123456789");
  InputFile f(tmp / "f.bin");
  CHECK(f.size() == 10);
  CHECK(f.read_at(2, 3) == "234");
  CHECK(f.read_at(10, 0).empty());
  CHECK_THROWS_WITH_AS(f.read_at(8, 5), doctest::Contains("f.bin': it ended at byte 10, expected 13"), Error);
}
