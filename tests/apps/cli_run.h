// tests/apps/cli_run.h: running the `loradiff` binary from a CLI end-to-end test.
#pragma once
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace ld::test {

struct CliResult {
  int rc;              // exit status; -1 when the process died from a signal
  std::string output;  // stdout and stderr together
};

// Runs `LORADIFF_BINARY args` through the shell (args may hold quoted words); `env_args`, when given,
// are env(1)'s arguments for the run (e.g. "-u OPENBLAS_CORETYPE LORADIFF_SIMD=baseline").
inline CliResult run_cli(const std::string& args, const std::string& env_args = "") {
  const std::string cmd =
      (env_args.empty() ? "" : "env " + env_args + " ") + std::string(LORADIFF_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace ld::test
