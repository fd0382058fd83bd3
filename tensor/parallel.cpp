#include "tensor/parallel.h"

#include <omp.h>

#include <cstdlib>
#include <string>

#include "tensor/error.h"

extern "C" void openblas_set_num_threads(int);

namespace ld {
namespace {
int init_threads() {
  // OpenBLAS runs single-threaded; loradiff splits large GEMMs over OpenMP threads
  // itself (matmul.cpp), so only one pool of threads ever competes for the cores.
  openblas_set_num_threads(1);
  if (const char* env = std::getenv("LORADIFF_NUM_THREADS")) {
    int n = 0;
    try {
      n = std::stoi(env);
    } catch (...) {
    }
    if (n < 1) fail("LORADIFF_NUM_THREADS='", env, "' is not a positive integer");
    omp_set_num_threads(n);
    return n;
  }
  return omp_get_max_threads();
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
