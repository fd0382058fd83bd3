// tensor/error.h: the one error type of loradiff.
// Every bad call throws ld::Error with a message that names the operation and
// what was wrong, e.g. "matmul: (2,3) @ (4,5): inner dimensions 3 and 4 differ".
#pragma once
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>

namespace ld {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// str_cat("a", 1, 'b') == "a1b"
template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream s;
  (s << ... << args);
  return s.str();
}

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(str_cat(args...));
}

// One line on stderr about a bad value of an environment knob read before main (LORADIFF_SIMD,
// LORADIFF_KERNELS): said once, not again by the process loradiff restarts itself as (apps/main.cpp),
// which inherits the environment and with it the mark LORADIFF_WARNED_<knob>.
inline void warn_knob_once(const char* knob, const std::string& line) {
  const std::string mark = std::string("LORADIFF_WARNED_") + knob;
  if (std::getenv(mark.c_str())) return;
  std::fprintf(stderr, "loradiff: %s\n", line.c_str());
  setenv(mark.c_str(), "1", 1);
}

}  // namespace ld

// LD_CHECK(cond, message parts...): throw ld::Error when cond is false.
#define LD_CHECK(cond, ...) \
  do {                      \
    if (!(cond)) ::ld::fail(__VA_ARGS__); \
  } while (0)
