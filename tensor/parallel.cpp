// tensor/parallel.cpp: the thread count (LORADIFF_NUM_THREADS, checked; OpenBLAS kept
// single-threaded).
#include "tensor/parallel.h"

#include <omp.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <string>

#include "tensor/error.h"

extern "C" void openblas_set_num_threads(int);

namespace ld {

int max_sane_threads() { return std::clamp(4 * omp_get_num_procs(), 4, 1024); }

int parse_num_threads(const char* env, int fallback, int max_threads, std::string& warning) {
  warning.clear();
  if (!env) return std::clamp(fallback, 1, max_threads);
  // strtoll, not stoi: no exception, and "12abc", " 12", "1e3" are refused rather than cut short
  errno = 0;
  char* end = nullptr;
  const long long n = std::strtoll(env, &end, 10);
  const bool number = *env >= '0' && *env <= '9' && end && *end == '\0';
  if (!number || n < 1) {
    const int use = std::clamp(fallback, 1, max_threads);
    warning = str_cat("LORADIFF_NUM_THREADS='", std::string(env).substr(0, 40),
                      "' is not a whole number >= 1; using ", use, " threads");
    return use;
  }
  if (errno == ERANGE || n > max_threads) {
    warning =
        str_cat("LORADIFF_NUM_THREADS=", std::string(env).substr(0, 40), " is more than ", max_threads,
                " (4 x the ", omp_get_num_procs(), " hardware threads); using ", max_threads, " threads");
    return max_threads;
  }
  return static_cast<int>(n);
}

namespace {
int init_threads() {
  // OpenBLAS runs single-threaded; loradiff splits large GEMMs over OpenMP threads
  // itself (matmul.cpp), so only one pool of threads ever competes for the cores.
  openblas_set_num_threads(1);
  // A huge count would make OpenMP try to start that many threads (a hang, or a crash when
  // they cannot be created); a typo used to stop the program at its first large op.
  std::string warning;
  const int max_threads = max_sane_threads();
  const char* env = std::getenv("LORADIFF_NUM_THREADS");
  int n = parse_num_threads(env, omp_get_max_threads(), max_threads, warning);
  if (!env && omp_get_max_threads() > max_threads)
    warning = str_cat("OMP_NUM_THREADS asks for ", omp_get_max_threads(), " threads, more than ", max_threads,
                      " (4 x the ", omp_get_num_procs(), " hardware threads); using ", max_threads);
  if (!warning.empty()) std::cerr << "loradiff: warning: " << warning << "\n";
  omp_set_num_threads(n);
  return n;
}
int g_threads = -1;
}  // namespace

int num_threads() {
  if (g_threads < 0) g_threads = init_threads();
  return g_threads;
}

void set_num_threads(int n) {
  if (n < 1) fail("set_num_threads: ", n, " is not a positive thread count");
  num_threads();  // initialise (OpenBLAS to one thread) first
  g_threads = n;
  omp_set_num_threads(n);
}

}  // namespace ld
