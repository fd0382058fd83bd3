// tensor/omp_wait.h: how OpenMP's idle threads wait for the next parallel region.
//
// Every GEMM, convolution and large element-wise op of a step is one OpenMP parallel region, a
// training step of mnist-t2i some hundreds of them. Between two regions the worker threads wait:
//   spinning  they poll for new work: the next region starts at once, but the core stays busy;
//   sleeping  they block in the kernel (futex): the core is free, but waking them costs each region
//             tens of microseconds, more on a virtual machine whose host is busy (measured: a
//             mnist-t2i step 785 ms sleeping, 714 ms spinning, 2 idle cores, docs/tensor.md).
// On a machine shared with other work a spinning thread steals the core that the thread it waits
// for needs (libgomp's default 300,000 spins made a tiny-model step 9x slower under load). So at
// start-up loradiff measures how idle the CPUs it may run on are (20 ms, up to three times when they look
// busy), and chooses:
//
//   the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT  ->  theirs, untouched;
//   idle CPUs >= our threads - 0.5  ->  OMP_WAIT_POLICY=passive with GOMP_SPINCOUNT=kIdleSpin:
//       spin (for a few milliseconds), then sleep;
//   otherwise (the cores are busy)  ->  OMP_WAIT_POLICY=passive: sleep at once.
//
// libgomp reads both variables once, when it is loaded, so apps/main.cpp sets them and restarts
// itself (the same restart as the BLAS kernel's, tensor/blas_kernel.h). `loradiff --version` and
// every bench line say which was chosen.
#pragma once

#include <string>

namespace ld {

// Spins before sleeping when there are idle cores: libgomp's own default length. Measured
// (docs/tensor.md, 2026-12-01, 2 idle cores of a shared virtual machine): against 10,000 spins (the
// value until then) a mnist-t2i training step 0.81-0.90x the time and DDIM sampling 0.88-0.94x,
// against sleeping at once more still; beside one other busy thread that started after loradiff, 1.3x
// slower than 10,000 and 1.5x slower than sleeping (a load present at start-up makes loradiff sleep
// at once instead, below).
inline constexpr long kIdleSpin = 300000;

struct OmpWaitPlan {
  bool set = false;         // true: put policy (and spin, when not empty) into the environment
  std::string policy;       // OMP_WAIT_POLICY value to set ("passive")
  std::string spin;         // GOMP_SPINCOUNT value to set, or "" for none (an empty one is removed)
  std::string mark;         // LORADIFF_OMP_WAIT value to set: "spin", "sleep" or "sleep-unknown"
  std::string description;  // what --version and bench lines report
};

// A pure function of what start-up sees (unit-tested):
//   user_policy, user_spin  OMP_WAIT_POLICY / GOMP_SPINCOUNT from the environment, or nullptr
//   ours                    LORADIFF_OMP_WAIT from the environment (loradiff's mark of its choice, set
//                           before it restarts itself), or nullptr
//   idle_cpus               idle CPUs among those this process may use (< 0: unknown)
//   threads                 OpenMP threads this run uses (all processes of an `mpirun` on this machine)
OmpWaitPlan plan_omp_wait(const char* user_policy, const char* user_spin, const char* ours, double idle_cpus,
                          int threads);

// How many of the CPUs this process may run on (its affinity mask) were idle over `ms` milliseconds,
// from /proc/stat's per-CPU idle and iowait times; -1 when unknown (no /proc).
double idle_cpus(int ms = 20);

// Called first thing in main(): applies plan_omp_wait. Returns true when it has set the environment
// for a restart (the caller re-executes itself).
bool prepare_omp_wait();

// What this process runs with, for --version and bench lines: "spin 300000, then sleep (idle cores at
// start)", "sleep (cores busy at start)", "OMP_WAIT_POLICY=active (set by the user)", ...
std::string omp_wait_description();

}  // namespace ld
