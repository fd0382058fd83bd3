// tests/apps/cli_run.h: running the `loradiff` binary from a CLI end-to-end test.
#pragma once
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace ld::test {

struct CliResult {
  int rc;              // exit status; -1 when the process died from a signal
  std::string output;  // stdout and stderr together
};

// Runs `LORADIFF_BINARY args` through the shell (args may hold quoted words), bounded by timeout(1);
// `env_args`, when given, are env(1)'s arguments for the run (e.g. "-u OPENBLAS_CORETYPE
// LORADIFF_SIMD=baseline").
inline CliResult run_cli(const std::string& args, const std::string& env_args = "", int timeout_s = 300) {
  const std::string cmd = "timeout " + std::to_string(timeout_s) + " " +
                          (env_args.empty() ? "" : "env " + env_args + " ") + std::string(LORADIFF_BINARY) +
                          " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The same without a shell (arguments may hold spaces and any bytes), killed after `timeout_s`: for
// tests that must tell an exit from a signal, a hang from a slow run.
struct ExecResult {
  bool exited = false;  // false: killed by a signal or by our timeout
  int code = -1;        // exit status, or the signal number
  bool timed_out = false;
  double seconds = 0;
  std::string output;  // stdout and stderr
};

inline ExecResult run_argv(const std::vector<std::string>& args, int timeout_s = 120) {
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::dup2(pipefd[1], 2);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    std::vector<char*> argv{const_cast<char*>(LORADIFF_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(LORADIFF_BINARY, argv.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  ExecResult r;
  const auto deadline = t0 + std::chrono::seconds(timeout_s);
  char buf[4096];
  for (;;) {
    pollfd p{pipefd[0], POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
      if (n <= 0) break;
      r.output.append(buf, static_cast<size_t>(n));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      r.timed_out = true;
      break;
    }
  }
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.exited = WIFEXITED(status) && !r.timed_out;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status);
  return r;
}

}  // namespace ld::test
