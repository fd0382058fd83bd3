// dist/communicator.cpp: MPI behind dist/communicator.h, or a single process without it.
// Collectives are non-blocking (MPI_Iallreduce, MPI_Ibcast) and waited for by polling MPI_Test
// with short sleeps: a waiting process leaves its core to the others (a blocking MPI call
// spins), and a peer that never answers is noticed (the watchdog of timeout_seconds()).
#include "dist/communicator.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "tensor/error.h"

#ifdef LORADIFF_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only (no deprecated C++ bindings)
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace ld::dist {

Communicator& Communicator::world() {
  static Communicator c;
  return c;
}

std::string Communicator::who() const {
  return size_ > 1 ? "rank " + std::to_string(rank_) + " of " + std::to_string(size_) : std::string();
}

double Communicator::timeout_seconds() {
  const char* v = std::getenv("LORADIFF_MPI_TIMEOUT");
  if (!v || !*v) return 600.0;
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  if (end == v || *end || !(s > 0))
    fail("LORADIFF_MPI_TIMEOUT: '", v, "' is not a positive number of seconds");
  return s;
}

void Communicator::check_batch(int64_t batch, const std::string& option) const {
  if (batch < size_)
    fail(option, ": ", batch, " samples cannot be split over ", size_, " processes; use ", option,
         " >= ", size_);
}

std::string Communicator::summary() const {
  const double calls = static_cast<double>(std::max<int64_t>(1, stats.calls));
  char line[160];
  std::snprintf(line, sizeof line, "all-reduce: %lld calls, %.3g ms and %.3g MB per step on process 0",
                static_cast<long long>(stats.calls), 1e3 * stats.seconds / calls,
                static_cast<double>(stats.bytes) / calls / 1e6);
  return line;
}

bool built_with_mpi() {
#ifdef LORADIFF_HAVE_MPI
  return true;
#else
  return false;
#endif
}

#ifdef LORADIFF_HAVE_MPI

namespace {

bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

bool g_mpi = false;

void check(int rc, const std::string& what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fail("MPI: ", what, " failed: ", std::string(text, static_cast<size_t>(len)));
}

// Waits for every request, polling; after timeout_seconds() without completion the run is stopped.
void wait_all(std::vector<MPI_Request>& reqs, const std::string& what) {
  const auto t0 = std::chrono::steady_clock::now();
  const double limit = Communicator::timeout_seconds();
  int spins = 0;
  for (;;) {
    int done = 0;
    check(MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE), what);
    if (done) return;
    // yield at first (a reduction takes micro- to milliseconds), then sleep
    if (++spins < 1000)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (waited > limit) {
      const Communicator& c = Communicator::world();
      // (stderr itself: the other processes' std::cerr is silenced, apps/main.cpp)
      std::fprintf(stderr,
                   "loradiff (%s): error: no answer from the other processes for %g s in %s (one stopped or "
                   "hangs; LORADIFF_MPI_TIMEOUT sets the limit); stopping every process of the run\n",
                   c.who().c_str(), limit, what.c_str());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
}

}  // namespace

int init(int& argc, char**& argv) {
  Communicator& c = Communicator::world();
  if (!launched_by_mpirun()) return 1;
  int provided = 0;
  // Only the main thread calls MPI (OpenMP threads never do).
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    std::fprintf(stderr, "loradiff: error: MPI_Init failed (started by mpirun, but MPI could not start)\n");
    std::exit(1);
  }
  g_mpi = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);  // errors become messages, not aborts
  MPI_Comm_rank(MPI_COMM_WORLD, &c.rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &c.size_);
  return c.size_;
}

void finalize() {
  if (g_mpi) MPI_Finalize();
  g_mpi = false;
}

void abort_all(int exit_code) {
  if (g_mpi && Communicator::world().size() > 1) MPI_Abort(MPI_COMM_WORLD, exit_code);
}

namespace {

// Issues `issue(pointer, count, request)` for every bucket of data[0, n), then waits for them all.
template <class Issue>
double bucketed(float* data, int64_t n, int64_t bucket, const std::string& what, Issue&& issue) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<MPI_Request> reqs;
  for (int64_t i = 0; i < n; i += bucket) {
    reqs.emplace_back();
    check(issue(data + i, static_cast<int>(std::min(bucket, n - i)), &reqs.back()), what);
  }
  wait_all(reqs, what);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

void Communicator::allreduce_sum(float* data, int64_t n, const std::string& what) {
  if (size_ == 1 || n == 0) return;
  stats.seconds += bucketed(data, n, bucket, what, [](float* p, int count, MPI_Request* r) {
    return MPI_Iallreduce(MPI_IN_PLACE, p, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, r);
  });
  stats.bytes += n * static_cast<int64_t>(sizeof(float));
  ++stats.calls;
}

void Communicator::broadcast(float* data, int64_t n, const std::string& what) {
  if (size_ == 1 || n == 0) return;
  stats.seconds += bucketed(data, n, bucket, what, [](float* p, int count, MPI_Request* r) {
    return MPI_Ibcast(p, count, MPI_FLOAT, 0, MPI_COMM_WORLD, r);
  });
}

#else  // built without MPI: always one process

int init(int&, char**&) { return 1; }
void finalize() {}
void abort_all(int) {}
void Communicator::allreduce_sum(float*, int64_t, const std::string&) {}
void Communicator::broadcast(float*, int64_t, const std::string&) {}

#endif

}  // namespace ld::dist
