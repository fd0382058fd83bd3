// tensor/omp_wait.cpp: choosing OpenMP's waiting policy at start-up (see omp_wait.h).
#include "tensor/omp_wait.h"

#include <omp.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "tensor/parallel.h"

namespace ld {

namespace {

constexpr const char* kOursVar = "LORADIFF_OMP_WAIT";  // loradiff's own choice: OmpWaitPlan::mark

std::string spin_description(const std::string& why) {
  return "spin " + std::to_string(kIdleSpin) + ", then sleep (" + why + ")";
}

std::string user_description(const char* policy, const char* spin) {
  std::string d;
  if (policy) d += std::string("OMP_WAIT_POLICY=") + policy;
  if (spin) d += std::string(d.empty() ? "" : ", ") + "GOMP_SPINCOUNT=" + spin;
  return d + " (set by the user)";
}

}  // namespace

OmpWaitPlan plan_omp_wait(const char* user_policy, const char* user_spin, const char* ours, double idle_cpus,
                          int threads) {
  const bool has_policy = user_policy && *user_policy, has_spin = user_spin && *user_spin;
  OmpWaitPlan plan;
  if (ours && *ours && has_policy && std::strcmp(user_policy, "passive") == 0) {
    // set by loradiff before it restarted itself (or inherited from a loradiff parent): report it,
    // unless somebody changed the variables since
    const std::string spin = std::to_string(kIdleSpin), mark = ours;
    if (mark == "spin" && has_spin && spin == user_spin) {
      plan.description = spin_description("idle cores at start");
      return plan;
    }
    if (mark.starts_with("sleep") && !has_spin) {
      plan.description =
          mark == "sleep-unknown" ? "sleep (machine load unknown)" : "sleep (cores busy at start)";
      return plan;
    }
  }
  if (has_policy || has_spin) {
    plan.description = user_description(has_policy ? user_policy : nullptr, has_spin ? user_spin : nullptr);
    return plan;
  }
  plan.set = true;
  plan.policy = "passive";
  if (idle_cpus >= 0 && idle_cpus >= threads - 0.5) {
    plan.spin = std::to_string(kIdleSpin);
    plan.mark = "spin";
    plan.description = spin_description("idle cores at start");
  } else if (idle_cpus < 0) {
    plan.mark = "sleep-unknown";
    plan.description = "sleep (machine load unknown)";
  } else {
    plan.mark = "sleep";
    plan.description = "sleep (cores busy at start)";
  }
  return plan;
}

namespace {

// /proc/stat's "cpuN user nice system idle iowait irq softirq steal ..." lines: per CPU N, the total
// time and the idle + iowait time, in clock ticks.
struct CpuTimes {
  std::vector<long long> total, idle;
};
bool read_cpu_times(CpuTimes& t) {
  std::ifstream f("/proc/stat");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 || !std::isdigit(static_cast<unsigned char>(line[3])))
      continue;
    std::istringstream in(line.substr(3));
    size_t n;
    in >> n;
    long long v, total = 0, idle = 0;
    for (int field = 0; in >> v; ++field) {
      if (field < 8) total += v;  // guest times are already inside user and nice
      if (field == 3 || field == 4) idle += v;
    }
    if (n >= t.total.size()) {
      t.total.resize(n + 1, 0);
      t.idle.resize(n + 1, 0);
    }
    t.total[n] = total;
    t.idle[n] = idle;
  }
  return !t.total.empty();
}

}  // namespace

double idle_cpus(int ms) {
  cpu_set_t mask;
  const bool have_mask = sched_getaffinity(0, sizeof mask, &mask) == 0;
  // this process's own threads count as idle: they are ours to use (OpenBLAS's threads, started when
  // the library loads, spin for a while before they sleep)
  timespec own0, own1;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &own0);
  const auto wall0 = std::chrono::steady_clock::now();
  CpuTimes a, b;
  if (!read_cpu_times(a)) return -1.0;
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  if (!read_cpu_times(b)) return -1.0;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &own1);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double own = (own1.tv_sec - own0.tv_sec) + 1e-9 * (own1.tv_nsec - own0.tv_nsec);
  double idle = wall > 0 ? own / wall : 0.0, cpus = 0.0;
  for (size_t n = 0; n < std::min(a.total.size(), b.total.size()); ++n) {
    if (have_mask && (n >= CPU_SETSIZE || !CPU_ISSET(n, &mask))) continue;
    const long long dt = b.total[n] - a.total[n], di = b.idle[n] - a.idle[n];
    idle += dt > 0 ? static_cast<double>(di) / static_cast<double>(dt) : 1.0;  // no tick: idle
    cpus += 1.0;
  }
  return std::min(idle, cpus);
}

bool prepare_omp_wait() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  const char* ours = std::getenv(kOursVar);
  OmpWaitPlan plan = plan_omp_wait(policy, spin, ours, -1.0, 1);
  if (!plan.set) return false;  // the user's setting, or ours after the restart
  // the choice is ours to make: measure (20-60 ms)
  std::string warning;  // the restarted process reports a bad LORADIFF_NUM_THREADS itself
  int threads = parse_num_threads(std::getenv("LORADIFF_NUM_THREADS"), omp_get_max_threads(),
                                  max_sane_threads(), warning);
  // `mpirun -np N` on one machine: N processes start at once, each with its threads
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"})
    if (const char* v = std::getenv(var); v && std::atoi(v) > 1) {
      threads *= std::atoi(v);
      break;
    }
  // up to three 20 ms looks, until one finds the CPUs idle: a process that has just ended (the run
  // before this one in a script) keeps a CPU busy for a moment while the kernel frees its memory
  double idle = -1.0;
  for (int look = 0; look < 3 && !(idle >= threads - 0.5); ++look) idle = std::max(idle, idle_cpus());
  plan = plan_omp_wait(policy, spin, ours, idle, threads);
  setenv("OMP_WAIT_POLICY", plan.policy.c_str(), 1);
  if (plan.spin.empty())
    unsetenv("GOMP_SPINCOUNT");  // an empty one, which counted as not set
  else
    setenv("GOMP_SPINCOUNT", plan.spin.c_str(), 1);
  setenv(kOursVar, plan.mark.c_str(), 1);
  return true;
}

std::string omp_wait_description() {
  const OmpWaitPlan plan = plan_omp_wait(std::getenv("OMP_WAIT_POLICY"), std::getenv("GOMP_SPINCOUNT"),
                                         std::getenv(kOursVar), -1.0, 1);
  // nothing set: a program that did not go through prepare_omp_wait (a test binary)
  return plan.set ? "OpenMP's default (libgomp: spin 300000, then sleep)" : plan.description;
}

}  // namespace ld
