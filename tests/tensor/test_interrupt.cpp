// tensor/interrupt: Ctrl-C sets a flag that loops poll, a second one (or the first, for commands
// that never poll) removes the registered temporary files and ends the process by the signal
// (status 128 + signal in a shell). The exits are checked in forked children.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "tensor/interrupt.h"
#include "tests/temp_dir.h"

namespace fs = std::filesystem;
using namespace ld;

namespace {

// Runs body in a forked child; returns its status as a shell reports it (128 + signal when a
// signal ended it).
template <class F>
int in_child(F body) {
  const pid_t child = ::fork();
  if (child == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("the first SIGINT sets the flag; throw_if_interrupted throws ld::Interrupted") {
  install_interrupt_handler();
  clear_interrupt();
  CHECK_FALSE(interrupt_requested());
  CHECK_NOTHROW(throw_if_interrupted());
  bool ran = false;
  CHECK(run_unless_interrupted([&] { ran = true; }));
  CHECK(ran);

  ::raise(SIGINT);  // the process goes on
  CHECK(interrupt_requested());
  CHECK(interrupt_signal() == SIGINT);
  CHECK(interrupt_exit_status() == 130);
  CHECK_THROWS_AS(throw_if_interrupted(), Interrupted);
  ran = false;
  CHECK_FALSE(run_unless_interrupted([&] { ran = true; }));  // not even started
  CHECK_FALSE(ran);
  clear_interrupt();
  CHECK(run_unless_interrupted([] { throw_if_interrupted(); }));
  CHECK_FALSE(run_unless_interrupted([] {
    ::raise(SIGINT);
    throw_if_interrupted();  // a loop inside f notices it: f is abandoned
    FAIL("not reached");
  }));
  clear_interrupt();
}

TEST_CASE("ld::Interrupted is not an ld::Error, so error handlers do not swallow it") {
  CHECK_FALSE(std::is_base_of_v<std::runtime_error, Interrupted>);
  install_interrupt_handler();  // doctest puts its own handlers back for every test case
  clear_interrupt();
  ::raise(SIGINT);
  bool as_error = false, as_interrupt = false;
  try {
    try {
      throw_if_interrupted();
    } catch (const std::runtime_error&) {
      as_error = true;
    }
  } catch (const Interrupted&) {
    as_interrupt = true;
  }
  CHECK_FALSE(as_error);
  CHECK(as_interrupt);
  clear_interrupt();
}

TEST_CASE("SIGTERM is handled like SIGINT, with status 143") {
  install_interrupt_handler();
  clear_interrupt();
  ::raise(SIGTERM);
  CHECK(interrupt_signal() == SIGTERM);
  CHECK(interrupt_exit_status() == 143);
  clear_interrupt();
}

TEST_CASE("a second SIGINT removes the registered temporary files and ends the process (130)") {
  ld::test::TempDir tmp("test-interrupt");
  const std::string partial = tmp / "model.safetensors.tmp-1", done = tmp / "loss.csv.tmp-1";
  const int status = in_child([&] {
    install_interrupt_handler();
    clear_interrupt();
    TempFile a(partial), b(done);
    std::ofstream(partial) << "half";
    std::ofstream(done) << "renamed";  // stands for a file already renamed into place
    b.keep();
    ::raise(SIGINT);
    if (!interrupt_requested()) ::_exit(2);
    ::raise(SIGINT);
    ::_exit(3);  // not reached
  });
  CHECK(status == 130);
  CHECK_FALSE(fs::exists(partial));
  CHECK_FALSE(fs::exists(done));  // still registered: the handler unlinks every registered path
}

TEST_CASE("QuitNow: the first signal removes the temporary files and ends the process") {
  ld::test::TempDir tmp("test-interrupt");
  const std::string partial = tmp / "a.png.tmp-1";
  for (int sig : {SIGINT, SIGTERM}) {
    const int status = in_child([&] {
      install_interrupt_handler(InterruptMode::QuitNow);
      clear_interrupt();
      TempFile a(partial);
      std::ofstream(partial) << "half";
      ::raise(sig);
      ::_exit(3);  // not reached
    });
    CHECK(status == 128 + sig);
    CHECK_FALSE(fs::exists(partial));
  }
}

TEST_CASE("TempFile removes its file on the way out unless kept, and unregisters it") {
  ld::test::TempDir tmp("test-interrupt");
  const int before = registered_temp_files();
  CHECK(before == 0);
  {
    TempFile t(tmp / "x.tmp-1");
    std::ofstream(t.path()) << "x";
    CHECK(registered_temp_files() == before + 1);
  }
  CHECK_FALSE(fs::exists(tmp / "x.tmp-1"));
  CHECK(registered_temp_files() == before);
  {
    TempFile t(tmp / "y");
    std::ofstream(t.path()) << "y";
    t.keep();
  }
  CHECK(fs::exists(tmp / "y"));
  CHECK(registered_temp_files() == before);
  // more than the handler's table holds: the extra ones are still removed by their destructors
  const auto name = [&](int i) { return (tmp.path / "m").string() + std::to_string(i); };
  {
    std::vector<std::unique_ptr<TempFile>> many;
    for (int i = 0; i < kMaxTempFiles + 4; ++i) {
      many.push_back(std::make_unique<TempFile>(name(i)));
      std::ofstream(many.back()->path()) << i;
    }
    CHECK(registered_temp_files() == kMaxTempFiles);
  }
  for (int i = 0; i < kMaxTempFiles + 4; ++i) CHECK_FALSE(fs::exists(name(i)));
  CHECK(registered_temp_files() == 0);
}
