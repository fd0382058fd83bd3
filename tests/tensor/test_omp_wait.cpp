// tests/tensor/test_omp_wait.cpp: the start-up choice of how OpenMP's idle threads wait
// (tensor/omp_wait.h): a short spin on idle cores, sleeping on busy ones, the user's setting kept.
#include <doctest/doctest.h>

#include <string>

#include "tensor/omp_wait.h"

using ld::kIdleSpin;
using ld::plan_omp_wait;

TEST_CASE("nothing set: a short spin when enough CPUs are idle for our threads, else sleep") {
  const std::string spin = std::to_string(kIdleSpin);
  auto p = plan_omp_wait(nullptr, nullptr, nullptr, 2.0, 2);  // 2 idle CPUs, 2 threads
  CHECK(p.set);
  CHECK(p.policy == "passive");
  CHECK(p.spin == spin);
  CHECK(p.description == "spin " + spin + ", then sleep (idle cores at start)");
  CHECK(p.mark == "spin");
  CHECK(plan_omp_wait(nullptr, nullptr, nullptr, 1.6, 2).spin == spin);  // tick noise tolerated
  // one other busy thread on 2 CPUs: sleep at once
  p = plan_omp_wait(nullptr, nullptr, nullptr, 1.0, 2);
  CHECK(p.set);
  CHECK(p.policy == "passive");
  CHECK(p.spin.empty());
  CHECK(p.description == "sleep (cores busy at start)");
  CHECK(p.mark == "sleep");
  CHECK(plan_omp_wait(nullptr, nullptr, nullptr, 1.0, 1).spin == spin);   // 1 thread needs 1 CPU
  CHECK(plan_omp_wait(nullptr, nullptr, nullptr, 7.9, 16).spin.empty());  // 2 mpirun processes x 8
  // unknown load (no /proc): the safe choice
  p = plan_omp_wait(nullptr, nullptr, nullptr, -1.0, 2);
  CHECK(p.set);
  CHECK(p.spin.empty());
  CHECK(p.description == "sleep (machine load unknown)");
  CHECK(p.mark == "sleep-unknown");
  // empty values count as not set
  CHECK(plan_omp_wait("", "", "", 2.0, 2).set);
}

TEST_CASE("the user's OMP_WAIT_POLICY or GOMP_SPINCOUNT is kept as it is, and reported") {
  auto p = plan_omp_wait("active", nullptr, nullptr, 2.0, 2);
  CHECK_FALSE(p.set);
  CHECK(p.description == "OMP_WAIT_POLICY=active (set by the user)");
  p = plan_omp_wait(nullptr, "5000", nullptr, 0.0, 2);
  CHECK_FALSE(p.set);
  CHECK(p.description == "GOMP_SPINCOUNT=5000 (set by the user)");
  p = plan_omp_wait("passive", "5000", nullptr, 0.0, 2);
  CHECK_FALSE(p.set);
  CHECK(p.description == "OMP_WAIT_POLICY=passive, GOMP_SPINCOUNT=5000 (set by the user)");
}

TEST_CASE("after the restart loradiff's own choice is recognised, not taken for the user's") {
  const std::string spin = std::to_string(kIdleSpin);
  auto p = plan_omp_wait("passive", spin.c_str(), "spin", -1.0, 2);
  CHECK_FALSE(p.set);  // no second restart
  CHECK(p.description == "spin " + spin + ", then sleep (idle cores at start)");
  p = plan_omp_wait("passive", nullptr, "sleep", -1.0, 2);
  CHECK_FALSE(p.set);
  CHECK(p.description == "sleep (cores busy at start)");
  p = plan_omp_wait("passive", nullptr, "sleep-unknown", -1.0, 2);
  CHECK_FALSE(p.set);
  CHECK(p.description == "sleep (machine load unknown)");
  // loradiff's mark without the variables it set (inherited, or one removed since): choose again
  p = plan_omp_wait(nullptr, nullptr, "spin", 2.0, 2);
  CHECK(p.set);
  CHECK(p.mark == "spin");
  // somebody changed a variable after loradiff set it: that is the user's setting now
  p = plan_omp_wait("active", nullptr, "sleep", -1.0, 2);
  CHECK_FALSE(p.set);
  CHECK(p.description == "OMP_WAIT_POLICY=active (set by the user)");
  p = plan_omp_wait("passive", "123", "spin", -1.0, 2);
  CHECK_FALSE(p.set);
  CHECK(p.description == "OMP_WAIT_POLICY=passive, GOMP_SPINCOUNT=123 (set by the user)");
}

TEST_CASE("idle_cpus measures a number between 0 and the CPUs this process may use") {
  const double idle = ld::idle_cpus(20);
  if (idle < 0) {
    MESSAGE("skipped: no /proc/stat here");
    return;
  }
  CHECK(idle >= 0.0);
  CHECK(idle <= 4096.0);
}
