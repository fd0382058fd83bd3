// dist/communicator.h: the processes of a data-parallel run and the collective operations that
// data-parallel SGD needs (docs/distributed.md): every process starts from the same weights
// (broadcast), computes the gradient of its shard of the batch, and all processes add their
// gradients (all-reduce) before taking the same optimizer step.
//
// Built on MPI (Debian's OpenMPI) when loradiff is configured with LORADIFF_MPI and started by
// `mpirun -np N loradiff ...`; otherwise (or started without mpirun) the run is one process and
// every operation is a no-op. This module knows only float buffers: nothing of tensors' owners.
#pragma once
#include <cstdint>
#include <string>

namespace ld::dist {

// Starts MPI when this process was launched by mpirun (its environment says so); called once by
// main() before anything else. Returns the number of processes.
int init(int& argc, char**& argv);
// Ends MPI cleanly (main(), on success).
void finalize();
// A fatal error on one process ends every process of the run at once (MPI_Abort): the others would
// otherwise wait for it forever. No-op (returns) for one process.
void abort_all(int exit_code);
bool built_with_mpi();

class Communicator {
 public:
  static Communicator& world();
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool primary() const { return rank_ == 0; }  // the process that writes files and prints progress
  // "rank 1 of 3" (for messages); empty for a single process
  std::string who() const;

  // data[i] = sum over processes of their data[i], in place, in buckets of at most `bucket` floats
  // issued together (non-blocking). `what` names the operation in errors. A process that gets no
  // answer for timeout_seconds() (a peer died or hangs) prints one line and stops the run.
  void allreduce_sum(float* data, int64_t n, const std::string& what);
  // data = process 0's data, in place.
  void broadcast(float* data, int64_t n, const std::string& what);

  // What this process has spent in collectives (docs/results.md's measurements).
  struct Stats {
    double seconds = 0;  // wall time inside allreduce_sum / broadcast
    int64_t bytes = 0;   // payload of allreduce_sum (per process)
    int64_t calls = 0;
  };
  Stats stats;
  int64_t bucket = int64_t{1} << 20;  // 4 MB of floats

  // LORADIFF_MPI_TIMEOUT seconds (default 600: long enough for process 0's sample grids and
  // held-out losses, during which the others wait).
  static double timeout_seconds();

  // For the trainers: `--batch` must give every process at least one sample.
  void check_batch(int64_t batch, const std::string& option = "--batch") const;
  // "all-reduce: 12 calls, 13.5 ms and 12.1 MB per step on process 0" (what a parallel run reports).
  std::string summary() const;

 private:
  int rank_ = 0, size_ = 1;
  friend int init(int&, char**&);
};

}  // namespace ld::dist
